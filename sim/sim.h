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
	char cmdline[BOOT_CMDLINE_MAX];
	const char *argv0;
};

/* Parse argv into *o. Prints --help and exits 0, or prints one message naming the
 * option, the value and what is allowed, and exits SIM_EXIT_USAGE. */
void sim_options_parse(int argc, char **argv, struct sim_options *o);
/* The command line that replays this run, every option explicit (no --console). */
void sim_options_replay(const struct sim_options *o, char *buf, size_t size);
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

/* ---- firmware: BIOS data area, ACPI tables, memory map (firmware.c) ----------------- */

/* Fill guest memory and *bi from the options. Returns 0 or exits with a message. */
void sim_firmware_init(const struct sim_options *o, const uint32_t *apic_ids,
                       struct boot_info *bi);
/* Where the generated RSDP is (whether or not boot_info hands it over). */
uint64_t sim_firmware_rsdp(void);
/* --dump-acpi: write every generated table as DIR/SIG.dat. 0 or -errno. */
int sim_firmware_dump(const char *dir);

/* ---- CPUs (cpu.c) ------------------------------------------------------------------- */

/* Create ncpus CPUs; CPU 0 will run kmain, the others park until started. */
int sim_cpus_init(unsigned ncpus, const uint32_t *apic_ids);
/* Run kmain(bi) on CPU 0's thread (8 MiB stack); returns only on failure. */
int sim_cpus_boot(struct boot_info *bi);
unsigned sim_cpu_count(void);
/* Index of the calling CPU thread, or -1 if the caller is not a simulated CPU. */
int sim_cpu_self(void);
uint32_t sim_cpu_apic_id(unsigned cpu);
/* Start a parked AP at entry(arg) (the LAPIC model calls this on a SIPI).
 * 0, -EINVAL (no such CPU or CPU 0), -EBUSY (already started). */
int sim_cpu_start(unsigned cpu, void (*entry)(void *), void *arg);
/* A model that can raise interrupts registers once, so that a halt knows it may
 * be woken; sim_cpu_kick wakes a halted CPU. */
void sim_irq_source_add(void);
void sim_cpu_kick(unsigned cpu);
/* Is the CPU's interrupt flag set? (for delivery decisions) */
bool sim_cpu_irq_enabled(unsigned cpu);

/* ---- time --------------------------------------------------------------------------- */

#define SIM_TSC_HZ 2000000000ull    /* nominal virtual TSC frequency: 2 GHz */
/* Nanoseconds of CLOCK_MONOTONIC since the sim started. */
uint64_t sim_time_ns(void);
void sim_time_init(void);

#endif /* DOPPEL_SIM_H */
