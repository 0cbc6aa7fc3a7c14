/*
 * options.c — doppel-sim's command line: the machine description (CPUs, memory,
 * APIC IDs, ACPI shape and faults), the seed, and the kernel command line.
 * Every rejected option gets one message naming it, the bad value and what is
 * allowed, and exit code 64 (sysexits EX_USAGE). docs/sim.md lists the options.
 */
#include "sim.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "acpi/acpi_gen.h"
#include "pci/pci_model.h"
#include "rng.h"

enum {
	OPT_CPUS = 0x100, OPT_MEM, OPT_SEED, OPT_APIC_IDS, OPT_ACPI_BREAK, OPT_ACPI_REV,
	OPT_RSDP, OPT_CMDLINE, OPT_CONSOLE, OPT_DUMP_ACPI, OPT_HELP, OPT_NUMA, OPT_CPU_FEATURES,
	OPT_FAULT, OPT_MODE, OPT_SCHED, OPT_MAX_STEPS, OPT_RUNS, OPT_REPLAY, OPT_CHECK_DET,
	OPT_PCT_K, OPT_FAULT_SITES, OPT_FAIL_NTH, OPT_PCI, OPT_PCI_HOSTILE, OPT_NO_MCFG,
	OPT_PCI_DUMP_CONFIG, OPT_IOMMU, OPT_VTD_CM, OPT_VTD_NO_QI, OPT_DMAR_RMRR,
};

/* --pci-hostile kinds, in PCI_HOSTILE_* bit order (models/pci/pci_model.h). */
static const char *const hostile_names[] = {
	"cap-loop", "cap-in-header", "bar-ones", "msix-no-bar", "vanish", NULL,
};
_Static_assert(PCI_HOSTILE_VANISH == 1u << 4, "hostile_names follows the PCI_HOSTILE_* bits");

#define SIM_MAX_NUMA 64

static const char *const fault_names[SIM_FAULT_COUNT + 1] = {
	[SIM_FAULT_AP_IGNORE_FIRST_SIPI] = "ap-ignore-first-sipi",
	[SIM_FAULT_AP_DEAD] = "ap-dead",
	[SIM_FAULT_ESR_SEND_ERROR] = "esr-send-error",
	[SIM_FAULT_SPURIOUS_STORM] = "spurious-storm",
	[SIM_FAULT_LATE_IPI] = "late-ipi",
	[SIM_FAULT_COUNT] = NULL,
};

static const char *const fault_args[SIM_FAULT_COUNT] = {
	[SIM_FAULT_AP_IGNORE_FIRST_SIPI] = "APICID",
	[SIM_FAULT_AP_DEAD] = "APICID",
	[SIM_FAULT_ESR_SEND_ERROR] = "APICID",
	[SIM_FAULT_SPURIOUS_STORM] = "CPU",
	[SIM_FAULT_LATE_IPI] = "MICROSECONDS",
};

static const char *const fault_help[SIM_FAULT_COUNT] = {
	[SIM_FAULT_AP_IGNORE_FIRST_SIPI] = "that AP ignores the first SIPI it would accept",
	[SIM_FAULT_AP_DEAD] = "that AP ignores INIT and SIPI: it never starts",
	[SIM_FAULT_ESR_SEND_ERROR] = "IPIs to it are not accepted (ESR send-accept error): it never starts",
	[SIM_FAULT_SPURIOUS_STORM] = "1000 spurious-vector interrupts to CPU (MADT order) once its LAPIC is enabled",
	[SIM_FAULT_LATE_IPI] = "fixed IPIs reach their target that many microseconds late",
};

const char *sim_fault_name(enum sim_fault_kind k)
{
	return (unsigned)k < SIM_FAULT_COUNT ? fault_names[k] : "?";
}

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
	{ "numa", required_argument, NULL, OPT_NUMA },
	{ "cpu-features", required_argument, NULL, OPT_CPU_FEATURES },
	{ "fault", required_argument, NULL, OPT_FAULT },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "sched", required_argument, NULL, OPT_SCHED },
	{ "max-steps", required_argument, NULL, OPT_MAX_STEPS },
	{ "runs", required_argument, NULL, OPT_RUNS },
	{ "replay", no_argument, NULL, OPT_REPLAY },
	{ "check-determinism", no_argument, NULL, OPT_CHECK_DET },
	{ "pct-k", required_argument, NULL, OPT_PCT_K },
	{ "fault-sites", required_argument, NULL, OPT_FAULT_SITES },
	{ "fail-nth", required_argument, NULL, OPT_FAIL_NTH },
	{ "pci", required_argument, NULL, OPT_PCI },
	{ "pci-hostile", required_argument, NULL, OPT_PCI_HOSTILE },
	{ "no-mcfg", no_argument, NULL, OPT_NO_MCFG },
	{ "pci-dump-config", required_argument, NULL, OPT_PCI_DUMP_CONFIG },
	{ "iommu", required_argument, NULL, OPT_IOMMU },
	{ "vtd-caching-mode", no_argument, NULL, OPT_VTD_CM },
	{ "vtd-no-qi", no_argument, NULL, OPT_VTD_NO_QI },
	{ "dmar-rmrr", required_argument, NULL, OPT_DMAR_RMRR },
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
	       "  --numa N             SRAT with N proximity domains, CPUs and memory split evenly,\n"
	       "                       1..%u and at most --cpus (default: no SRAT)\n"
	       "  --cpu-features LIST  comma list of CPUID features to remove: no-x2apic,\n"
	       "                       no-tsc-deadline\n"
	       "  --fault NAME[=ARG]   inject a platform fault (repeatable, at most %u):\n",
	       SIM_MAX_NUMA, SIM_MAX_FAULTS);
	for (unsigned i = 0; i < SIM_FAULT_COUNT; i++) {
		char name[64];
		snprintf(name, sizeof(name), "%s=%s", fault_names[i], fault_args[i]);
		printf("      %-30s %s\n", name, fault_help[i]);
	}
	printf("  --mode MODE          free (CPUs in parallel, default) | det (one CPU at a time,\n"
	       "                       a seeded scheduler picks who runs at each switch point)\n"
	       "  --sched S            det: random | pct:D (PCT with depth D, 1..16) (default pct:3)\n"
	       "  --pct-k K            det: choice steps over which PCT draws its D-1 change\n"
	       "                       points (default %llu)\n"
	       "  --max-steps N        det: a run longer than N steps is a livelock, status 4\n"
	       "                       (default %llu)\n"
	       "  --runs R             det: run seeds S..S+R-1, a forked child each; stop at the\n"
	       "                       first failing seed\n"
	       "  --replay             det: rerun one seed and print the decision trace on failure\n"
	       "  --check-determinism  det: run each seed twice and compare the trace hashes\n"
	       "  --fault-sites G=P    fail hits of fault sites matching glob G with probability P\n"
	       "                       (0..1; repeatable, at most %u)\n"
	       "  --fail-nth N         fail exactly the Nth fault-site hit of the run\n"
	       "  --pci SET            PCI devices: default (edu, NVMe, a root port with the\n"
	       "                       testdev behind it; docs/pci.md) | none (host bridge only)\n"
	       "                       | shared-intx (default plus a second edu at 00:06.0 on\n"
	       "                       the INTx line (GSI 18) of the edu at 00:02.0)\n"
	       "  --pci-hostile LIST   comma list of hostile endpoints to add on bus 0 from slot\n"
	       "                       0x10: cap-loop, cap-in-header, bar-ones, msix-no-bar, vanish\n"
	       "  --no-mcfg            no MCFG table and no ECAM window: only ports 0xCF8/0xCFC\n"
	       "  --pci-dump-config FILE  at exit, write every function's config space in\n"
	       "                       lspci -xxxx format (for lspci -F FILE -vv)\n"
	       "  --iommu vtd|none     a VT-d unit at 0xFED90000 and its DMAR (default vtd), or\n"
	       "                       none: device DMA reaches RAM untranslated (docs/iommu.md)\n"
	       "  --vtd-caching-mode   VT-d CAP.CM = 1: not-present entries may be cached\n"
	       "  --vtd-no-qi          VT-d ECAP.QI = 0: register-based invalidation only\n"
	       "  --dmar-rmrr BASE:LIMIT@BB:DD.F  add an RMRR (VT-d §8.4) for [BASE, LIMIT] (hex,\n"
	       "                       BASE and LIMIT+1 4 KiB aligned) naming endpoint BB:DD.F;\n"
	       "                       reserved in the memory map where it is RAM (up to 4)\n",
	       (unsigned long long)SIM_DET_PCT_K_DEFAULT, (unsigned long long)SIM_DET_MAX_STEPS_DEFAULT,
	       SIM_MAX_FAULTS);
	printf("  --help               this text\n"
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

/* Strict hex: optional 0x, 1 to 16 digits, nothing else. */
static int parse_hex(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		n -= 2;
	}
	if (n == 0 || n > 16)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int d = isdigit((unsigned char)s[i]) ? s[i] - '0'
		        : (s[i] >= 'a' && s[i] <= 'f') ? s[i] - 'a' + 10
		        : (s[i] >= 'A' && s[i] <= 'F') ? s[i] - 'A' + 10 : -1;
		if (d < 0)
			return -EINVAL;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return 0;
}

/* --dmar-rmrr BASE:LIMIT@BB:DD.F */
static void parse_rmrr(struct sim_options *o, const char *arg)
{
	const char *colon = strchr(arg, ':'), *at = strchr(arg, '@');
	struct sim_rmrr r;
	uint64_t bus, dev, fn;

	if (o->nrmrr == SIM_MAX_RMRR)
		usage_error("--dmar-rmrr: '%s': at most %u", arg, SIM_MAX_RMRR);
	if (!colon || !at || colon > at ||
	    parse_hex(arg, (size_t)(colon - arg), &r.base) ||
	    parse_hex(colon + 1, (size_t)(at - colon - 1), &r.limit))
		usage_error("--dmar-rmrr: '%s' is not BASE:LIMIT@BB:DD.F (hex base and limit, "
		            "e.g. 0x6000000:0x6001fff@00:02.0)", arg);
	const char *b = at + 1;
	if (strlen(b) != 7 || b[2] != ':' || b[5] != '.' || parse_hex(b, 2, &bus) ||
	    parse_hex(b + 3, 2, &dev) || parse_hex(b + 6, 1, &fn) || dev > 31 || fn > 7)
		usage_error("--dmar-rmrr: '%s': '%s' is not a PCI address BB:DD.F (hex, device "
		            "00-1f, function 0-7)", arg, b);
	if (r.base > r.limit)
		usage_error("--dmar-rmrr: '%s': base above limit", arg);
	if ((r.base & 0xFFF) || ((r.limit + 1) & 0xFFF))
		usage_error("--dmar-rmrr: '%s': BASE and LIMIT+1 must be 4 KiB aligned "
		            "(LIMIT is the last byte, e.g. 0x...fff)", arg);
	if (r.limit >> 48)
		usage_error("--dmar-rmrr: '%s': beyond the DMAR's 48-bit host address width", arg);
	for (unsigned i = 0; i < o->nrmrr; i++)
		if (o->rmrr[i].base <= r.limit && r.base <= o->rmrr[i].limit)
			usage_error("--dmar-rmrr: '%s' overlaps an earlier --dmar-rmrr", arg);
	r.bus = (uint8_t)bus;
	r.dev = (uint8_t)dev;
	r.fn = (uint8_t)fn;
	o->rmrr[o->nrmrr++] = r;
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

static void parse_features(struct sim_options *o, const char *arg)
{
	char buf[128];
	char *save = NULL;

	if (!*arg || strlen(arg) >= sizeof(buf))
		usage_error("--cpu-features: '%s' is not a comma list of: no-x2apic, no-tsc-deadline", arg);
	strcpy(buf, arg);
	for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		if (strcmp(w, "no-x2apic") == 0)
			o->no_x2apic = true;
		else if (strcmp(w, "no-tsc-deadline") == 0)
			o->no_tsc_deadline = true;
		else
			usage_error("--cpu-features: '%s' in '%s' is not one of: no-x2apic, no-tsc-deadline",
			            w, arg);
	}
}

static void parse_hostile(struct sim_options *o, const char *arg)
{
	char buf[256], list[256];
	char *save = NULL;

	join_names(hostile_names, ", ", list, sizeof(list));
	if (!*arg || strlen(arg) >= sizeof(buf))
		usage_error("--pci-hostile: '%s' is not a comma list of: %s", arg, list);
	strcpy(buf, arg);
	if (buf[0] == ',' || buf[strlen(buf) - 1] == ',' || strstr(buf, ",,"))
		usage_error("--pci-hostile: '%s' has an empty item (a comma list of: %s)", arg, list);
	for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		unsigned k = 0;
		while (hostile_names[k] && strcmp(hostile_names[k], w) != 0)
			k++;
		if (!hostile_names[k])
			usage_error("--pci-hostile: '%s' in '%s' is not one of: %s", w, arg, list);
		o->pci_hostile |= 1u << k;
	}
}

static void parse_fault(struct sim_options *o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
	char list[256];
	uint64_t v;
	int kind = -1;

	for (int i = 0; i < SIM_FAULT_COUNT; i++)
		if (strlen(fault_names[i]) == len && strncmp(fault_names[i], arg, len) == 0)
			kind = i;
	if (kind < 0) {
		join_names(fault_names, " | ", list, sizeof(list));
		usage_error("--fault: '%s' is not one of: %s", arg, list);
	}
	if (!eq || parse_u64(eq + 1, &v) != 0)
		usage_error("--fault: '%s' needs a value: %s=%s", arg, fault_names[kind], fault_args[kind]);
	if (kind == SIM_FAULT_LATE_IPI && (v == 0 || v > 10000000))
		usage_error("--fault: '%s': the delay must be 1 to 10000000 microseconds", arg);
	if (kind != SIM_FAULT_LATE_IPI && v > 0xFFFFFFFEull)
		usage_error("--fault: '%s': %s out of range", arg, fault_args[kind]);
	if (o->nfaults == SIM_MAX_FAULTS)
		usage_error("--fault: '%s': at most %u faults", arg, SIM_MAX_FAULTS);
	o->faults[o->nfaults++] = (struct sim_fault){ (enum sim_fault_kind)kind, v };
}

void sim_options_parse(int argc, char **argv, struct sim_options *o)
{
	bool rev_given = false, cmdline_given = false, sched_given = false;
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
	o->sched_pct = true;
	o->pct_depth = 3;
	o->pct_k = SIM_DET_PCT_K_DEFAULT;
	o->max_steps = SIM_DET_MAX_STEPS_DEFAULT;

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
		case OPT_NUMA:
			if (parse_u64(optarg, &v) != 0 || v < 1 || v > SIM_MAX_NUMA)
				usage_error("--numa: '%s' is not a node count from 1 to %u", optarg, SIM_MAX_NUMA);
			o->numa_nodes = (unsigned)v;
			break;
		case OPT_CPU_FEATURES:
			parse_features(o, optarg);
			break;
		case OPT_FAULT:
			parse_fault(o, optarg);
			break;
		case OPT_MODE:
			if (strcmp(optarg, "det") == 0)
				o->det = true;
			else if (strcmp(optarg, "free") == 0)
				o->det = false;
			else
				usage_error("--mode: '%s' is not one of: free | det", optarg);
			break;
		case OPT_SCHED:
			if (strcmp(optarg, "random") == 0) {
				o->sched_pct = false;
			} else if (strncmp(optarg, "pct:", 4) == 0 && parse_u64(optarg + 4, &v) == 0 &&
			           v >= 1 && v <= 16) {
				o->sched_pct = true;
				o->pct_depth = (unsigned)v;
			} else {
				usage_error("--sched: '%s' is not 'random' or 'pct:D' with D from 1 to 16", optarg);
			}
			sched_given = true;
			break;
		case OPT_PCT_K:
			if (parse_u64(optarg, &v) != 0 || v < 1 || v > (1ull << 40))
				usage_error("--pct-k: '%s' is not a step count from 1 to 2^40", optarg);
			o->pct_k = v;
			break;
		case OPT_MAX_STEPS:
			if (parse_u64(optarg, &v) != 0 || v < 1)
				usage_error("--max-steps: '%s' is not a positive step count", optarg);
			o->max_steps = v;
			break;
		case OPT_RUNS:
			if (parse_u64(optarg, &v) != 0 || v < 1 || v > (1ull << 32))
				usage_error("--runs: '%s' is not a run count from 1 to 2^32", optarg);
			o->runs = v;
			break;
		case OPT_REPLAY:
			o->replay = true;
			break;
		case OPT_CHECK_DET:
			o->check_determinism = true;
			break;
		case OPT_FAULT_SITES: {
			const char *eq = strrchr(optarg, '=');
			char *end;
			double p;
			if (!eq || eq == optarg || (size_t)(eq - optarg) >= sizeof(o->fault_sites[0].glob))
				usage_error("--fault-sites: '%s' is not GLOB=PROB (a site glob up to 63 "
				            "characters, a probability from 0 to 1)", optarg);
			p = strtod(eq + 1, &end);
			if (!eq[1] || *end || !(p >= 0.0 && p <= 1.0))
				usage_error("--fault-sites: '%s': the probability must be from 0 to 1", optarg);
			if (o->nfault_sites == SIM_MAX_FAULTS)
				usage_error("--fault-sites: '%s': at most %u", optarg, SIM_MAX_FAULTS);
			memcpy(o->fault_sites[o->nfault_sites].glob, optarg, (size_t)(eq - optarg));
			o->fault_sites[o->nfault_sites].glob[eq - optarg] = '\0';
			o->fault_sites[o->nfault_sites++].prob = p;
			break;
		}
		case OPT_FAIL_NTH:
			if (parse_u64(optarg, &v) != 0 || v < 1)
				usage_error("--fail-nth: '%s' is not a positive hit number", optarg);
			o->fail_nth = v;
			break;
		case OPT_PCI:
			if (strcmp(optarg, "default") == 0)
				o->pci_set = SIM_PCI_DEFAULT;
			else if (strcmp(optarg, "none") == 0)
				o->pci_set = SIM_PCI_NONE;
			else if (strcmp(optarg, "shared-intx") == 0)
				o->pci_set = SIM_PCI_SHARED_INTX;
			else
				usage_error("--pci: '%s' is not one of: default | none | shared-intx", optarg);
			break;
		case OPT_PCI_HOSTILE:
			parse_hostile(o, optarg);
			break;
		case OPT_NO_MCFG:
			o->no_mcfg = true;
			break;
		case OPT_PCI_DUMP_CONFIG:
			if (!*optarg)
				usage_error("--pci-dump-config: '' is not a file name");
			o->pci_dump_path = optarg;
			break;
		case OPT_IOMMU:
			if (strcmp(optarg, "vtd") == 0)
				o->iommu_none = false;
			else if (strcmp(optarg, "none") == 0)
				o->iommu_none = true;
			else
				usage_error("--iommu: '%s' is not one of: vtd | none", optarg);
			break;
		case OPT_VTD_CM:
			o->vtd_caching_mode = true;
			break;
		case OPT_VTD_NO_QI:
			o->vtd_no_qi = true;
			break;
		case OPT_DMAR_RMRR:
			parse_rmrr(o, optarg);
			break;
		case OPT_HELP:
			print_help();
			exit(0);
		case ':':
			usage_error("%s: missing value", argv[optind - 1]);
		case '?':
		default:
			if (optopt >= OPT_CPUS)     /* a flag given a value: --no-mcfg=1 */
				usage_error("'%s': %.*s takes no value", argv[optind - 1],
				            (int)strcspn(argv[optind - 1], "="), argv[optind - 1]);
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
	if (o->iommu_none && o->nrmrr)
		usage_error("--dmar-rmrr: there is no DMAR with --iommu none");
	if (o->iommu_none && (o->vtd_caching_mode || o->vtd_no_qi))
		usage_error("%s: there is no VT-d unit with --iommu none",
		            o->vtd_caching_mode ? "--vtd-caching-mode" : "--vtd-no-qi");
	if (o->numa_nodes > o->cpus)
		usage_error("--numa: %u nodes need at least as many CPUs (got --cpus %u)",
		            o->numa_nodes, o->cpus);
	for (unsigned i = 0; i < o->nfaults; i++) {
		const struct sim_fault *f = &o->faults[i];
		uint32_t ids[SIM_MAX_CPUS];
		bool found = false;

		if (f->kind == SIM_FAULT_SPURIOUS_STORM && f->arg >= o->cpus)
			usage_error("--fault: 'spurious-storm=%llu': no such CPU (0 to %u)",
			            (unsigned long long)f->arg, o->cpus - 1);
		if (f->kind == SIM_FAULT_SPURIOUS_STORM || f->kind == SIM_FAULT_LATE_IPI)
			continue;
		if (acpi_gen_apic_ids((enum acpi_gen_layout)o->apic_layout, o->cpus, ids) == 0)
			for (unsigned k = 1; k < o->cpus; k++)
				found |= ids[k] == f->arg;
		if (!found)
			usage_error("--fault: '%s=%llu': no AP of this machine has that APIC ID",
			            fault_names[f->kind], (unsigned long long)f->arg);
	}
	if (!o->det && (sched_given || o->runs || o->replay || o->check_determinism))
		usage_error("--sched, --runs, --replay and --check-determinism need --mode det");
	if (o->replay && (o->runs > 1 || o->check_determinism))
		usage_error("--replay reruns exactly one seed: not with --runs %llu or "
		            "--check-determinism", (unsigned long long)o->runs);
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

static void replay_line(const struct sim_options *o, uint64_t seed, bool replay, char *buf,
                        size_t size);

void sim_options_replay(const struct sim_options *o, char *buf, size_t size)
{
	replay_line(o, o->seed, o->replay, buf, size);
}

void sim_options_replay_det(const struct sim_options *o, uint64_t seed, char *buf, size_t size)
{
	replay_line(o, seed, true, buf, size);
}

static void replay_line(const struct sim_options *o, uint64_t seed, bool replay, char *buf,
                        size_t size)
{
	char tmp[96];
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
	snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)seed);
	append_word(buf, size, &used, tmp);
	if (o->det) {
		append_word(buf, size, &used, "--mode");
		append_word(buf, size, &used, "det");
		append_word(buf, size, &used, "--sched");
		if (o->sched_pct)
			snprintf(tmp, sizeof(tmp), "pct:%u", o->pct_depth);
		else
			snprintf(tmp, sizeof(tmp), "random");
		append_word(buf, size, &used, tmp);
		append_word(buf, size, &used, "--pct-k");
		snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)o->pct_k);
		append_word(buf, size, &used, tmp);
		append_word(buf, size, &used, "--max-steps");
		snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)o->max_steps);
		append_word(buf, size, &used, tmp);
		if (replay)
			append_word(buf, size, &used, "--replay");
	}
	for (unsigned i = 0; i < o->nfault_sites; i++) {
		append_word(buf, size, &used, "--fault-sites");
		snprintf(tmp, sizeof(tmp), "%s=%.17g", o->fault_sites[i].glob, o->fault_sites[i].prob);
		append_word(buf, size, &used, tmp);
	}
	if (o->fail_nth) {
		append_word(buf, size, &used, "--fail-nth");
		snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)o->fail_nth);
		append_word(buf, size, &used, tmp);
	}
	append_word(buf, size, &used, "--apic-ids");
	append_word(buf, size, &used, acpi_gen_layout_name((enum acpi_gen_layout)o->apic_layout));
	append_word(buf, size, &used, "--acpi-rev");
	append_word(buf, size, &used, o->acpi_rev ? "2" : "0");
	append_word(buf, size, &used, "--acpi-break");
	append_word(buf, size, &used, acpi_gen_break_name((enum acpi_gen_break)o->acpi_break));
	append_word(buf, size, &used, "--rsdp");
	append_word(buf, size, &used, o->rsdp == SIM_RSDP_SCAN ? "scan" : "hint");
	if (o->numa_nodes) {
		append_word(buf, size, &used, "--numa");
		snprintf(tmp, sizeof(tmp), "%u", o->numa_nodes);
		append_word(buf, size, &used, tmp);
	}
	if (o->no_x2apic || o->no_tsc_deadline) {
		append_word(buf, size, &used, "--cpu-features");
		snprintf(tmp, sizeof(tmp), "%s%s%s", o->no_x2apic ? "no-x2apic" : "",
		         o->no_x2apic && o->no_tsc_deadline ? "," : "",
		         o->no_tsc_deadline ? "no-tsc-deadline" : "");
		append_word(buf, size, &used, tmp);
	}
	for (unsigned i = 0; i < o->nfaults; i++) {
		append_word(buf, size, &used, "--fault");
		snprintf(tmp, sizeof(tmp), "%s=%llu", sim_fault_name(o->faults[i].kind),
		         (unsigned long long)o->faults[i].arg);
		append_word(buf, size, &used, tmp);
	}
	append_word(buf, size, &used, "--pci");
	append_word(buf, size, &used, o->pci_set == SIM_PCI_NONE ? "none"
	            : o->pci_set == SIM_PCI_SHARED_INTX ? "shared-intx" : "default");
	if (o->pci_hostile) {
		char list[128] = "";
		size_t l = 0;
		for (unsigned k = 0; hostile_names[k]; k++)
			if (o->pci_hostile & (1u << k))
				l += (size_t)snprintf(list + l, sizeof(list) - l, "%s%s", l ? "," : "",
				                      hostile_names[k]);
		append_word(buf, size, &used, "--pci-hostile");
		append_word(buf, size, &used, list);
	}
	if (o->no_mcfg)
		append_word(buf, size, &used, "--no-mcfg");
	append_word(buf, size, &used, "--iommu");
	append_word(buf, size, &used, o->iommu_none ? "none" : "vtd");
	if (o->vtd_caching_mode)
		append_word(buf, size, &used, "--vtd-caching-mode");
	if (o->vtd_no_qi)
		append_word(buf, size, &used, "--vtd-no-qi");
	for (unsigned i = 0; i < o->nrmrr; i++) {
		const struct sim_rmrr *r = &o->rmrr[i];
		append_word(buf, size, &used, "--dmar-rmrr");
		snprintf(tmp, sizeof(tmp), "0x%llx:0x%llx@%02x:%02x.%x", (unsigned long long)r->base,
		         (unsigned long long)r->limit, r->bus, r->dev, r->fn);
		append_word(buf, size, &used, tmp);
	}
	if (o->dump_acpi_dir) {
		append_word(buf, size, &used, "--dump-acpi");
		append_word(buf, size, &used, o->dump_acpi_dir);
	}
	/* --cmdline keeps the exact bytes (spacing included); always given, even
	 * empty, so the replay never picks up words from elsewhere. */
	append_word(buf, size, &used, "--cmdline");
	append_word(buf, size, &used, o->cmdline);
}
