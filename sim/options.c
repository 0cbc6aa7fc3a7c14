/*
 * options.c — doppel-sim's command line: the machine description (CPUs, memory,
 * APIC IDs, ACPI shape and faults), the seed, and the kernel command line.
 * Every rejected option gets one message naming it, the bad value and what is
 * allowed, and exit code 64 (sysexits EX_USAGE). docs/sim.md lists the options.
 * Each option is one entry of sim_opts[] (name, argument, parser, help, replay
 * writer): getopt's table, --help and the replay line are generated from it.
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
	[SIM_FAULT_AP_LATE] = "ap-late",
	[SIM_FAULT_COUNT] = NULL,
};

static const char *const fault_args[SIM_FAULT_COUNT] = {
	[SIM_FAULT_AP_IGNORE_FIRST_SIPI] = "APICID",
	[SIM_FAULT_AP_DEAD] = "APICID",
	[SIM_FAULT_ESR_SEND_ERROR] = "APICID",
	[SIM_FAULT_SPURIOUS_STORM] = "CPU",
	[SIM_FAULT_LATE_IPI] = "MICROSECONDS",
	[SIM_FAULT_AP_LATE] = "APICID",
};

static const char *const fault_help[SIM_FAULT_COUNT] = {
	[SIM_FAULT_AP_IGNORE_FIRST_SIPI] = "that AP ignores the first SIPI it would accept",
	[SIM_FAULT_AP_DEAD] = "that AP ignores INIT and SIPI: it never starts",
	[SIM_FAULT_ESR_SEND_ERROR] = "IPIs to it are not accepted (ESR send-accept error): it never starts",
	[SIM_FAULT_SPURIOUS_STORM] = "1000 spurious-vector interrupts to CPU (MADT order) once its LAPIC is enabled",
	[SIM_FAULT_LATE_IPI] = "fixed IPIs reach their target that many microseconds late",
	[SIM_FAULT_AP_LATE] = "that AP accepts its SIPI but runs its first instruction 1.5 s later",
};

const char *sim_fault_name(enum sim_fault_kind k)
{
	return (unsigned)k < SIM_FAULT_COUNT ? fault_names[k] : "?";
}

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

/* ---- the option table ---------------------------------------------------------
 * Each option is written once, as one entry of sim_opts[]: its name, its argument,
 * how it is parsed, its help text and how it is written back into the replay line.
 * getopt's table, --help and the replay command are all generated from it.
 */

struct parse_state {                    /* what the cross-option checks need to know */
	bool rev_given, cmdline_given, sched_given;
};

struct replay {                         /* the replay line being built */
	char *buf;
	size_t size, used;
	uint64_t seed;                  /* the seed to replay (det --runs: each seed) */
	bool replay;                    /* add --replay (det mode) */
};

struct sim_opt {
	const char *name;               /* long option, without "--" */
	const char *arg;                /* its argument's name in --help; NULL: a flag */
	void (*parse)(struct sim_options *o, const char *arg, struct parse_state *st);
	/* Help: a printf format with at most one %llu (help_val); each line after the
	 * first is indented to the text column. help_more prints lists below it. */
	const char *help;
	unsigned long long help_val;
	void (*help_more)(void);
	/* Write the option back as words (nothing when at its default); NULL: the
	 * option does not belong in a replay (--help, --console, --runs, ...). */
	void (*replay)(const struct sim_options *o, struct replay *r);
};

static void word(struct replay *r, const char *s)
{
	append_word(r->buf, r->size, &r->used, s);
}

static void wordf(struct replay *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wordf(struct replay *r, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	word(r, tmp);
}

/* ---- one parser and one replay writer per option, in --help order ---- */

static void p_cpus(struct sim_options *o, const char *arg, struct parse_state *st)
{
	uint64_t v;
	if (parse_u64(arg, &v) != 0 || v < 1 || v > SIM_MAX_CPUS)
		usage_error("--cpus: '%s' is not a CPU count from 1 to %u", arg, SIM_MAX_CPUS);
	o->cpus = (unsigned)v;
}
static void r_cpus(const struct sim_options *o, struct replay *r)
{
	word(r, "--cpus");
	wordf(r, "%u", o->cpus);
}

static void p_mem(struct sim_options *o, const char *arg, struct parse_state *st)
{
	o->mem = parse_mem(arg);
}
static void r_mem(const struct sim_options *o, struct replay *r)
{
	char tmp[32];
	sim_format_size(o->mem, tmp, sizeof(tmp));
	word(r, "--mem");
	word(r, tmp);
}

static void p_seed(struct sim_options *o, const char *arg, struct parse_state *st)
{
	if (parse_u64(arg, &o->seed) != 0)
		usage_error("--seed: '%s' is not an unsigned 64-bit number (decimal or 0x hex)", arg);
	o->seed_given = true;
}
static void r_seed(const struct sim_options *o, struct replay *r)
{
	word(r, "--seed");
	wordf(r, "%llu", (unsigned long long)r->seed);
}

static void p_apic_ids(struct sim_options *o, const char *arg, struct parse_state *st)
{
	o->apic_layout = parse_choice("--apic-ids", arg, acpi_gen_layout_parse, acpi_gen_layout_names());
}
static void r_apic_ids(const struct sim_options *o, struct replay *r)
{
	word(r, "--apic-ids");
	word(r, acpi_gen_layout_name((enum acpi_gen_layout)o->apic_layout));
}

static void p_acpi_rev(struct sim_options *o, const char *arg, struct parse_state *st)
{
	if (strcmp(arg, "0") == 0)
		o->acpi_rev = 0;
	else if (strcmp(arg, "2") == 0)
		o->acpi_rev = 2;
	else
		usage_error("--acpi-rev: '%s' is not one of: 0 | 2", arg);
	st->rev_given = true;
}
static void r_acpi_rev(const struct sim_options *o, struct replay *r)
{
	word(r, "--acpi-rev");
	word(r, o->acpi_rev ? "2" : "0");
}

static void p_acpi_break(struct sim_options *o, const char *arg, struct parse_state *st)
{
	o->acpi_break = parse_choice("--acpi-break", arg, acpi_gen_break_parse, acpi_gen_break_names());
}
static void h_acpi_break(void)
{
	const char *const *names = acpi_gen_break_names();
	for (unsigned i = 0; names[i]; i++)
		printf("      %-20s %s\n", names[i], acpi_gen_break_help((enum acpi_gen_break)i));
}
static void r_acpi_break(const struct sim_options *o, struct replay *r)
{
	word(r, "--acpi-break");
	word(r, acpi_gen_break_name((enum acpi_gen_break)o->acpi_break));
}

static void p_rsdp(struct sim_options *o, const char *arg, struct parse_state *st)
{
	if (strcmp(arg, "hint") == 0)
		o->rsdp = SIM_RSDP_HINT;
	else if (strcmp(arg, "scan") == 0)
		o->rsdp = SIM_RSDP_SCAN;
	else
		usage_error("--rsdp: '%s' is not one of: hint | scan", arg);
}
static void r_rsdp(const struct sim_options *o, struct replay *r)
{
	word(r, "--rsdp");
	word(r, o->rsdp == SIM_RSDP_SCAN ? "scan" : "hint");
}

static void p_cmdline(struct sim_options *o, const char *arg, struct parse_state *st)
{
	set_cmdline(o, arg, "--cmdline");
	st->cmdline_given = true;
}
/* --cmdline keeps the exact bytes (spacing included); always given, even empty,
 * so the replay never picks up words from elsewhere. */
static void r_cmdline(const struct sim_options *o, struct replay *r)
{
	word(r, "--cmdline");
	word(r, o->cmdline);
}

static void p_console(struct sim_options *o, const char *arg, struct parse_state *st)
{
	if (!*arg)
		usage_error("--console: '' is not a file name");
	o->console_path = arg;
}

static void p_dump_acpi(struct sim_options *o, const char *arg, struct parse_state *st)
{
	if (!*arg)
		usage_error("--dump-acpi: '' is not a directory name");
	o->dump_acpi_dir = arg;
}
static void r_dump_acpi(const struct sim_options *o, struct replay *r)
{
	if (!o->dump_acpi_dir)
		return;
	word(r, "--dump-acpi");
	word(r, o->dump_acpi_dir);
}

static void p_numa(struct sim_options *o, const char *arg, struct parse_state *st)
{
	uint64_t v;
	if (parse_u64(arg, &v) != 0 || v < 1 || v > SIM_MAX_NUMA)
		usage_error("--numa: '%s' is not a node count from 1 to %u", arg, SIM_MAX_NUMA);
	o->numa_nodes = (unsigned)v;
}
static void r_numa(const struct sim_options *o, struct replay *r)
{
	if (!o->numa_nodes)
		return;
	word(r, "--numa");
	wordf(r, "%u", o->numa_nodes);
}

static void p_cpu_features(struct sim_options *o, const char *arg, struct parse_state *st)
{
	parse_features(o, arg);
}
static void r_cpu_features(const struct sim_options *o, struct replay *r)
{
	if (!o->no_x2apic && !o->no_tsc_deadline)
		return;
	word(r, "--cpu-features");
	wordf(r, "%s%s%s", o->no_x2apic ? "no-x2apic" : "",
	      o->no_x2apic && o->no_tsc_deadline ? "," : "",
	      o->no_tsc_deadline ? "no-tsc-deadline" : "");
}

static void p_fault(struct sim_options *o, const char *arg, struct parse_state *st)
{
	parse_fault(o, arg);
}
static void h_fault(void)
{
	for (unsigned i = 0; i < SIM_FAULT_COUNT; i++) {
		char name[64];
		snprintf(name, sizeof(name), "%s=%s", fault_names[i], fault_args[i]);
		printf("      %-30s %s\n", name, fault_help[i]);
	}
}
static void r_fault(const struct sim_options *o, struct replay *r)
{
	for (unsigned i = 0; i < o->nfaults; i++) {
		word(r, "--fault");
		wordf(r, "%s=%llu", sim_fault_name(o->faults[i].kind),
		      (unsigned long long)o->faults[i].arg);
	}
}

static void p_mode(struct sim_options *o, const char *arg, struct parse_state *st)
{
	if (strcmp(arg, "det") == 0)
		o->det = true;
	else if (strcmp(arg, "free") == 0)
		o->det = false;
	else
		usage_error("--mode: '%s' is not one of: free | det", arg);
}
static void r_mode(const struct sim_options *o, struct replay *r)
{
	if (!o->det)
		return;
	word(r, "--mode");
	word(r, "det");
}

static void p_sched(struct sim_options *o, const char *arg, struct parse_state *st)
{
	uint64_t v;
	if (strcmp(arg, "random") == 0) {
		o->sched_pct = false;
	} else if (strncmp(arg, "pct:", 4) == 0 && parse_u64(arg + 4, &v) == 0 && v >= 1 && v <= 16) {
		o->sched_pct = true;
		o->pct_depth = (unsigned)v;
	} else {
		usage_error("--sched: '%s' is not 'random' or 'pct:D' with D from 1 to 16", arg);
	}
	st->sched_given = true;
}
static void r_sched(const struct sim_options *o, struct replay *r)
{
	if (!o->det)
		return;
	word(r, "--sched");
	if (o->sched_pct)
		wordf(r, "pct:%u", o->pct_depth);
	else
		word(r, "random");
}

static void p_pct_k(struct sim_options *o, const char *arg, struct parse_state *st)
{
	uint64_t v;
	if (parse_u64(arg, &v) != 0 || v < 1 || v > (1ull << 40))
		usage_error("--pct-k: '%s' is not a step count from 1 to 2^40", arg);
	o->pct_k = v;
}
static void r_pct_k(const struct sim_options *o, struct replay *r)
{
	if (!o->det)
		return;
	word(r, "--pct-k");
	wordf(r, "%llu", (unsigned long long)o->pct_k);
}

static void p_max_steps(struct sim_options *o, const char *arg, struct parse_state *st)
{
	uint64_t v;
	if (parse_u64(arg, &v) != 0 || v < 1)
		usage_error("--max-steps: '%s' is not a positive step count", arg);
	o->max_steps = v;
}
static void r_max_steps(const struct sim_options *o, struct replay *r)
{
	if (!o->det)
		return;
	word(r, "--max-steps");
	wordf(r, "%llu", (unsigned long long)o->max_steps);
}

static void p_runs(struct sim_options *o, const char *arg, struct parse_state *st)
{
	uint64_t v;
	if (parse_u64(arg, &v) != 0 || v < 1 || v > (1ull << 32))
		usage_error("--runs: '%s' is not a run count from 1 to 2^32", arg);
	o->runs = v;
}

static void p_replay(struct sim_options *o, const char *arg, struct parse_state *st)
{
	o->replay = true;
}
static void r_replay(const struct sim_options *o, struct replay *r)
{
	if (o->det && r->replay)
		word(r, "--replay");
}

static void p_check_det(struct sim_options *o, const char *arg, struct parse_state *st)
{
	o->check_determinism = true;
}

static void p_fault_sites(struct sim_options *o, const char *arg, struct parse_state *st)
{
	const char *eq = strrchr(arg, '=');
	char *end;
	double p;

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(o->fault_sites[0].glob))
		usage_error("--fault-sites: '%s' is not GLOB=PROB (a site glob up to 63 "
		            "characters, a probability from 0 to 1)", arg);
	p = strtod(eq + 1, &end);
	if (!eq[1] || *end || !(p >= 0.0 && p <= 1.0))
		usage_error("--fault-sites: '%s': the probability must be from 0 to 1", arg);
	if (o->nfault_sites == SIM_MAX_FAULTS)
		usage_error("--fault-sites: '%s': at most %u", arg, SIM_MAX_FAULTS);
	memcpy(o->fault_sites[o->nfault_sites].glob, arg, (size_t)(eq - arg));
	o->fault_sites[o->nfault_sites].glob[eq - arg] = '\0';
	o->fault_sites[o->nfault_sites++].prob = p;
}
static void r_fault_sites(const struct sim_options *o, struct replay *r)
{
	for (unsigned i = 0; i < o->nfault_sites; i++) {
		word(r, "--fault-sites");
		wordf(r, "%s=%.17g", o->fault_sites[i].glob, o->fault_sites[i].prob);
	}
}

static void p_fail_nth(struct sim_options *o, const char *arg, struct parse_state *st)
{
	uint64_t v;
	if (parse_u64(arg, &v) != 0 || v < 1)
		usage_error("--fail-nth: '%s' is not a positive hit number", arg);
	o->fail_nth = v;
}
static void r_fail_nth(const struct sim_options *o, struct replay *r)
{
	if (!o->fail_nth)
		return;
	word(r, "--fail-nth");
	wordf(r, "%llu", (unsigned long long)o->fail_nth);
}

static void p_pci(struct sim_options *o, const char *arg, struct parse_state *st)
{
	if (strcmp(arg, "default") == 0)
		o->pci_set = SIM_PCI_DEFAULT;
	else if (strcmp(arg, "none") == 0)
		o->pci_set = SIM_PCI_NONE;
	else if (strcmp(arg, "shared-intx") == 0)
		o->pci_set = SIM_PCI_SHARED_INTX;
	else
		usage_error("--pci: '%s' is not one of: default | none | shared-intx", arg);
}
static void r_pci(const struct sim_options *o, struct replay *r)
{
	word(r, "--pci");
	word(r, o->pci_set == SIM_PCI_NONE ? "none"
	        : o->pci_set == SIM_PCI_SHARED_INTX ? "shared-intx" : "default");
}

static void p_pci_hostile(struct sim_options *o, const char *arg, struct parse_state *st)
{
	parse_hostile(o, arg);
}
static void r_pci_hostile(const struct sim_options *o, struct replay *r)
{
	char list[128] = "";
	size_t l = 0;

	if (!o->pci_hostile)
		return;
	for (unsigned k = 0; hostile_names[k]; k++)
		if (o->pci_hostile & (1u << k))
			l += (size_t)snprintf(list + l, sizeof(list) - l, "%s%s", l ? "," : "",
			                      hostile_names[k]);
	word(r, "--pci-hostile");
	word(r, list);
}

static void p_no_mcfg(struct sim_options *o, const char *arg, struct parse_state *st)
{
	o->no_mcfg = true;
}
static void r_no_mcfg(const struct sim_options *o, struct replay *r)
{
	if (o->no_mcfg)
		word(r, "--no-mcfg");
}

static void p_pci_dump_config(struct sim_options *o, const char *arg, struct parse_state *st)
{
	if (!*arg)
		usage_error("--pci-dump-config: '' is not a file name");
	o->pci_dump_path = arg;
}

/* A disk size with a K/M/G/T suffix, 4K..1T, a multiple of 4K (opt names the option
 * in the message). */
static uint64_t parse_disk_size(const char *opt, const char *spec, const char *v)
{
	char num[32];
	size_t len = strlen(v);
	uint64_t n, mult = 1;

	if (len == 0 || len >= sizeof(num))
		goto bad;
	memcpy(num, v, len + 1);
	switch (num[len - 1]) {
	case 'k': case 'K': mult = 1ull << 10; break;
	case 'm': case 'M': mult = 1ull << 20; break;
	case 'g': case 'G': mult = 1ull << 30; break;
	case 't': case 'T': mult = 1ull << 40; break;
	default: break;
	}
	if (mult != 1)
		num[len - 1] = '\0';
	if (parse_u64(num, &n) != 0 || n == 0 || n > SIM_NVME_SIZE_MAX / mult ||
	    (n * mult) % 4096)
		goto bad;
	return n * mult;
bad:
	usage_error("%s: '%s': size '%s' is not a size with K/M/G/T suffix, 4K..1T, a "
	            "multiple of 4K", opt, spec, v);
}

/* --nvme FILE|mem[,size=S][,ns=K][,queues=Q][,lbads=9|12] | none */

static void p_nvme(struct sim_options *o, const char *arg, struct parse_state *st)
{
	struct sim_nvme n = { NULL, 64ull << 20, 1, 64, 9 };
	const char *p = arg, *comma = strchr(arg, ',');
	size_t first = comma ? (size_t)(comma - arg) : strlen(arg);

	if (strcmp(arg, "none") == 0) {
		if (o->nnvme)
			usage_error("--nvme: 'none' with other --nvme controllers");
		o->nvme_none = true;
		return;
	}
	if (o->nvme_none)
		usage_error("--nvme: '%s' after --nvme none", arg);
	if (o->nnvme == SIM_MAX_NVME)
		usage_error("--nvme: '%s': at most %u controllers", arg, SIM_MAX_NVME);
	if (first == 0)
		usage_error("--nvme: '%s': the first part must be a file name or 'mem'", arg);
	if (!(first == 3 && strncmp(arg, "mem", 3) == 0)) {
		n.path = strndup(arg, first);
		if (!n.path)
			usage_error("--nvme: '%s': out of memory", arg);
	}
	p = comma;
	while (p && *p == ',') {
		char part[64];
		const char *end = strchr(p + 1, ',');
		size_t len = end ? (size_t)(end - p - 1) : strlen(p + 1);
		char *eq;
		uint64_t v;

		if (len == 0 || len >= sizeof(part))
			usage_error("--nvme: '%s': empty or too long part after a comma", arg);
		memcpy(part, p + 1, len);
		part[len] = '\0';
		eq = strchr(part, '=');
		if (!eq)
			usage_error("--nvme: '%s': part '%s' is not KEY=VALUE (size, ns, queues, lbads)",
			            arg, part);
		*eq = '\0';
		if (strcmp(part, "size") == 0) {
			n.size = parse_disk_size("--nvme", arg, eq + 1);
		} else if (strcmp(part, "ns") == 0) {
			if (parse_u64(eq + 1, &v) != 0 || v < 1 || v > 16)
				usage_error("--nvme: '%s': ns '%s' is not a namespace count 1..16", arg,
				            eq + 1);
			n.ns = (unsigned)v;
		} else if (strcmp(part, "queues") == 0) {
			if (parse_u64(eq + 1, &v) != 0 || v < 1 || v > 64)
				usage_error("--nvme: '%s': queues '%s' is not an I/O queue count 1..64",
				            arg, eq + 1);
			n.queues = (unsigned)v;
		} else if (strcmp(part, "lbads") == 0) {
			if (parse_u64(eq + 1, &v) != 0 || (v != 9 && v != 12))
				usage_error("--nvme: '%s': lbads '%s' is not 9 (512 B) or 12 (4 KiB)",
				            arg, eq + 1);
			n.lbads = (unsigned)v;
		} else {
			usage_error("--nvme: '%s': unknown key '%s' (size, ns, queues, lbads)", arg,
			            part);
		}
		p = end;
	}
	if ((n.size / n.ns) >> n.lbads == 0)
		usage_error("--nvme: '%s': a namespace would be smaller than one block", arg);
	o->nvme[o->nnvme++] = n;
}
static void r_nvme(const struct sim_options *o, struct replay *r)
{
	if (o->nvme_none) {
		word(r, "--nvme");
		word(r, "none");
	}
	for (unsigned i = 0; i < o->nnvme; i++) {
		const struct sim_nvme *n = &o->nvme[i];
		char spec[512];

		snprintf(spec, sizeof(spec), "%s,size=%lluK,ns=%u,queues=%u,lbads=%u",
		         n->path ? n->path : "mem", (unsigned long long)(n->size >> 10), n->ns,
		         n->queues, n->lbads);
		word(r, "--nvme");
		word(r, spec);
	}
}

/* --ahci FILE|mem[,port=P][,size=S][,ncq=0|1] | none */
static void p_ahci(struct sim_options *o, const char *arg, struct parse_state *st)
{
	struct sim_ahci a = { NULL, 64ull << 20, 0, true };
	const char *p, *comma = strchr(arg, ',');
	size_t first = comma ? (size_t)(comma - arg) : strlen(arg);
	bool port_given = false;
	unsigned used = 0;

	if (strcmp(arg, "none") == 0) {
		if (o->nahci)
			usage_error("--ahci: 'none' with other --ahci disks");
		o->ahci_none = true;
		return;
	}
	if (o->ahci_none)
		usage_error("--ahci: '%s' after --ahci none", arg);
	if (o->nahci == SIM_MAX_AHCI)
		usage_error("--ahci: '%s': at most %u disks (one per port)", arg, SIM_MAX_AHCI);
	if (first == 0)
		usage_error("--ahci: '%s': the first part must be a file name or 'mem'", arg);
	if (!(first == 3 && strncmp(arg, "mem", 3) == 0)) {
		a.path = strndup(arg, first);
		if (!a.path)
			usage_error("--ahci: '%s': out of memory", arg);
	}
	for (unsigned i = 0; i < o->nahci; i++)
		used |= 1u << o->ahci[i].port;
	for (p = comma; p && *p == ','; ) {
		char part[64];
		const char *end = strchr(p + 1, ',');
		size_t len = end ? (size_t)(end - p - 1) : strlen(p + 1);
		char *eq;
		uint64_t v;

		if (len == 0 || len >= sizeof(part))
			usage_error("--ahci: '%s': empty or too long part after a comma", arg);
		memcpy(part, p + 1, len);
		part[len] = '\0';
		eq = strchr(part, '=');
		if (!eq)
			usage_error("--ahci: '%s': part '%s' is not KEY=VALUE (port, size, ncq)", arg, part);
		*eq = '\0';
		if (strcmp(part, "port") == 0) {
			if (parse_u64(eq + 1, &v) != 0 || v >= SIM_MAX_AHCI)
				usage_error("--ahci: '%s': port '%s' is not a port 0..%u", arg, eq + 1,
				            SIM_MAX_AHCI - 1);
			a.port = (unsigned)v;
			port_given = true;
		} else if (strcmp(part, "size") == 0) {
			a.size = parse_disk_size("--ahci", arg, eq + 1);
		} else if (strcmp(part, "ncq") == 0) {
			if (strcmp(eq + 1, "0") != 0 && strcmp(eq + 1, "1") != 0)
				usage_error("--ahci: '%s': ncq '%s' is not 0 or 1", arg, eq + 1);
			a.ncq = eq[1] == '1';
		} else {
			usage_error("--ahci: '%s': unknown key '%s' (port, size, ncq)", arg, part);
		}
		p = end;
	}
	if (!port_given)
		while (used >> a.port & 1u)
			a.port++;
	if (used >> a.port & 1u)
		usage_error("--ahci: '%s': port %u already has a disk", arg, a.port);
	o->ahci[o->nahci++] = a;
}
static void r_ahci(const struct sim_options *o, struct replay *r)
{
	if (o->ahci_none) {
		word(r, "--ahci");
		word(r, "none");
	}
	for (unsigned i = 0; i < o->nahci; i++) {
		const struct sim_ahci *a = &o->ahci[i];
		char spec[512];

		snprintf(spec, sizeof(spec), "%s,port=%u,size=%lluK,ncq=%u", a->path ? a->path : "mem",
		         a->port, (unsigned long long)(a->size >> 10), a->ncq ? 1u : 0u);
		word(r, "--ahci");
		word(r, spec);
	}
}

/* --ahci-msi N: the HBA's MSI Multiple Message Capable (models/ahci/ahci.h) */
static void p_ahci_msi(struct sim_options *o, const char *arg, struct parse_state *st)
{
	uint64_t v;

	if (parse_u64(arg, &v) != 0 || (v != 1 && v != 8 && v != 16 && v != 32))
		usage_error("--ahci-msi: '%s' is not 1, 8, 16 or 32 (one message, or one per port "
		            "of the six)", arg);
	o->ahci_msi = (unsigned)v;
}
static void r_ahci_msi(const struct sim_options *o, struct replay *r)
{
	char n[16];

	if (o->ahci_msi <= 1)
		return;
	snprintf(n, sizeof(n), "%u", o->ahci_msi);
	word(r, "--ahci-msi");
	word(r, n);
}

static void p_iommu(struct sim_options *o, const char *arg, struct parse_state *st)
{
	if (strcmp(arg, "vtd") == 0)
		o->iommu_none = false;
	else if (strcmp(arg, "none") == 0)
		o->iommu_none = true;
	else
		usage_error("--iommu: '%s' is not one of: vtd | none", arg);
}
static void r_iommu(const struct sim_options *o, struct replay *r)
{
	word(r, "--iommu");
	word(r, o->iommu_none ? "none" : "vtd");
}

static void p_vtd_cm(struct sim_options *o, const char *arg, struct parse_state *st)
{
	o->vtd_caching_mode = true;
}
static void r_vtd_cm(const struct sim_options *o, struct replay *r)
{
	if (o->vtd_caching_mode)
		word(r, "--vtd-caching-mode");
}

static void p_vtd_no_qi(struct sim_options *o, const char *arg, struct parse_state *st)
{
	o->vtd_no_qi = true;
}
static void r_vtd_no_qi(const struct sim_options *o, struct replay *r)
{
	if (o->vtd_no_qi)
		word(r, "--vtd-no-qi");
}

static void p_dmar_rmrr(struct sim_options *o, const char *arg, struct parse_state *st)
{
	parse_rmrr(o, arg);
}
static void r_dmar_rmrr(const struct sim_options *o, struct replay *r)
{
	for (unsigned i = 0; i < o->nrmrr; i++) {
		const struct sim_rmrr *m = &o->rmrr[i];
		word(r, "--dmar-rmrr");
		wordf(r, "0x%llx:0x%llx@%02x:%02x.%x", (unsigned long long)m->base,
		      (unsigned long long)m->limit, m->bus, m->dev, m->fn);
	}
}

static void p_help(struct sim_options *o, const char *arg, struct parse_state *st);

static const struct sim_opt sim_opts[] = {
	{ "cpus", "N", p_cpus, "CPUs, 1..%llu (default 4)", SIM_MAX_CPUS, NULL, r_cpus },
	{ "mem", "SIZE", p_mem, "RAM with K/M/G suffix, 16M..64G, a multiple of 4K (default 256M)",
	  0, NULL, r_mem },
	{ "seed", "S", p_seed, "root seed of all randomness, u64 decimal or 0x hex\n"
	  "(default: from the clock; always printed)", 0, NULL, r_seed },
	{ "apic-ids", "LAYOUT", p_apic_ids, "dense | sparse | dup (default dense)", 0, NULL, r_apic_ids },
	{ "acpi-rev", "R", p_acpi_rev, "0 (RSDP v1, RSDT only) | 2 (RSDP v2, XSDT) (default 2)",
	  0, NULL, r_acpi_rev },
	{ "acpi-break", "KIND", p_acpi_break, "inject one ACPI fault (default none):", 0,
	  h_acpi_break, r_acpi_break },
	{ "rsdp", "MODE", p_rsdp, "hint (boot_info carries the RSDP address, like GRUB's\n"
	  "multiboot2 tag 15/14) | scan (kernel searches the BIOS area)\n(default hint)",
	  0, NULL, r_rsdp },
	{ "cmdline", "STR", p_cmdline, "kernel command line (or give it as trailing words)",
	  0, NULL, r_cmdline },
	{ "console", "FILE", p_console, "also write the console to FILE", 0, NULL, NULL },
	{ "dump-acpi", "DIR", p_dump_acpi, "write the generated ACPI tables as DIR/SIG.dat and exit 0",
	  0, NULL, r_dump_acpi },
	{ "numa", "N", p_numa, "SRAT with N proximity domains, CPUs and memory split evenly,\n"
	  "1..%llu and at most --cpus (default: no SRAT)", SIM_MAX_NUMA, NULL, r_numa },
	{ "cpu-features", "LIST", p_cpu_features, "comma list of CPUID features to remove: no-x2apic,\n"
	  "no-tsc-deadline", 0, NULL, r_cpu_features },
	{ "fault", "NAME[=ARG]", p_fault, "inject a platform fault (repeatable, at most %llu):",
	  SIM_MAX_FAULTS, h_fault, r_fault },
	{ "mode", "MODE", p_mode, "free (CPUs in parallel, default) | det (one CPU at a time,\n"
	  "a seeded scheduler picks who runs at each switch point)", 0, NULL, r_mode },
	{ "sched", "S", p_sched, "det: random | pct:D (PCT with depth D, 1..16) (default pct:3)",
	  0, NULL, r_sched },
	{ "pct-k", "K", p_pct_k, "det: choice steps over which PCT draws its D-1 change\n"
	  "points (default %llu)", SIM_DET_PCT_K_DEFAULT, NULL, r_pct_k },
	{ "max-steps", "N", p_max_steps, "det: a run longer than N steps is a livelock, status 4\n"
	  "(default %llu)", SIM_DET_MAX_STEPS_DEFAULT, NULL, r_max_steps },
	{ "runs", "R", p_runs, "det: run seeds S..S+R-1, a forked child each; stop at the\n"
	  "first failing seed", 0, NULL, NULL },
	{ "replay", NULL, p_replay, "det: rerun one seed and print the decision trace on failure",
	  0, NULL, r_replay },
	{ "check-determinism", NULL, p_check_det, "det: run each seed twice and compare the trace hashes",
	  0, NULL, NULL },
	{ "fault-sites", "G=P", p_fault_sites, "fail hits of fault sites matching glob G with probability P\n"
	  "(0..1; repeatable, at most %llu)", SIM_MAX_FAULTS, NULL, r_fault_sites },
	{ "fail-nth", "N", p_fail_nth, "fail exactly the Nth fault-site hit of the run", 0, NULL,
	  r_fail_nth },
	{ "pci", "SET", p_pci, "PCI devices: default (edu, NVMe, a root port with the\n"
	  "testdev behind it, q35's LPC bridge at 00:1f.0 and AHCI\n"
	  "HBA at 00:1f.2; docs/pci.md) | none (host bridge only)\n"
	  "| shared-intx (default plus a second edu at 00:06.0 on\n"
	  "the INTx line (GSI 18) of the edu at 00:02.0)", 0, NULL, r_pci },
	{ "pci-hostile", "LIST", p_pci_hostile, "comma list of hostile endpoints to add on bus 0 from slot\n"
	  "0x10: cap-loop, cap-in-header, bar-ones, msix-no-bar, vanish", 0, NULL, r_pci_hostile },
	{ "no-mcfg", NULL, p_no_mcfg, "no MCFG table and no ECAM window: only ports 0xCF8/0xCFC",
	  0, NULL, r_no_mcfg },
	{ "pci-dump-config", "FILE", p_pci_dump_config, "at exit, write every function's config space in\n"
	  "lspci -xxxx format (for lspci -F FILE -vv)", 0, NULL, NULL },
	{ "nvme", "SPEC", p_nvme, "an NVMe controller (repeatable, at most %llu; the first at\n"
	  "00:03.0, then 00:05.0, 00:07.0, 00:08.0): FILE|mem[,size=S]\n"
	  "[,ns=K][,queues=Q][,lbads=9|12]: backing file (created)\n"
	  "or sparse memory, S bytes K/M/G/T split over K namespaces,\n"
	  "Q I/O queue pairs, 512 B or 4 KiB blocks (default mem,\n"
	  "size=64M,ns=1,queues=64,lbads=9); none: no NVMe at all",
	  SIM_MAX_NVME, NULL, r_nvme },
	{ "ahci", "SPEC", p_ahci, "a SATA disk on the AHCI HBA at 00:1f.2 (repeatable, at most\n"
	  "%llu, one per port): FILE|mem[,port=P][,size=S][,ncq=0|1]:\n"
	  "backing file (created) or sparse memory, port P (default\n"
	  "the next free one), S bytes K/M/G/T, NCQ offered or not\n"
	  "(default mem,size=64M,ncq=1); without --ahci one memory\n"
	  "disk on port 0; none: the HBA with six empty ports",
	  SIM_MAX_AHCI, NULL, r_ahci },
	{ "ahci-msi", "N", p_ahci_msi, "MSI messages the AHCI HBA offers: 1 (as ICH9 and QEMU,\n"
	  "default) | 8 | 16 | 32 (port i on message i once software\n"
	  "enables 8 or more; fewer: all on message 0, GHC.MRSM set)", 0, NULL, r_ahci_msi },
	{ "iommu", "vtd|none", p_iommu, "a VT-d unit at 0xFED90000 and its DMAR (default vtd), or\n"
	  "none: device DMA reaches RAM untranslated (docs/iommu.md)", 0, NULL, r_iommu },
	{ "vtd-caching-mode", NULL, p_vtd_cm, "VT-d CAP.CM = 1: not-present entries may be cached",
	  0, NULL, r_vtd_cm },
	{ "vtd-no-qi", NULL, p_vtd_no_qi, "VT-d ECAP.QI = 0: register-based invalidation only",
	  0, NULL, r_vtd_no_qi },
	{ "dmar-rmrr", "BASE:LIMIT@BB:DD.F", p_dmar_rmrr, "add an RMRR (VT-d §8.4) for [BASE, LIMIT] (hex,\n"
	  "BASE and LIMIT+1 4 KiB aligned) naming endpoint BB:DD.F;\n"
	  "reserved in the memory map where it is RAM (up to %llu)", SIM_MAX_RMRR, NULL, r_dmar_rmrr },
	{ "help", NULL, p_help, "this text", 0, NULL, NULL },
	{ NULL, NULL, NULL, NULL, 0, NULL, NULL },
};

#define SIM_NOPTS (sizeof(sim_opts) / sizeof(sim_opts[0]) - 1)
#define HELP_COLUMN 23                  /* where the help text starts */

static void print_help(void)
{
	printf("usage: doppel-sim [options] [--] [kernel command line words...]\n"
	       "Runs the Doppel kernel on a simulated x86_64 machine (docs/sim.md).\n"
	       "\n");
	for (const struct sim_opt *d = sim_opts; d->name; d++) {
		char head[64], text[512];
		const char *line = text;

		snprintf(head, sizeof(head), "  --%s%s%s", d->name, d->arg ? " " : "",
		         d->arg ? d->arg : "");
		snprintf(text, sizeof(text), d->help, d->help_val);
		/* The first help line beside the option, or below it when the option is long. */
		if ((int)strlen(head) < HELP_COLUMN - 1)
			printf("%-*s", HELP_COLUMN, head);
		else
			printf("%s  ", head);
		for (;;) {
			const char *nl = strchr(line, '\n');
			printf("%.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
			if (!nl)
				break;
			line = nl + 1;
			printf("%*s", HELP_COLUMN, "");
		}
		if (d->help_more)
			d->help_more();
	}
	printf("\n"
	       "Exit code: the kernel's status 0..3 (pass, test failed, panic, boot error);\n"
	       "64 bad option; 66 ASan, 67 UBSan, 68 TSan report; 70/71/74 sim setup errors;\n"
	       "SIGABRT when the sim catches a kernel bug (\"sim: FATAL: ...\").\n");
}

static void p_help(struct sim_options *o, const char *arg, struct parse_state *st)
{
	print_help();
	exit(0);
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
		for (const struct sim_opt *lo = sim_opts; lo->name && len; lo++) {
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


/* getopt_long's val for option i; above any character so '?'/':' stay apart. */
#define OPT_VAL(i) (0x100 + (int)(i))

/* Lock-order checking is on by default in the sim (docs/sim.md, docs/locks.md):
 * append `lockdep=1` to the kernel command line unless a `lockdep=` word is there. */
static void default_lockdep_on(struct sim_options *o)
{
	static const char word_on[] = "lockdep=1";
	size_t len = strlen(o->cmdline);

	for (const char *p = o->cmdline; (p = strstr(p, "lockdep=")) != NULL; p++)
		if (p == o->cmdline || p[-1] == ' ')
			return;
	if (len + (len ? 1 : 0) + sizeof word_on > BOOT_CMDLINE_MAX) {
		fprintf(stderr, "doppel-sim: no room for '%s' on the kernel command line (%zu bytes): "
		        "lock-order checking stays off\n", word_on, len);
		return;
	}
	if (len)
		o->cmdline[len++] = ' ';
	memcpy(o->cmdline + len, word_on, sizeof word_on);
}

void sim_options_parse(int argc, char **argv, struct sim_options *o)
{
	struct option long_opts[SIM_NOPTS + 1];
	struct parse_state st = { 0 };
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

	for (size_t i = 0; i < SIM_NOPTS; i++)
		long_opts[i] = (struct option){ sim_opts[i].name,
		                                sim_opts[i].arg ? required_argument : no_argument,
		                                NULL, OPT_VAL(i) };
	long_opts[SIM_NOPTS] = (struct option){ NULL, 0, NULL, 0 };

	opterr = 0;                     /* we word the errors ourselves */
	while ((c = getopt_long(argc, argv, ":", long_opts, NULL)) != -1) {
		if (c >= OPT_VAL(0) && c < OPT_VAL(SIM_NOPTS)) {
			sim_opts[c - OPT_VAL(0)].parse(o, optarg, &st);
			continue;
		}
		if (c == ':')
			usage_error("%s: missing value", argv[optind - 1]);
		if (optopt >= OPT_VAL(0))       /* a flag given a value: --no-mcfg=1 */
			usage_error("'%s': %.*s takes no value", argv[optind - 1],
			            (int)strcspn(argv[optind - 1], "="), argv[optind - 1]);
		if (optopt)
			usage_error("'-%c' is not an option", optopt);
		unknown_option(argv[optind - 1]);
	}

	/* Trailing words form the kernel command line, joined by single spaces. */
	if (optind < argc) {
		size_t total = 0, used = 0;

		if (st.cmdline_given)
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

	default_lockdep_on(o);

	/* Combinations. */
	if (o->acpi_break == ACPI_GEN_BREAK_RSDT_ONLY) {
		if (st.rev_given && o->acpi_rev != 0)
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
	if (!o->det && (st.sched_given || o->runs || o->replay || o->check_determinism))
		usage_error("--sched, --runs, --replay and --check-determinism need --mode det");
	if (o->replay && (o->runs > 1 || o->check_determinism))
		usage_error("--replay reruns exactly one seed: not with --runs %llu or "
		            "--check-determinism", (unsigned long long)o->runs);
	if (!o->seed_given)
		o->seed = default_seed();
}

static void replay_line(const struct sim_options *o, uint64_t seed, bool replay, char *buf,
                        size_t size)
{
	struct replay r = { .buf = buf, .size = size, .used = 0, .seed = seed, .replay = replay };

	buf[0] = '\0';
	word(&r, o->argv0);
	for (const struct sim_opt *d = sim_opts; d->name; d++)
		if (d->replay)
			d->replay(o, &r);
}

void sim_options_replay(const struct sim_options *o, char *buf, size_t size)
{
	replay_line(o, o->seed, o->replay, buf, size);
}

void sim_options_replay_det(const struct sim_options *o, uint64_t seed, char *buf, size_t size)
{
	replay_line(o, seed, true, buf, size);
}
