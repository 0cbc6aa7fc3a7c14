/*
 * main.c — doppel-sim: builds the simulated machine from the command line (memory,
 * firmware tables, device bus, CPUs), prints the seed and the replay command, and
 * runs the shared kernel's kmain on the boot CPU. docs/sim.md describes the machine.
 */
#include "sim_bus.h"
#include "det.h"
#include "rng.h"
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acpi/acpi_gen.h"

static struct boot_info boot_info;
static uint32_t apic_ids[SIM_MAX_CPUS];

static void die(int code, const char *what, int err)
{
	fprintf(stderr, "doppel-sim: %s: %s\n", what, strerror(-err));
	exit(code);
}

int main(int argc, char **argv)
{
	struct sim_options o;
	char replay[BOOT_CMDLINE_MAX * 5 + 1024];
	char memtxt[32];
	int err;

	sim_time_init();
	sim_options_parse(argc, argv, &o);
	sim_det_main(&o);               /* --runs: returns in each forked child */
	sim_rng_seed(o.seed);
	sim_det_init(&o, o.cpus);
	sim_fault_init(&o);

	if ((err = sim_console_init(o.console_path)) != 0) {
		fprintf(stderr, "doppel-sim: --console: cannot open '%s': %s (see --help)\n",
		        o.console_path, strerror(-err));
		exit(SIM_EXIT_USAGE);
	}
	/* The first two lines of every run: what to type to get this run again. */
	sim_log("seed=%llu", (unsigned long long)o.seed);
	sim_options_replay(&o, replay, sizeof(replay));
	sim_log("replay: %s", replay);

	if ((err = acpi_gen_apic_ids((enum acpi_gen_layout)o.apic_layout, o.cpus, apic_ids)) != 0)
		die(SIM_EXIT_SOFTWARE, "APIC ID layout", err);
	if ((err = sim_mem_init(o.mem)) != 0)
		die(SIM_EXIT_OSERR, "mapping guest memory", err);
	if ((err = sim_bus_init()) != 0)
		die(SIM_EXIT_OSERR, "reserving the MMIO window", err);
	if ((err = sim_signals_init()) != 0)
		die(SIM_EXIT_OSERR, "installing signal handlers", err);
	sim_firmware_init(&o, apic_ids, &boot_info);

	sim_format_size(o.mem, memtxt, sizeof(memtxt));
	sim_log("machine: cpus=%u mem=%s apic-ids=%s acpi-rev=%u acpi-break=%s rsdp=%s "
	        "rsdp-at=0x%llx numa=%u x2apic=%s tsc-deadline=%s", o.cpus, memtxt,
	        acpi_gen_layout_name((enum acpi_gen_layout)o.apic_layout), o.acpi_rev,
	        acpi_gen_break_name((enum acpi_gen_break)o.acpi_break),
	        o.rsdp == SIM_RSDP_SCAN ? "scan" : "hint",
	        (unsigned long long)sim_firmware_rsdp(), o.numa_nodes,
	        o.no_x2apic ? "off" : "on", o.no_tsc_deadline ? "off" : "on");

	if (o.dump_acpi_dir) {
		if ((err = sim_firmware_dump(o.dump_acpi_dir)) != 0) {
			fprintf(stderr, "doppel-sim: --dump-acpi: cannot write into '%s': %s\n",
			        o.dump_acpi_dir, strerror(-err));
			exit(SIM_EXIT_IOERR);
		}
		exit(0);
	}

	{
		struct sim_cpu_features f = { .x2apic = !o.no_x2apic, .tsc_deadline = !o.no_tsc_deadline };
		sim_cpu_set_features(&f);
	}
	sim_devices_init(&o, apic_ids);
	if ((err = sim_vmap_init(o.cpus)) != 0)
		die(SIM_EXIT_OSERR, "allocating the TLB model", err);
	if ((err = sim_cpus_init(o.cpus, apic_ids)) != 0)
		die(SIM_EXIT_OSERR, "creating CPU threads", err);
	err = sim_cpus_boot(&boot_info);
	die(SIM_EXIT_OSERR, "starting the boot CPU", err);
}
