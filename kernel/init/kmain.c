/*
 * kmain.c — the boot flow shared by every platform (docs/protocol.md for what it
 * prints): HAL check → command line → page allocator → heap → ACPI (+ SRAT, MADT
 * checks) → LAPIC + time calibration → SMP bring-up → I/O APIC (docs/smp.md) →
 * PCI enumeration and its dump (docs/pci.md) → IOMMU (VT-d or identity, docs/iommu.md)
 * → drivers (kernel/include/kernel/driver.h) → in-kernel tests named by `ktest=`,
 * the I/O workload named by `io=` (docs/block.md)
 * and benchmarks named by `bench=` (run hooks: an image may be built without
 * them, kernel/include/kernel/run_hook.h), those in the "kmain" thread while the
 * boot flow becomes CPU 0's idle thread (docs/sched.md) → orderly exit with a status.
 */
#include <hal/hal.h>
#include <kernel/acpi.h>
#include <kernel/apic.h>
#include <kernel/boot.h>
#include <kernel/cmdline.h>
#include <kernel/driver.h>
#include <kernel/heap.h>
#include <kernel/iommu.h>
#include <kernel/lockdep.h>
#include <kernel/log.h>
#include <kernel/madt_check.h>
#include <kernel/panic.h>
#include <kernel/pci.h>
#include <kernel/pmm.h>
#include <kernel/printf.h>
#include <kernel/sched.h>
#include <kernel/run_hook.h>
#include <kernel/smp.h>
#include <kernel/srat.h>
#include <kernel/string.h>
#include <kernel/thread.h>
#include <kernel/time.h>

#define KMAIN_STACK (64u * 1024u)  /* the ktest runner and workloads run on it */

static const char *firmware_name(uint32_t fw)
{
	switch (fw) {
	case BOOT_FW_BIOS: return "bios";
	case BOOT_FW_UEFI: return "uefi";
	case BOOT_FW_SIM: return "sim";
	default: return "unknown";
	}
}

/* `end=hold` (docs/protocol.md): the orderly end keeps the machine up, halted, so
 * the harness can read device state from QEMU's monitor. Read here, once, so the
 * bottom layer's kernel_exit needs no command line. */
static void end_init(void)
{
	const char *end = cmdline_get("end");
	if (!end)
		return;
	if (kstrcmp(end, "hold") == 0)
		kernel_exit_set_hold(true);
	else
		klog("doppel", "end=%s is not a known way to end (want end=hold); ending normally", end);
}

/* Weak: an image without tests or benchmarks has no run_hooks section. */
extern const struct run_hook *const __start_run_hooks[] __attribute__((weak));
extern const struct run_hook *const __stop_run_hooks[] __attribute__((weak));

struct run_key { const char *key, *what; };
static const struct run_key run_keys[] = {
	{ "ktest", "tests" },
	{ "io", "I/O workload" },
	{ "bench", "benchmarks" },
};

/* Run what `key=` asks for through its hook. Asked for but not in this image:
 * said plainly, and a failure (a run that wanted tests must not pass without). */
static int run_key(const struct run_key *k)
{
	const char *v = cmdline_get(k->key);
	if (!v)
		return KERNEL_EXIT_PASS;
	if (__start_run_hooks && __stop_run_hooks)
		for (const struct run_hook *const *h = __start_run_hooks; h < __stop_run_hooks; h++)
			if (kstrcmp((*h)->key, k->key) == 0)
				return (*h)->run(v);
	klog("doppel", "%s=%s: this image has no %s (built without test and benchmark code)", k->key, v,
	     k->what);
	return KERNEL_EXIT_FAIL;
}

/* PCI enumeration, then the dump `pci.dump=` asks for (0, 1 = default, config).
 * A machine without PCI config access still boots: it is logged, never fatal. */
static void pci_boot(void)
{
	const char *dump = cmdline_get("pci.dump");
	bool on = true, config = false;
	if (dump && kstrcmp(dump, "0") == 0)
		on = false;
	else if (dump && kstrcmp(dump, "config") == 0)
		config = true;
	else if (dump && kstrcmp(dump, "1") != 0)
		klog("pci", "pci.dump=%s is not 0, 1 or config: using 1", dump);
	int rc = pci_init();
	if (rc != 0)
		klog("pci", "enumeration failed (%d): running without PCI devices", rc);
	if (on)
		pci_dump(config);
}

/* The rest of kmain, in the kmain thread: tests first, then benchmarks; the first
 * failure is the status. */
static void kmain_thread(void *unused)
{
	(void)unused;
	int status = KERNEL_EXIT_PASS;
	for (unsigned i = 0; i < sizeof run_keys / sizeof run_keys[0]; i++) {
		int rc = run_key(&run_keys[i]);
		if (rc != KERNEL_EXIT_PASS && status == KERNEL_EXIT_PASS)
			status = rc;
	}
	if (cmdline_has("lockdep.stats"))
		lockdep_stats_print();
	drivers_shutdown_all();
	kernel_exit(status);
}

void kmain(struct boot_info *bi)
{
	uint64_t tsc_entry = hal_rdtsc();
	boot_info_set(bi);
	kprintf("\nDoppel kernel starting\n");
	if (hal_version() != HAL_VERSION || bi->hal_version != HAL_VERSION) {
		kprintf("doppel: HAL version mismatch: kernel wants %u, platform has %u (boot_info %u)\n",
			HAL_VERSION, hal_version(), bi->hal_version);
		kernel_exit(KERNEL_EXIT_BOOT_ERROR);
	}
	kinfo("hal", "%u", HAL_VERSION);
	kinfo("platform", "%s", bi->platform ? bi->platform : "unknown");
	kinfo("firmware", "%s", firmware_name(bi->firmware));
	kinfo("cmdline", "%s", bi->cmdline);
	cmdline_init(bi->cmdline);
	end_init();
	lockdep_init();

	if (pmm_init(bi) != 0) {
		klog("doppel", "cannot start without usable memory; check the memory map above");
		kernel_exit(KERNEL_EXIT_BOOT_ERROR);
	}
	kinfo("mem.usable_kib", "%llu", (unsigned long long)(pmm_usable_bytes() / 1024));
	kinfo("mem.free_pages", "%zu", pmm_free_count());

	acpi_boot_init(bi);
	const struct acpi_info *acpi = acpi_boot_info();
	kinfo("rsdp", "0x%llx %s", (unsigned long long)acpi->rsdp_phys,
	      acpi_rsdp_source_name(acpi->rsdp_source));
	kinfo("acpi.tables", "%u", acpi->ntables);
	kinfo("acpi.cpus", "%u", acpi->have_madt ? acpi->madt.n_enabled : 0);
	kinfo("acpi.cpus_possible", "%u", acpi->have_madt ? acpi->madt.ncpus : 0);
	kinfo("acpi.ioapics", "%u", acpi->have_madt ? acpi->madt.nioapics : 0);
	if (cmdline_has("acpi.dump"))
		acpi_dump(acpi);
	srat_boot_init();

	/* Interrupts and SMP (docs/smp.md): LAPIC, time, APs, I/O APIC. Without a
	 * usable LAPIC the kernel stays on one CPU without interrupts. */
	if (apic_init_bsp(acpi->have_madt ? acpi->madt.lapic_address : 0) == 0) {
		smp_bsp_online(lapic_id());
		xcall_init();
		madt_check_boot(percpu_of(hal_cpu_index())->apic_id);
		time_init();
		hal_irq_enable();
		smp_boot(acpi->have_madt ? &acpi->madt : 0, tsc_entry);
		ioapic_init(madt_check_boot_info());
	} else {
		madt_check_boot(MADT_BSP_UNKNOWN);
		kinfo("apic.mode", "none");
		kinfo("smp.online", "1");
		kinfo("smp.failed", "0");
	}
	pci_boot();
	/* VT-d from the DMAR (docs/iommu.md); on failure every device runs identity. */
	if (iommu_init() != 0)
		klog("iommu", "continuing without DMA remapping");
	iommu_dump();
	drivers_probe_all();

	/* From here on kmain is a thread (docs/sched.md): the boot flow becomes CPU 0's
	 * idle thread, and tests, workloads and benchmarks run in the "kmain" thread,
	 * pinned to the boot CPU, so they may block, sleep and join threads. */
	sched_cpu_start();
	struct thread_opts o = { .stack_bytes = KMAIN_STACK };
	cpumask_set(&o.affinity, hal_cpu_index());
	if (!thread_create("kmain", kmain_thread, 0, &o)) {
		klog("doppel", "no memory for the kmain thread: running the rest in the boot flow");
		kmain_thread(0);
	}
	smp_idle_loop();
}
