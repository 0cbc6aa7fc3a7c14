/*
 * options.c — doppel-sim's command line: the machine description (CPUs, memory,
 * APIC IDs, ACPI shape and faults), the seed, and the kernel command line.
 * Every rejected option gets one message naming it, the bad value and what is
 * allowed, and exit code 64 (sysexits EX_USAGE). docs/sim.md lists the options.
 */
#include "sim.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "acpi/acpi_gen.h"
#include "rng.h"

enum {
	OPT_CPUS = 0x100, OPT_MEM, OPT_SEED, OPT_APIC_IDS, OPT_ACPI_BREAK, OPT_ACPI_REV,
	OPT_RSDP, OPT_CMDLINE, OPT_CONSOLE, OPT_DUMP_ACPI, OPT_HELP,
};

static const struct option long_opts[] = {
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "apic-ids", required_argument, NULL, OPT_APIC_IDS },
	{ "acpi-break", required_argument, NULL, OPT_ACPI_BREAK },
	{ "acpi-rev", required_argument, NULL, OPT_ACPI_REV },
	{ "rsdp", required_argument, NULL, OPT_RSDP },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "dump-acpi", required_argument, NULL, OPT_DUMP_ACPI },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("doppel-sim: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see --help)\n", stderr);
	exit(SIM_EXIT_USAGE);
}

static void join_names(const char *const *names, const char *sep, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned i = 0; names[i]; i++) {
		int n = snprintf(buf + used, size - used, "%s%s", i ? sep : "", names[i]);
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
}

/* An unknown long option, or an abbreviation that fits several: say which. */
static void unknown_option(const char *arg) __attribute__((noreturn));
static void unknown_option(const char *arg)
{
	char matches[256] = "";
	size_t len, used = 0;
	unsigned n = 0;

	if (strncmp(arg, "--", 2) == 0) {
		len = strcspn(arg + 2, "=");
		for (const struct option *lo = long_opts; lo->name && len; lo++) {
			if (strncmp(lo->name, arg + 2, len) != 0)
				continue;
			int w = snprintf(matches + used, sizeof(matches) - used, "%s--%s",
			                 n ? ", " : "", lo->name);
			if (w > 0 && (size_t)w < sizeof(matches) - used)
				used += (size_t)w;
			n++;
		}
	}
	if (n > 1)
		usage_error("'%s' is ambiguous: %s", arg, matches);
	usage_error("'%s' is not an option", arg);
}

static void print_help(void)
{
	const char *const *names = acpi_gen_break_names();

	printf("usage: doppel-sim [options] [--] [kernel command line words...]\n"
	       "Runs the Doppel kernel on a simulated x86_64 machine (docs/sim.md).\n"
	       "\n"
	       "  --cpus N             CPUs, 1..%u (default 4)\n"
	       "  --mem SIZE           RAM with K/M/G suffix, 16M..64G, a multiple of 4K (default 256M)\n"
	       "  --seed S             root seed of all randomness, u64 decimal or 0x hex\n"
	       "                       (default: from the clock; always printed)\n"
	       "  --apic-ids LAYOUT    dense | sparse | dup (default dense)\n"
	       "  --acpi-rev R         0 (RSDP v1, RSDT only) | 2 (RSDP v2, XSDT) (default 2)\n"
	       "  --acpi-break KIND    inject one ACPI fault (default none):\n",
	       SIM_MAX_CPUS);
	for (unsigned i = 0; names[i]; i++)
		printf("      %-20s %s\n", names[i], acpi_gen_break_help((enum acpi_gen_break)i));
	printf("  --rsdp MODE          hint (boot_info carries the RSDP address, like GRUB's\n"
	       "                       multiboot2 tag 15/14) | scan (kernel searches the BIOS area)\n"
	       "                       (default hint)\n"
	       "  --cmdline STR        kernel command line (or give it as trailing words)\n"
	       "  --console FILE       also write the console to FILE\n"
	       "  --dump-acpi DIR      write the generated ACPI tables as DIR/SIG.dat and exit 0\n"
	       "  --help               this text\n"
	       "\n"
	       "Exit code: the kernel's status 0..3 (pass, test failed, panic, boot error);\n"
	       "64 bad option; 66 ASan, 67 UBSan, 68 TSan report; 70/71/74 sim setup errors;\n"
	       "SIGABRT when the sim catches a kernel bug (\"sim: FATAL: ...\").\n");
}

/* Strict unsigned parse: decimal or 0x hex, whole string, no sign. */
static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

static uint64_t parse_mem(const char *arg)
{
	char num[32];
	size_t len = strlen(arg);
	uint64_t v, mult = 1;

	if (len == 0 || len >= sizeof(num))
		goto bad;
	memcpy(num, arg, len + 1);
	switch (num[len - 1]) {
	case 'k': case 'K': mult = 1ull << 10; break;
	case 'm': case 'M': mult = 1ull << 20; break;
	case 'g': case 'G': mult = 1ull << 30; break;
	default: break;
	}
	if (mult != 1)
		num[len - 1] = '\0';
	if (parse_u64(num, &v) != 0 || v > SIM_MEM_MAX / mult)
		goto bad;
	v *= mult;
	if (v < SIM_MEM_MIN || v > SIM_MEM_MAX)
		goto bad;
	if (v % 4096)
		usage_error("--mem: '%s' is not a multiple of 4K", arg);
	return v;
bad:
	usage_error("--mem: '%s' is not a size from 16M to 64G (a number with K, M or G suffix)", arg);
}

static int parse_choice(const char *opt, const char *arg, int (*parse)(const char *),
                        const char *const *names)
{
	char list[512];
	int v = parse(arg);

	if (v >= 0)
		return v;
	join_names(names, " | ", list, sizeof(list));
	usage_error("%s: '%s' is not one of: %s", opt, arg, list);
}

static uint64_t default_seed(void)
{
	struct timespec ts;
	uint64_t st;

	clock_gettime(CLOCK_REALTIME, &ts);
	st = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	st ^= (uint64_t)getpid() << 32;
	return sim_splitmix64(&st);
}

static void set_cmdline(struct sim_options *o, const char *text, const char *what)
{
	size_t len = strlen(text);

	if (len > BOOT_CMDLINE_MAX - 1)
		usage_error("%s: the kernel command line is %zu bytes; at most %d fit",
		            what, len, BOOT_CMDLINE_MAX - 1);
	memcpy(o->cmdline, text, len + 1);
}

void sim_options_parse(int argc, char **argv, struct sim_options *o)
{
	bool rev_given = false, cmdline_given = false;
	uint64_t v;
	int c;

	memset(o, 0, sizeof(*o));
	o->cpus = 4;
	o->mem = SIM_MEM_DEFAULT;
	o->apic_layout = ACPI_GEN_LAYOUT_DENSE;
	o->acpi_break = ACPI_GEN_BREAK_NONE;
	o->acpi_rev = 2;
	o->rsdp = SIM_RSDP_HINT;
	o->argv0 = argc > 0 ? argv[0] : "doppel-sim";

	opterr = 0;                     /* we word the errors ourselves */
	while ((c = getopt_long(argc, argv, ":", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_CPUS:
			if (parse_u64(optarg, &v) != 0 || v < 1 || v > SIM_MAX_CPUS)
				usage_error("--cpus: '%s' is not a CPU count from 1 to %u", optarg, SIM_MAX_CPUS);
			o->cpus = (unsigned)v;
			break;
		case OPT_MEM:
			o->mem = parse_mem(optarg);
			break;
		case OPT_SEED:
			if (parse_u64(optarg, &o->seed) != 0)
				usage_error("--seed: '%s' is not an unsigned 64-bit number (decimal or 0x hex)", optarg);
			o->seed_given = true;
			break;
		case OPT_APIC_IDS:
			o->apic_layout = parse_choice("--apic-ids", optarg, acpi_gen_layout_parse,
			                              acpi_gen_layout_names());
			break;
		case OPT_ACPI_BREAK:
			o->acpi_break = parse_choice("--acpi-break", optarg, acpi_gen_break_parse,
			                             acpi_gen_break_names());
			break;
		case OPT_ACPI_REV:
			if (strcmp(optarg, "0") == 0)
				o->acpi_rev = 0;
			else if (strcmp(optarg, "2") == 0)
				o->acpi_rev = 2;
			else
				usage_error("--acpi-rev: '%s' is not one of: 0 | 2", optarg);
			rev_given = true;
			break;
		case OPT_RSDP:
			if (strcmp(optarg, "hint") == 0)
				o->rsdp = SIM_RSDP_HINT;
			else if (strcmp(optarg, "scan") == 0)
				o->rsdp = SIM_RSDP_SCAN;
			else
				usage_error("--rsdp: '%s' is not one of: hint | scan", optarg);
			break;
		case OPT_CMDLINE:
			set_cmdline(o, optarg, "--cmdline");
			cmdline_given = true;
			break;
		case OPT_CONSOLE:
			if (!*optarg)
				usage_error("--console: '' is not a file name");
			o->console_path = optarg;
			break;
		case OPT_DUMP_ACPI:
			if (!*optarg)
				usage_error("--dump-acpi: '' is not a directory name");
			o->dump_acpi_dir = optarg;
			break;
		case OPT_HELP:
			print_help();
			exit(0);
		case ':':
			usage_error("%s: missing value", argv[optind - 1]);
		case '?':
		default:
			if (optopt)
				usage_error("'-%c' is not an option", optopt);
			unknown_option(argv[optind - 1]);
		}
	}

	/* Trailing words form the kernel command line, joined by single spaces. */
	if (optind < argc) {
		size_t total = 0, used = 0;

		if (cmdline_given)
			usage_error("'%s': give the kernel command line with --cmdline or as "
			            "trailing words, not both", argv[optind]);
		for (int i = optind; i < argc; i++)
			total += strlen(argv[i]) + (i > optind ? 1 : 0);
		if (total > BOOT_CMDLINE_MAX - 1)
			usage_error("kernel command line words: %zu bytes joined; at most %d fit",
			            total, BOOT_CMDLINE_MAX - 1);
		for (int i = optind; i < argc; i++) {
			size_t len = strlen(argv[i]);
			if (i > optind)
				o->cmdline[used++] = ' ';
			memcpy(o->cmdline + used, argv[i], len);
			used += len;
		}
		o->cmdline[used] = '\0';
	}

	/* Combinations. */
	if (o->acpi_break == ACPI_GEN_BREAK_RSDT_ONLY) {
		if (rev_given && o->acpi_rev != 0)
			usage_error("--acpi-break: 'rsdt-only' is an ACPI 1.0 layout and contradicts "
			            "--acpi-rev 2 (use --acpi-rev 0 or leave it out)");
		o->acpi_rev = 0;
	}
	if (o->apic_layout == ACPI_GEN_LAYOUT_DUP && o->cpus < 2)
		usage_error("--apic-ids: 'dup' repeats CPU 0's APIC ID on the last CPU and needs "
		            "--cpus 2 or more (got %u)", o->cpus);
	{
		struct acpi_gen_config cfg = { .ncpus = o->cpus, .revision = o->acpi_rev,
		                               .brk = (enum acpi_gen_break)o->acpi_break };
		const char *why = acpi_gen_config_error(&cfg);
		if (why)
			usage_error("--acpi-break: '%s' with --acpi-rev %u: %s",
			            acpi_gen_break_name(cfg.brk), o->acpi_rev, why);
	}
	if (!o->seed_given)
		o->seed = default_seed();
}

void sim_format_size(uint64_t bytes, char *buf, size_t size)
{
	if (bytes && bytes % (1ull << 30) == 0)
		snprintf(buf, size, "%lluG", (unsigned long long)(bytes >> 30));
	else if (bytes && bytes % (1ull << 20) == 0)
		snprintf(buf, size, "%lluM", (unsigned long long)(bytes >> 20));
	else if (bytes && bytes % (1ull << 10) == 0)
		snprintf(buf, size, "%lluK", (unsigned long long)(bytes >> 10));
	else
		snprintf(buf, size, "%llu", (unsigned long long)bytes);
}

/* Append s to buf, single-quoted for a POSIX shell when it needs quoting. */
static void append_word(char *buf, size_t size, size_t *used, const char *s)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                           "0123456789_-+=.,:/@%";
	bool plain = *s != '\0' && strspn(s, safe) == strlen(s);

#define PUT(ch) do { if (*used + 1 < size) buf[(*used)++] = (ch); } while (0)
	if (*used)
		PUT(' ');
	if (plain) {
		for (; *s; s++)
			PUT(*s);
	} else {
		PUT('\'');
		for (; *s; s++) {
			if (*s == '\'') {
				PUT('\''); PUT('\\'); PUT('\''); PUT('\'');
			} else {
				PUT(*s);
			}
		}
		PUT('\'');
	}
#undef PUT
	buf[*used < size ? *used : size - 1] = '\0';
}

void sim_options_replay(const struct sim_options *o, char *buf, size_t size)
{
	char tmp[64];
	size_t used = 0;

	buf[0] = '\0';
	append_word(buf, size, &used, o->argv0);
	append_word(buf, size, &used, "--cpus");
	snprintf(tmp, sizeof(tmp), "%u", o->cpus);
	append_word(buf, size, &used, tmp);
	append_word(buf, size, &used, "--mem");
	sim_format_size(o->mem, tmp, sizeof(tmp));
	append_word(buf, size, &used, tmp);
	append_word(buf, size, &used, "--seed");
	snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)o->seed);
	append_word(buf, size, &used, tmp);
	append_word(buf, size, &used, "--apic-ids");
	append_word(buf, size, &used, acpi_gen_layout_name((enum acpi_gen_layout)o->apic_layout));
	append_word(buf, size, &used, "--acpi-rev");
	append_word(buf, size, &used, o->acpi_rev ? "2" : "0");
	append_word(buf, size, &used, "--acpi-break");
	append_word(buf, size, &used, acpi_gen_break_name((enum acpi_gen_break)o->acpi_break));
	append_word(buf, size, &used, "--rsdp");
	append_word(buf, size, &used, o->rsdp == SIM_RSDP_SCAN ? "scan" : "hint");
	if (o->dump_acpi_dir) {
		append_word(buf, size, &used, "--dump-acpi");
		append_word(buf, size, &used, o->dump_acpi_dir);
	}
	/* --cmdline keeps the exact bytes (spacing included); always given, even
	 * empty, so the replay never picks up words from elsewhere. */
	append_word(buf, size, &used, "--cmdline");
	append_word(buf, size, &used, o->cmdline);
}
