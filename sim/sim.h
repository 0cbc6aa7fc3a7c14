/*
 * sim.h — doppel-sim's internal interfaces between its own files (options, guest
 * memory, CPUs, console, firmware). The kernel never includes this: it sees only
 * kernel/include/hal/hal.h. Models reach the machine through bus.h.
 */
#ifndef DOPPEL_SIM_H
#define DOPPEL_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"

/* Process exit codes of doppel-sim itself (kernel statuses 0..3 pass through;
 * sanitizers use 66..68, see sanitizer_options.c). */
#define SIM_EXIT_USAGE 64           /* bad option or value (sysexits EX_USAGE) */
#define SIM_EXIT_SOFTWARE 70        /* the sim could not build the machine */
#define SIM_EXIT_OSERR 71           /* mmap, thread or signal setup failed */
#define SIM_EXIT_IOERR 74           /* --dump-acpi could not write */

#define SIM_MAX_CPUS 256
#define SIM_MEM_MIN (16ull << 20)
#define SIM_MEM_MAX (64ull << 30)
#define SIM_MEM_DEFAULT (256ull << 20)

/* ---- options (options.c) ----------------------------------------------------------- */

enum sim_rsdp_mode { SIM_RSDP_HINT, SIM_RSDP_SCAN };

/* --fault NAME[=ARG] (repeatable). */
enum sim_fault_kind {
	SIM_FAULT_AP_IGNORE_FIRST_SIPI,     /* =APICID */
	SIM_FAULT_AP_DEAD,                  /* =APICID */
	SIM_FAULT_ESR_SEND_ERROR,           /* =APICID */
	SIM_FAULT_SPURIOUS_STORM,           /* =CPU slot */
	SIM_FAULT_LATE_IPI,                 /* =MICROSECONDS */
	SIM_FAULT_AP_LATE,                  /* =APICID */
	SIM_FAULT_COUNT
};
struct sim_fault {
	enum sim_fault_kind kind;
	uint64_t arg;
};
#define SIM_MAX_FAULTS 16
#define SIM_MAX_RMRR 4                  /* --dmar-rmrr: RMRRs in the DMAR */
#define SIM_MAX_NVME 4                  /* --nvme: controllers */
#define SIM_NVME_SIZE_MAX (1ull << 40)
#define SIM_MAX_AHCI 6                  /* --ahci: disks, one per port of the one HBA */
const char *sim_fault_name(enum sim_fault_kind k);

struct sim_options {
	unsigned cpus;
	uint64_t mem;                   /* bytes, multiple of 4 KiB */
	uint64_t seed;
	bool seed_given;
	int apic_layout;                /* enum acpi_gen_layout */
	int acpi_break;                 /* enum acpi_gen_break */
	unsigned acpi_rev;              /* 0 or 2 */
	enum sim_rsdp_mode rsdp;
	const char *console_path;       /* NULL: stdout only */
	const char *dump_acpi_dir;      /* non-NULL: write tables there and exit */
	unsigned numa_nodes;            /* 0: no SRAT; else SRAT with that many domains */
	bool no_x2apic;                 /* --cpu-features no-x2apic */
	bool no_tsc_deadline;           /* --cpu-features no-tsc-deadline */
	struct sim_fault faults[SIM_MAX_FAULTS];
	unsigned nfaults;
	char cmdline[BOOT_CMDLINE_MAX];
	const char *argv0;
	/* deterministic mode (docs/det.md) */
	bool det;                       /* --mode det */
	bool sched_pct;                 /* --sched pct:D (else random) */
	unsigned pct_depth;             /* D, 1..16 */
	uint64_t pct_k;                 /* --pct-k: estimated choice steps for change points */
	uint64_t max_steps;             /* --max-steps */
	uint64_t runs;                  /* --runs R (0: one run, no fork) */
	bool replay;                    /* --replay */
	bool check_determinism;         /* --check-determinism */
	/* fault-injection sites (kernel/fault.h) */
	struct sim_fault_site {
		char glob[64];
		double prob;
	} fault_sites[SIM_MAX_FAULTS];
	unsigned nfault_sites;
	uint64_t fail_nth;              /* --fail-nth N: fail the Nth site hit (0: off) */
	/* PCI (docs/pci.md) */
	enum sim_pci_set {              /* --pci SET */
		SIM_PCI_DEFAULT,            /* the docs/pci.md device set */
		SIM_PCI_NONE,               /* the host bridge only */
		SIM_PCI_SHARED_INTX,        /* default + a second edu on 00:02.0's INTx line */
	} pci_set;
	unsigned pci_hostile;           /* --pci-hostile: PCI_HOSTILE_* bits */
	bool no_mcfg;                   /* --no-mcfg: no MCFG, no ECAM window */
	const char *pci_dump_path;      /* --pci-dump-config FILE (at exit) */
	/* IOMMU (docs/iommu.md) */
	bool iommu_none;                /* --iommu none: no VT-d unit, no DMAR */
	bool vtd_caching_mode;          /* --vtd-caching-mode: CAP.CM = 1 */
	bool vtd_no_qi;                 /* --vtd-no-qi: ECAP.QI = 0 */
	/* --dmar-rmrr BASE:LIMIT@BB:DD.F: RMRRs in the DMAR (VT-d §8.4), each naming
	 * one endpoint; a range in RAM is reserved in the memory map */
	struct sim_rmrr {
		uint64_t base, limit;       /* inclusive: base and limit + 1 4 KiB aligned */
		uint8_t bus, dev, fn;
	} rmrr[SIM_MAX_RMRR];
	unsigned nrmrr;
	/* --nvme SPEC (repeatable): NVMe controllers on the root bus (docs/sim.md) */
	struct sim_nvme {
		char *path;                 /* backing file, NULL: memory */
		uint64_t size;              /* bytes over every namespace */
		unsigned ns, queues, lbads;
	} nvme[SIM_MAX_NVME];
	unsigned nnvme;
	bool nvme_none;                 /* --nvme none */
	/* --ahci SPEC (repeatable): SATA disks on the AHCI HBA at 00:1f.2 (docs/sim.md) */
	struct sim_ahci {
		char *path;                 /* backing file, NULL: memory */
		uint64_t size;              /* bytes */
		unsigned port;              /* 0..5 */
		bool ncq;
	} ahci[SIM_MAX_AHCI];
	unsigned nahci;
	bool ahci_none;                 /* --ahci none: the HBA with six empty ports */
	unsigned ahci_msi;              /* --ahci-msi N: MSI messages the HBA offers (1, 8, 16, 32) */
};

#define SIM_DET_MAX_STEPS_DEFAULT 50000000ull
#define SIM_DET_PCT_K_DEFAULT 2000ull

/* Parse argv into *o. Prints --help and exits 0, or prints one message naming the
 * option, the value and what is allowed, and exits SIM_EXIT_USAGE. */
void sim_options_parse(int argc, char **argv, struct sim_options *o);
/* The command line that replays this run, every option explicit (no --console). */
void sim_options_replay(const struct sim_options *o, char *buf, size_t size);
/* The replay command of seed in det mode, with --replay. */
void sim_options_replay_det(const struct sim_options *o, uint64_t seed, char *buf, size_t size);
/* "256M"-style text for a byte count (largest exact K/M/G unit). */
void sim_format_size(uint64_t bytes, char *buf, size_t size);

/* ---- console and diagnostics (console.c) ------------------------------------------- */

/* Open the --console tee file (NULL for none); 0 or -errno. */
int sim_console_init(const char *tee_path);
/* "sim: ..." line on the console (stdout and tee). */
void sim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "sim: warning: ..." line. */
void sim_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The simulator caught the kernel breaking a rule hardware would punish (or the
 * sim's own invariant broke): "sim: FATAL: ..." naming the CPU, a backtrace, then
 * abort() so gdb stops and sanitizer/core tooling sees it. */
void sim_fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Install the SIGSEGV/SIGBUS reporter (names MMIO-window touches). 0 or -errno. */
int sim_signals_init(void);

/* ---- guest physical memory (mem.c) ------------------------------------------------- */

int sim_mem_init(uint64_t size);
uint8_t *sim_mem_base(void);
uint64_t sim_mem_size(void);
/* First byte above the last RAM byte below 4 GiB, and the PCI hole (reserved). */
#define SIM_PCI_HOLE_START 0xB0000000ull
#define SIM_PCI_HOLE_END 0x100000000ull
/* Inside the hole: the ECAM window (256 buses x 1 MiB, as q35), then the BAR space
 * the firmware assigns from, up to the I/O APIC. */
#define SIM_ECAM_BASE 0xB0000000ull
#define SIM_ECAM_END 0xC0000000ull
#define SIM_PCI_MMIO_BASE 0xC0000000ull
#define SIM_PCI_MMIO_LIMIT 0xFEBFFFFFull
#define SIM_PCI_IO_BASE 0xC000u
#define SIM_PCI_IO_LIMIT 0xFFFFu

/* ---- firmware: BIOS data area, ACPI tables, memory map (firmware.c) ----------------- */

/* Fill guest memory and *bi from the options. Returns 0 or exits with a message. */
void sim_firmware_init(const struct sim_options *o, const uint32_t *apic_ids,
                       struct boot_info *bi);
/* Where the generated RSDP is (whether or not boot_info hands it over). */
uint64_t sim_firmware_rsdp(void);
/* --dump-acpi: write every generated table as DIR/SIG.dat. 0 or -errno. */
int sim_firmware_dump(const char *dir);

/* ---- CPUs (cpu.c) ------------------------------------------------------------------- */

/* What CPUID advertises (--cpu-features removes them). */
struct sim_cpu_features {
	bool x2apic;                    /* CPUID.1:ECX[21] */
	bool tsc_deadline;              /* CPUID.1:ECX[24] */
};
void sim_cpu_set_features(const struct sim_cpu_features *f);
const struct sim_cpu_features *sim_cpu_features(void);

/* Create ncpus CPUs; CPU 0 will run kmain, the others park until started. */
int sim_cpus_init(unsigned ncpus, const uint32_t *apic_ids);
/* Run kmain(bi) on CPU 0's thread (8 MiB stack); returns only on failure. */
int sim_cpus_boot(struct boot_info *bi);
unsigned sim_cpu_count(void);
/* The calling CPU's kernel index (hal_cpu_index), or -1 on a host thread. */
int sim_cpu_self(void);
/* The calling CPU's slot (position in the machine, MADT order), or -1. */
int sim_cpu_slot(void);
uint32_t sim_cpu_apic_id(unsigned slot);
/* The simulated CPU the calling host thread runs, or NULL (a host thread, or a
 * context parked by hal_ctx_switch). */
struct sim_cpu;
struct sim_cpu *sim_cpu_current(void);
/* The calling host thread now runs c (hal_ctx_switch hands a CPU over, ctx.c):
 * exactly one host thread runs a simulated CPU at any time. */
void sim_cpu_adopt(struct sim_cpu *c);
/* The SIPI vector hal_smp_prepare_ap returns: a trampoline page at 0x8000. */
#define SIM_SIPI_VECTOR 0x08u
/* The LAPIC model accepted a SIPI for slot: start that AP (fatal if the vector
 * or the missing hal_smp_prepare_ap make it run garbage on hardware). */
void sim_cpu_sipi(unsigned slot, uint8_t vector);
/* Fault ap-late: the APs with that APIC ID (among apic_ids[1..ncpus), the machine
 * to be) run their first instruction 1.5 s after the SIPI that started them.
 * Before sim_cpus_init. 0, or -EINVAL when no AP has that ID. */
int sim_cpu_fault_late(uint32_t apic_id, const uint32_t *apic_ids, unsigned ncpus);
/* Sim time at which the last AP was started (0: none yet). */
uint64_t sim_cpu_last_ap_start_ns(void);
/* Wake slot if it sleeps in hal_cpu_halt (so it looks at its LAPIC again). */
void sim_cpu_kick(unsigned slot);
/* A device model armed (+1) or disarmed (-1) a timer that may raise an interrupt:
 * while any is armed, all CPUs halted is not a hang. */
void sim_device_event_armed(int delta);
/* Is the CPU's interrupt flag set? (for delivery decisions) */
bool sim_cpu_irq_enabled(unsigned slot);
/* Deliver pending interrupts to the calling CPU if its interrupts are enabled:
 * every HAL call that stands for an instruction boundary calls it. */
void sim_irq_poll(void);

/* ---- devices: LAPIC, I/O APIC, PIT glue and faults (devices.c) --------------------- */

/* Build the platform's device models and claim their ranges on the bus. Exits
 * with a message on failure. */
void sim_devices_init(const struct sim_options *o, const uint32_t *apic_ids);
/* Deterministic mode: fire device events due at virtual time now (PIT IRQ0), and
 * the time of the next one (SIM_TIME_NEVER if none). */
void sim_devices_engine_step(uint64_t now);
uint64_t sim_devices_next_event_ns(void);
/* Every CPU halts: run one unit of pending device work now (no coin). True if any. */
bool sim_devices_run_pending(void);
/* Fault sites: set up from the options (after sim_rng_seed). */
void sim_fault_init(const struct sim_options *o);
/* Print the models' counters ("sim: lapic: ...") and bench figures, and write
 * --pci-dump-config; at exit. */
void sim_devices_report(void);

/* ---- vmap window and TLBs (vmap.c) ------------------------------------------------- */

int sim_vmap_init(unsigned ncpus);

/* ---- time --------------------------------------------------------------------------- */

#define SIM_TSC_HZ 2000000000ull    /* nominal virtual TSC frequency: 2 GHz */
/* Nanoseconds of CLOCK_MONOTONIC since the sim started: every model and the
 * TSC read time through this one function (a deterministic mode swaps it). */
uint64_t sim_time_ns(void);
#define SIM_TIME_NEVER UINT64_MAX
struct timespec;
/* The CLOCK_MONOTONIC instant of sim time t, for condition variables created
 * with that clock (the only place host time leaks out of sim_time_ns). */
void sim_time_abs(uint64_t t, struct timespec *ts);
void sim_time_init(void);

#endif /* DOPPEL_SIM_H */
