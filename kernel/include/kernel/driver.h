/* driver.h — drivers the kernel starts after PCI and the IOMMU are up, registered in
 * the "drivers" linker section (so kmain never names a driver; the driver-manager
 * issue replaces this with binding and authority handles). kmain calls
 * drivers_probe_all() once after iommu_init and drivers_shutdown_all() before the
 * machine ends, so devices see an orderly shutdown (NVMe: CC.SHN). */
#ifndef KERNEL_DRIVER_H
#define KERNEL_DRIVER_H
struct driver {
	const char *name;                   /* "nvme" */
	/* Find and start every device of this driver; returns how many started. A
	 * device that fails is logged and skipped: boot goes on. */
	int (*probe)(void);
	/* Orderly stop of every started device (may be NULL). */
	void (*shutdown)(void);
};
#define DRIVER(sym, dname, probe_fn, shutdown_fn)                                   \
	static const struct driver sym = { .name = dname, .probe = probe_fn,          \
	                                   .shutdown = shutdown_fn };                 \
	static const struct driver *const __driver_ptr_##sym                          \
		__attribute__((used, section("drivers"), aligned(8))) = &sym
/* Probe every registered driver (a driver that is off on the command line,
 * `<name>=off`, is skipped with a line saying so). */
void drivers_probe_all(void);
void drivers_shutdown_all(void);
#endif
