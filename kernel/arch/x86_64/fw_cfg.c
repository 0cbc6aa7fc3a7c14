/*
 * fw_cfg.c — reads the extra kernel command line QEMU offers through fw_cfg
 * (`-fw_cfg name=opt/doppel/cmdline,string=...`), so one ISO serves every run.
 * QEMU docs/specs/fw_cfg.rst: legacy I/O interface (selector 0x510, 16-bit; data
 * 0x511, 8-bit), signature key 0x0000 ("QEMU"), file directory key 0x0019.
 * On a machine without fw_cfg the ports read as 0xFF, the signature check fails
 * and nothing is appended.
 */
#include <stddef.h>
#include <stdint.h>

#include "kernel/errno.h"
#include "x86.h"

#define FW_CFG_PORT_SEL   0x510
#define FW_CFG_PORT_DATA  0x511
#define FW_CFG_SIGNATURE  0x0000
#define FW_CFG_FILE_DIR   0x0019
#define FW_CFG_MAX_FILES  4096         /* sanity bound; QEMU has a few dozen */
#define DOPPEL_CMDLINE_FILE "opt/doppel/cmdline"

struct fw_cfg_file {                   /* fw_cfg.rst "File Directory", big-endian */
	uint32_t size_be;
	uint16_t select_be;
	uint16_t rsvd0;
	char name[56];                     /* NUL-terminated */
};
_Static_assert(sizeof(struct fw_cfg_file) == 64, "fw_cfg.rst FWCfgFile");

static void fw_cfg_select(uint16_t key)
{
	x86_outw(FW_CFG_PORT_SEL, key);
}

/* Each read of the data port returns the next byte of the selected item. */
static void fw_cfg_read(void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = x86_inb(FW_CFG_PORT_DATA);
}

static uint32_t be32(uint32_t v)
{
	return __builtin_bswap32(v);
}

static int names_equal(const char *a, const char *b, size_t max)
{
	for (size_t i = 0; i < max; i++) {
		if (a[i] != b[i])
			return 0;
		if (a[i] == '\0')
			return 1;
	}
	return 0;
}

/* Find a file in the directory: 0 with its selector and size, -ENOENT if absent,
 * -EPROTO if the directory is implausible (logged). */
static int fw_cfg_find(const char *name, uint16_t *select, uint32_t *size)
{
	uint32_t count;

	fw_cfg_select(FW_CFG_FILE_DIR);
	fw_cfg_read(&count, sizeof(count));
	count = be32(count);
	if (count > FW_CFG_MAX_FILES) {
		struct x86_line l = { .len = 0 };

		x86_line_str(&l, "x86: fw_cfg directory claims ");
		x86_line_dec(&l, count);
		x86_line_str(&l, " files; ignoring fw_cfg");
		x86_line_end(&l);
		return -EPROTO;
	}
	for (uint32_t i = 0; i < count; i++) {
		struct fw_cfg_file f;

		fw_cfg_read(&f, sizeof(f));
		if (names_equal(f.name, name, sizeof(f.name))) {
			*select = __builtin_bswap16(f.select_be);
			*size = be32(f.size_be);
			return 0;
		}
	}
	return -ENOENT;
}

/*
 * Append the words of opt/doppel/cmdline after what is in `cmdline` (size
 * bytes, NUL-terminated), separated by one space. Control characters become
 * spaces and the value ends at its first NUL; what does not fit is dropped with
 * a log line.
 */
void x86_fw_cfg_append_cmdline(char *cmdline, size_t size)
{
	char sig[4];
	uint16_t select;
	uint32_t len;
	size_t pos = 0;

	fw_cfg_select(FW_CFG_SIGNATURE);
	fw_cfg_read(sig, sizeof(sig));
	if (sig[0] != 'Q' || sig[1] != 'E' || sig[2] != 'M' || sig[3] != 'U')
		return;                        /* no fw_cfg: not QEMU, nothing to add */
	if (fw_cfg_find(DOPPEL_CMDLINE_FILE, &select, &len) < 0)
		return;

	while (pos < size && cmdline[pos])
		pos++;
	if (pos >= size)                   /* caller's string was not terminated */
		return;
	if (pos > 0 && pos + 1 < size && len > 0)
		cmdline[pos++] = ' ';

	fw_cfg_select(select);
	for (uint32_t i = 0; i < len; i++) {
		char ch;

		fw_cfg_read(&ch, 1);
		if (ch == '\0')
			break;
		if (pos + 1 >= size) {
			struct x86_line l = { .len = 0 };

			x86_line_str(&l, "x86: fw_cfg " DOPPEL_CMDLINE_FILE " is ");
			x86_line_dec(&l, len);
			x86_line_str(&l, " bytes; command line truncated at ");
			x86_line_dec(&l, size - 1);
			x86_line_end(&l);
			break;
		}
		cmdline[pos++] = ((unsigned char)ch < 0x20 || ch == 0x7F) ? ' ' : ch;
	}
	while (pos > 0 && cmdline[pos - 1] == ' ')
		pos--;                         /* no trailing separator if the file was empty */
	cmdline[pos] = '\0';
}
