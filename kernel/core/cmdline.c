/*
 * cmdline.c — the kernel command line (docs/protocol.md): words separated by
 * spaces, each `key=value` or a bare `key`. Unknown keys are logged once and kept.
 */
#include <hal/hal.h>
#include <kernel/cmdline.h>
#include <kernel/errno.h>
#include <kernel/log.h>
#include <kernel/string.h>

#define MAX_WORDS 64

static char line[BOOT_CMDLINE_MAX];
static char words[BOOT_CMDLINE_MAX];   /* NUL-separated copy */
static const char *keys[MAX_WORDS];
static const char *vals[MAX_WORDS];
static unsigned nwords;

/* Keys the kernel understands; a glob ("ktest") or a subsystem prefix ("pci.") */
static const char *const known[] = {
	"ktest", "expect.cpus", "acpi.dump", "selftest.panic", "selftest.fault",
	/* interrupts and SMP, docs/smp.md */
	"smp.max_cpus", "smp.nosmp", "apic.xapic", "time.hz", "bench", "stress.seconds",
	"time.tsc_khz", "time.lapic_khz", "pci.dump", "pci.mcfg", "pci.irq", "end",
	"smp.parallel",
	/* IOMMU and DMA, docs/iommu.md */
	"iommu", "iommu.qi", "dma.policy", "dma.bounce_kib", "dma.flush",
	/* drivers (`<name>=off`, kernel/include/kernel/driver.h), docs/nvme.md, docs/ahci.md */
	"nvme", "nvme.poll", "nvme.queues", "nvme.irq", "nvme.timeout_ms",
	"ahci", "ahci.ncq", "ahci.irq", "ahci.timeout_ms",
	/* the I/O workload and block benchmarks, docs/block.md */
	"io", "io.dev", "io.seconds", "io.qd", "io.bs", "io.mix", "io.seed", "io.blocks",
	"bench.dev", "bench.seconds", "bench.blocks",
	/* lock-order checking and lock statistics, docs/locks.md */
	"lockdep", "lockdep.stats",
};

/* Key families with a per-object suffix: `dma.policy.SSSS:BB:DD.F`, `dma.flush.SSSS:BB:DD.F`
 * (docs/iommu.md, docs/dma.md). */
static const char *const known_prefixes[] = { "dma.policy.", "dma.flush." };

static int is_known(const char *k)
{
	for (unsigned i = 0; i < sizeof known_prefixes / sizeof known_prefixes[0]; i++)
		if (kstrncmp(known_prefixes[i], k, kstrlen(known_prefixes[i])) == 0 && k[kstrlen(known_prefixes[i])])
			return 1;
	for (unsigned i = 0; i < sizeof known / sizeof known[0]; i++)
		if (kstrcmp(known[i], k) == 0)
			return 1;
	return 0;
}

void cmdline_init(const char *src)
{
	kstrlcpy(line, src ? src : "", sizeof line);
	kstrlcpy(words, line, sizeof words);
	nwords = 0;
	char *p = words;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (!*p)
			break;
		char *w = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (*p)
			*p++ = '\0';
		if (nwords == MAX_WORDS) {
			klog("cmdline", "more than %d words; '%s' and later ignored", MAX_WORDS, w);
			break;
		}
		char *eq = kstrchr(w, '=');
		keys[nwords] = w;
		vals[nwords] = "";
		if (eq) {
			*eq = '\0';
			vals[nwords] = eq + 1;
		}
		if (!is_known(w))
			klog("cmdline", "unknown option '%s' ignored", w);
		nwords++;
	}
}

const char *cmdline_raw(void)
{
	return line;
}

const char *cmdline_get(const char *key)
{
	const char *v = 0;
	for (unsigned i = 0; i < nwords; i++)  /* the last occurrence wins, as in Linux */
		if (kstrcmp(keys[i], key) == 0)
			v = vals[i];
	return v;
}

bool cmdline_has(const char *key)
{
	return cmdline_get(key) != 0;
}

int cmdline_get_u64(const char *key, uint64_t *out)
{
	const char *v = cmdline_get(key);
	unsigned long long x;
	if (!v)
		return -ENOENT;
	if (kstrtou64(v, &x) != 0) {
		klog("cmdline", "%s=%s is not a number (want decimal or 0x hex)", key, v);
		return -EINVAL;
	}
	*out = x;
	return 0;
}
