/*
 * devices.c — the platform devices of the simulated PC and their wiring: one local
 * APIC per CPU (xAPIC MMIO page at the MADT's address, IA32_APIC_BASE, TSC deadline
 * and x2APIC MSRs), the I/O APIC at the MADT's address, the 8254 PIT and port 0x61,
 * the PCIe fabric (docs/pci.md) and the VT-d model that device DMA goes through
 * (docs/iommu.md) unless --iommu none; the --fault hooks; the counters printed at
 * exit. Every model claims its own ranges on the bus (sim/bus.c, models/bus.h).
 */
#include "sim_bus.h"
#include "det.h"
#include "sim.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hw/pci/msi.h>

#include "acpi/acpi_gen.h"
#include "ahci/ahci.h"
#include "ahci/ahci_model.h"
#include "edu/edu.h"
#include "nvme/nvme.h"
#include "nvme/nvme_model.h"
#include "pci/pci_model.h"
#include "testdev/testdev.h"
#include "ioapic/ioapic.h"
#include "ioapic/ioapic_model.h"
#include "lapic/lapic.h"
#include "lapic/lapic_model.h"
#include "pic/pic.h"
#include "pit/pit.h"
#include "tlb/tlb_model.h"
#include "vtd/vtd.h"
#include "vtd/vtd_model.h"

#include <hw/x86/lapic.h>

#define LAPIC_TIMER_HZ 100000000ull     /* the LAPIC timer's input clock: 100 MHz */
/* An AP stays in INIT this long; a SIPI sooner is ignored. Half the SDM's 10 ms,
 * so a kernel whose calibrated delay is a little short still passes, while one
 * that does not wait at all (SIPI right after INIT) loses its AP. */
#define INIT_SETTLE_NS 5000000ull

static uint64_t boot_wall_start_ns;

/* ---- ISA IRQ0: PIT channel 0 through the MADT override IRQ0 -> GSI 2 ---------------- */

#define PIT_IRQ0_GSI 2u

static pthread_mutex_t irq0_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t irq0_cond;
static bool irq0_changed;

static void pit_ch0_changed(void)
{
	pthread_mutex_lock(&irq0_lock);
	irq0_changed = true;
	pthread_cond_signal(&irq0_cond);
	pthread_mutex_unlock(&irq0_lock);
}

/* A device thread, not a CPU: sleeps until channel 0's next edge, then pulses the
 * I/O APIC pin (edge-triggered ISA line). While an edge is due, "every CPU halted"
 * is not a hang (sim_device_event_armed). */
static void *pit_irq0_thread(void *unused)
{
	bool armed = false;

	(void)unused;
	pthread_setname_np(pthread_self(), "pit-irq0");
	pthread_mutex_lock(&irq0_lock);
	for (;;) {
		uint64_t next = pit_model_irq0_next_ns();

		if ((next != PIT_NEVER) != armed) {
			armed = next != PIT_NEVER;
			sim_device_event_armed(armed ? 1 : -1);
		}
		if (!irq0_changed && (next == PIT_NEVER || sim_time_ns() < next)) {
			struct timespec ts;
			if (next == PIT_NEVER) {
				pthread_cond_wait(&irq0_cond, &irq0_lock);
			} else {
				sim_time_abs(next, &ts);
				pthread_cond_timedwait(&irq0_cond, &irq0_lock, &ts);
			}
			continue;
		}
		irq0_changed = false;
		pthread_mutex_unlock(&irq0_lock);
		if (pit_model_irq0_take(sim_time_ns())) {
			ioapic_model_set_line(PIT_IRQ0_GSI, true);
			ioapic_model_set_line(PIT_IRQ0_GSI, false);
		}
		pthread_mutex_lock(&irq0_lock);
	}
	return NULL;
}

static void irq0_start(void)
{
	pthread_condattr_t ca;
	pthread_attr_t attr;
	pthread_t t;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&irq0_cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256u << 10);
	if (pthread_create(&t, &attr, pit_irq0_thread, NULL) != 0) {
		fprintf(stderr, "doppel-sim: cannot create the PIT interrupt thread\n");
		exit(SIM_EXIT_OSERR);
	}
	pthread_attr_destroy(&attr);
}

/* Deterministic mode has no device threads: the scheduler fires what is due. NVMe
 * and AHCI work pending at a step runs there or later, as a seeded coin says (one
 * command per step each), so where a completion lands between CPU steps is part of
 * the seed. */
void sim_devices_engine_step(uint64_t now)
{
	uint64_t next = pit_model_irq0_next_ns();

	if (nvme_model_has_work() && sim_det_coin())
		nvme_model_step();
	if (ahci_model_has_work() && sim_det_coin())
		ahci_model_step();
	if (next == PIT_NEVER || now < next)
		return;
	if (pit_model_irq0_take(now)) {
		ioapic_model_set_line(PIT_IRQ0_GSI, true);
		ioapic_model_set_line(PIT_IRQ0_GSI, false);
	}
}

bool sim_devices_run_pending(void)
{
	bool nv = nvme_model_step();

	return ahci_model_step() || nv;
}

uint64_t sim_devices_next_event_ns(void)
{
	uint64_t next = pit_model_irq0_next_ns();
	uint64_t nv = nvme_model_has_work() ? sim_time_ns() : nvme_model_next_event_ns();
	uint64_t sa = ahci_model_has_work() ? sim_time_ns() : ahci_model_next_event_ns();

	if (next == PIT_NEVER)
		next = SIM_TIME_NEVER;
	if (sa < nv)
		nv = sa;
	return nv < next ? nv : next;
}

/* ---- host callbacks --------------------------------------------------------------- */

static void host_log(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sim_log("%s", buf);
}

static void host_fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void host_fatal(const char *fmt, ...)
{
	char buf[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sim_fatal("%s", buf);
}

static uint64_t host_tsc(void)
{
	return hal_rdtsc();
}

static void host_eoi_broadcast(uint8_t vector)
{
	ioapic_model_eoi(vector);
}

static void must(int err, const char *what)
{
	if (err) {
		fprintf(stderr, "doppel-sim: %s: error %d (sim bug)\n", what, err);
		exit(SIM_EXIT_SOFTWARE);
	}
}

/* ---- VT-d and the PCIe fabric ----------------------------------------------------------- */

static struct vtd_model *vtd;
static const char *pci_dump_path;

/* The one remapping unit, before the fabric: device DMA goes through it (sim_bus_set_iommu). */
static void vtd_init(const struct sim_options *o)
{
	struct vtd_config vc = { .base = VTD_MODEL_BASE, .caching_mode = o->vtd_caching_mode,
	                         .no_qi = o->vtd_no_qi };

	if (o->iommu_none)
		return;
	must(vtd_model_create(&vc, sim_model_bus(), &vtd), "VT-d unit at 0xFED90000");
	sim_bus_set_iommu(vtd);
}

/* --nvme: the controllers at 00:03.0, 00:05.0, 00:07.0, 00:08.0 (00:02 edu, 00:04
 * the root port, 00:06 the shared-INTx edu stay free). */
static void nvme_init(const struct sim_options *o, const struct model_bus *bus)
{
	static const uint8_t slots[SIM_MAX_NVME] = { 3, 5, 7, 8 };
	struct nvme_model_config dflt = { .threaded = !o->det };

	if (o->nvme_none)
		return;
	if (o->nnvme == 0) {
		must(nvme_model_add_cfg(0, 3, &dflt, bus), "NVMe at 00:03.0");
		return;
	}
	for (unsigned i = 0; i < o->nnvme; i++) {
		const struct sim_nvme *n = &o->nvme[i];
		struct nvme_model_config k = {
			.path = n->path, .size = n->size, .ns = n->ns, .queues = n->queues,
			.lbads = n->lbads, .threaded = !o->det,
		};
		int err = nvme_model_add_cfg(0, slots[i], &k, bus);

		if (err && n->path) {
			fprintf(stderr, "doppel-sim: --nvme %s: cannot open or size the file: %s\n",
			        n->path, strerror(-err));
			exit(SIM_EXIT_USAGE);
		}
		if (err) {
			char what[48];
			snprintf(what, sizeof(what), "NVMe at 00:%02x.0", slots[i]);
			must(err, what);
		}
	}
}

/* q35's ICH9 functions in slot 0x1f: the LPC bridge at 00:1f.0 (function 0, so
 * enumeration finds the slot) and the AHCI HBA at 00:1f.2 with --ahci's disks. Its
 * INTA lands on GSI 16 + (0x1f + 0) mod 4 = 19 (models/pci/pci_irq.c); the kernel
 * reads the line register pci_model_firmware programs. */
static void ich9_init(const struct sim_options *o, const struct model_bus *bus)
{
	static const struct pci_model_desc lpc = {
		.name = "ich9-lpc", .vendor = 0x8086, .device = 0x2918,
		.subsys_vendor = 0x1af4, .subsys_id = 0x1100,
		.class_code = 0x060100, .revision = 0x02,  /* bridge / ISA */
	};
	struct ahci_model_config k = { .threaded = !o->det,
	                               .msi_log2 = (uint8_t)(o->ahci_msi > 1 ? __builtin_ctz(o->ahci_msi) : 0) };
	int err;

	must(pci_model_add(0, 0x1f, 0, &lpc, NULL), "ICH9 LPC bridge at 00:1f.0");
	if (!o->ahci_none && o->nahci == 0)
		k.port[0] = (struct ahci_disk_config){ .present = true };
	for (unsigned i = 0; i < o->nahci; i++) {
		const struct sim_ahci *a = &o->ahci[i];

		k.port[a->port] = (struct ahci_disk_config){ .present = true, .path = a->path,
		                                             .size = a->size, .no_ncq = !a->ncq };
	}
	err = ahci_model_add(0, 0x1f, 2, &k, bus);
	if (err) {
		for (unsigned i = 0; i < o->nahci; i++)
			if (o->ahci[i].path)
				fprintf(stderr, "doppel-sim: --ahci %s: cannot open or size the file\n",
				        o->ahci[i].path);
		fprintf(stderr, "doppel-sim: AHCI HBA at 00:1f.2: %s\n", strerror(-err));
		exit(o->nahci ? SIM_EXIT_USAGE : SIM_EXIT_SOFTWARE);
	}
}

static void pci_init(const struct sim_options *o)
{
	const struct model_bus *bus = sim_model_bus();
	uint64_t ram_end = sim_mem_size() > SIM_PCI_HOLE_END ? sim_mem_size() : SIM_PCI_HOLE_END;
	uint64_t high = (ram_end + (1ull << 30) - 1) & ~((1ull << 30) - 1);
	struct pci_model_config pc = {
		.ecam_base = o->no_mcfg ? 0 : SIM_ECAM_BASE,
		.bus_start = 0,
		.bus_end = 255,
		.legacy_ports = true,
		.hostile = o->pci_hostile,
	};
	int bus_nr;

	/* 64-bit prefetchable BARs above RAM and 4 GiB, when the MMIO window reaches
	 * that far (it may stop at 4 GiB, as under Valgrind: then they stay low). */
	if (high + (1ull << 30) <= sim_mmio_window_size()) {
		pc.mmio64_base = high;
		pc.mmio64_limit = sim_mmio_window_size() - 1;
	}
	must(pci_model_init(&pc, bus), "PCI fabric model");
	if (o->pci_set != SIM_PCI_NONE) {
		must(edu_model_add(0, 2, bus), "edu at 00:02.0");
		nvme_init(o, bus);
		ich9_init(o, bus);
		bus_nr = pci_model_add_bridge(0, 4);
		must(bus_nr < 0 ? bus_nr : 0, "root port at 00:04.0");
		must(testdev_model_add((uint8_t)bus_nr, 0, bus), "testdev behind the root port");
	}
	/* A second edu whose INTA lands on the same GSI as 00:02.0's: root-bus GSI =
	 * 16 + (slot + pin - 1) mod 4 (models/pci/pci_irq.c), so slot 6 gives 18 too. */
	if (o->pci_set == SIM_PCI_SHARED_INTX)
		must(edu_model_add(0, 6, bus), "second edu at 00:06.0 (shared INTx line)");
	must(pci_model_firmware(SIM_PCI_MMIO_BASE, SIM_PCI_MMIO_LIMIT, SIM_PCI_IO_BASE,
	                        SIM_PCI_IO_LIMIT), "PCI firmware setup");
	pci_dump_path = o->pci_dump_path;
}

/* ---- faults ------------------------------------------------------------------------- */

static void apply_faults(const struct sim_options *o, const uint32_t *apic_ids)
{
	for (unsigned i = 0; i < o->nfaults; i++) {
		const struct sim_fault *f = &o->faults[i];
		int err = 0;

		switch (f->kind) {
		case SIM_FAULT_AP_IGNORE_FIRST_SIPI:
			err = lapic_model_fault_ignore_first_sipi((uint32_t)f->arg);
			break;
		case SIM_FAULT_AP_DEAD:
			err = lapic_model_fault_ap_dead((uint32_t)f->arg);
			break;
		case SIM_FAULT_ESR_SEND_ERROR:
			err = lapic_model_fault_esr_send_error((uint32_t)f->arg);
			break;
		case SIM_FAULT_SPURIOUS_STORM:
			err = lapic_model_fault_spurious_storm((unsigned)f->arg, 1000);
			break;
		case SIM_FAULT_LATE_IPI:
			lapic_model_fault_late_ipi(f->arg * 1000ull);
			break;
		case SIM_FAULT_AP_LATE:
			err = sim_cpu_fault_late((uint32_t)f->arg, apic_ids, o->cpus);
			break;
		default:
			break;
		}
		if (err) {
			fprintf(stderr, "doppel-sim: --fault %s=%llu: no CPU of this machine has that %s "
			        "(see --help)\n", sim_fault_name(f->kind), (unsigned long long)f->arg,
			        f->kind == SIM_FAULT_SPURIOUS_STORM ? "index" : "APIC ID");
			exit(SIM_EXIT_USAGE);
		}
		sim_log("fault: %s=%llu", sim_fault_name(f->kind), (unsigned long long)f->arg);
	}
}

/* ---- init and report ---------------------------------------------------------------- */

void sim_devices_init(const struct sim_options *o, const uint32_t *apic_ids)
{
	const struct sim_cpu_features *feat = sim_cpu_features();
	struct lapic_config lc = {
		.ncpus = o->cpus,
		.apic_ids = apic_ids,
		.base = ACPI_GEN_LAPIC_ADDR,
		.x2apic = feat->x2apic,
		.tsc_deadline = feat->tsc_deadline,
		.timer_hz = LAPIC_TIMER_HZ,
		.tsc_hz = SIM_TSC_HZ,
		.init_settle_ns = INIT_SETTLE_NS,
	};
	struct lapic_host lh = {
		.now_ns = sim_time_ns,
		.tsc = host_tsc,
		.kick = sim_cpu_kick,
		.start_ap = sim_cpu_sipi,
		.eoi_broadcast = host_eoi_broadcast,
		.log = host_log,
		.fatal = host_fatal,
		.fault_site = hal_fault_inject,  /* the same seeded sites as the kernel's */
	};
	struct ioapic_host ih = { .deliver = lapic_model_deliver_external, .fatal = host_fatal };
	struct pit_host ph = { .now_ns = sim_time_ns, .fatal = host_fatal,
	                       .ch0_changed = pit_ch0_changed };

	const struct model_bus *bus = sim_model_bus();

	/* Each model claims its own ranges on the bus. */
	must(lapic_model_init(&lc, &lh, bus), "local APIC model");
	must(ioapic_model_init(0, 0, ACPI_GEN_IOAPIC_ADDR, &ih, bus), "I/O APIC model");
	must(pit_model_init(&ph, bus), "8254 PIT model");
	must(pic_model_init(bus), "8259 PIC model");
	vtd_init(o);                /* before the fabric: device DMA goes through it */
	pci_init(o);
	apply_faults(o, apic_ids);
	if (!o->det)
		irq0_start();           /* det mode: sim_devices_engine_step instead */
	boot_wall_start_ns = sim_time_ns();
}

/* Vectors left in service at exit: an interrupt that never got its EOI blocks
 * every vector of its priority class and below on that CPU from then on. One line
 * per such CPU; the harness fails the run on it. A handler running on another CPU
 * at this instant (free mode: the CPU threads go on) is watched for up to 1 s; a
 * bit that clears once is not stuck. Not in det mode: there the other CPUs stand
 * still, maybe inside a handler, so nothing tells a stuck bit from a busy one. */
static void report_in_service(void)
{
	if (sim_det_on)
		return;
	for (unsigned c = 0; c < sim_cpu_count(); c++) {
		uint32_t w[8], again[8], any = 0;
		if (!lapic_model_in_service(c, w))
			continue;
		for (unsigned ms = 0; ms < 1000; ms++) {
			struct timespec ts = { 0, 1000 * 1000 };
			nanosleep(&ts, 0);
			lapic_model_in_service(c, again);
			any = 0;
			for (unsigned i = 0; i < 8; i++)
				any |= (w[i] &= again[i]);
			if (!any)
				break;
		}
		if (!any)
			continue;
		char list[8 * 32 * 6] = "";
		size_t len = 0;
		for (unsigned v = 0; v < 256; v++)
			if (w[v >> 5] & (1u << (v & 31)))
				len += (size_t)snprintf(list + len, sizeof list - len, "%s0x%02x", len ? "," : "", v);
		sim_log("stats lapic in_service_at_exit: cpu=%u vectors=%s", c, list);
	}
}

void sim_devices_report(void)
{
	struct lapic_model_stats s;
	struct tlb_model_stats t;
	struct sim_bus_stats b;
	uint64_t last = sim_cpu_last_ap_start_ns();

	lapic_model_stats(&s);
	tlb_model_stats(&t);
	sim_log("stats lapic: ipis_sent=%llu fixed_delivered=%llu fixed_dropped=%llu inits=%llu "
	        "sipis_accepted=%llu sipis_ignored=%llu nmis=%llu esr_errors=%llu spurious=%llu "
	        "eoi_without_isr=%llu timer_fires=%llu",
	        (unsigned long long)s.ipis_sent, (unsigned long long)s.fixed_delivered,
	        (unsigned long long)s.fixed_dropped, (unsigned long long)s.inits,
	        (unsigned long long)s.sipis_accepted, (unsigned long long)s.sipis_ignored,
	        (unsigned long long)s.nmis, (unsigned long long)s.esr_errors,
	        (unsigned long long)s.spurious, (unsigned long long)s.eoi_without_isr,
	        (unsigned long long)s.timer_fires);
	report_in_service();
	sim_log("stats tlb: maps=%llu unmaps=%llu fills=%llu stale_hits=%llu flushes_page=%llu "
	        "flushes_all=%llu", (unsigned long long)t.maps, (unsigned long long)t.unmaps,
	        (unsigned long long)t.fills, (unsigned long long)t.stale_hits,
	        (unsigned long long)t.flushes_page, (unsigned long long)t.flushes_all);
	sim_log("stats ioapic: sent=%llu", (unsigned long long)ioapic_model_sent());
	sim_bus_stats(&b);
	sim_log("stats pci: msi_delivered=%llu msi_dropped=%llu dma_outside_ram=%llu",
	        (unsigned long long)b.msi_delivered, (unsigned long long)b.msi_dropped,
	        (unsigned long long)b.dma_outside_ram);
	if (vtd) {
		struct vtd_model_stats v;

		vtd_model_stats(vtd, &v);
		sim_log("stats vtd: translations=%llu faults=%llu stale_iotlb_hits=%llu "
		        "iotlb_hits=%llu inval_reg=%llu inval_qi=%llu inval_reg_ignored=%llu "
		        "fault_msis=%llu", (unsigned long long)v.translations,
		        (unsigned long long)v.faults, (unsigned long long)v.stale_iotlb_hits,
		        (unsigned long long)v.iotlb_hits, (unsigned long long)v.inval_reg,
		        (unsigned long long)v.inval_qi, (unsigned long long)v.inval_reg_ignored,
		        (unsigned long long)v.fault_msis);
	}
	for (unsigned i = 0; ; i++) {
		struct nvme_model_stats n;
		uint64_t admin = 0, io = 0;

		if (nvme_model_stats(i, &n) != 0)
			break;
		for (unsigned k = 0; k < 256; k++) {
			admin += n.admin_ops[k];
			io += n.io_ops[k];
		}
		sim_log("stats nvme%u: commands=%llu admin=%llu io=%llu reads=%llu writes=%llu "
		        "flushes=%llu write_zeroes=%llu dsm=%llu bytes_read=%llu bytes_written=%llu "
		        "errors=%llu io_errors=%llu aborted=%llu lost=%llu cqes=%llu irqs=%llu "
		        "cq_full_waits=%llu bad_doorbell=%llu bad_access=%llu dma_blocked=%llu "
		        "faults=%llu,%llu,%llu,%llu,%llu,%llu csts=0x%x", i,
		        (unsigned long long)n.commands, (unsigned long long)admin,
		        (unsigned long long)io, (unsigned long long)n.reads,
		        (unsigned long long)n.writes, (unsigned long long)n.io_ops[0x00],
		        (unsigned long long)n.io_ops[0x08], (unsigned long long)n.io_ops[0x09],
		        (unsigned long long)n.bytes_read, (unsigned long long)n.bytes_written,
		        (unsigned long long)n.errors, (unsigned long long)n.io_errors,
		        (unsigned long long)n.aborted, (unsigned long long)n.lost,
		        (unsigned long long)n.cqes_posted, (unsigned long long)n.irqs_raised,
		        (unsigned long long)n.cq_full_waits, (unsigned long long)n.bad_doorbell,
		        (unsigned long long)n.bad_access, (unsigned long long)n.dma_blocked,
		        (unsigned long long)n.faults[0], (unsigned long long)n.faults[1],
		        (unsigned long long)n.faults[2], (unsigned long long)n.faults[3],
		        (unsigned long long)n.faults[4], (unsigned long long)n.faults[5], n.csts);
	}
	for (unsigned i = 0; ; i++) {
		struct ahci_model_stats a;

		if (ahci_model_stats(i, &a) != 0)
			break;
		char name[16] = "ahci";

		if (i)
			snprintf(name, sizeof(name), "ahci%u", i);
		sim_log("stats %s: commands=%llu ncq=%llu reads=%llu writes=%llu flushes=%llu "
		        "trims=%llu identifies=%llu log_reads=%llu bytes_read=%llu bytes_written=%llu "
		        "tf_errors=%llu ncq_errors=%llu fatal_errors=%llu lost=%llu comresets=%llu "
		        "hba_resets=%llu irqs=%llu refused=%llu bad_access=%llu dma_blocked=%llu "
		        "faults=%llu,%llu,%llu,%llu,%llu", name,
		        (unsigned long long)a.commands, (unsigned long long)a.ncq_commands,
		        (unsigned long long)a.reads, (unsigned long long)a.writes,
		        (unsigned long long)a.flushes, (unsigned long long)a.trims,
		        (unsigned long long)a.identifies, (unsigned long long)a.log_reads,
		        (unsigned long long)a.bytes_read, (unsigned long long)a.bytes_written,
		        (unsigned long long)a.tf_errors, (unsigned long long)a.ncq_errors,
		        (unsigned long long)a.fatal_errors, (unsigned long long)a.lost,
		        (unsigned long long)a.comresets, (unsigned long long)a.hba_resets,
		        (unsigned long long)a.irqs, (unsigned long long)a.refused,
		        (unsigned long long)a.bad_access, (unsigned long long)a.dma_blocked,
		        (unsigned long long)a.faults[0], (unsigned long long)a.faults[1],
		        (unsigned long long)a.faults[2], (unsigned long long)a.faults[3],
		        (unsigned long long)a.faults[4]);
	}
	if (pci_dump_path) {
		int err = pci_model_dump_config(pci_dump_path);
		if (err)
			sim_warn("--pci-dump-config: cannot write '%s': error %d", pci_dump_path, err);
		else
			sim_log("pci-dump-config: %s", pci_dump_path);
	}
	if (last)
		sim_log("bench bringup_wall_ms=%.3f (sim start of the machine to the last AP's start)",
		        (double)(last - boot_wall_start_ns) / 1e6);
}
