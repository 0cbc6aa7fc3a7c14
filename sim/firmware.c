/*
 * firmware.c — what a PC BIOS and boot loader leave for the kernel, done by the
 * sim: the BIOS data area's EBDA pointer, ACPI tables in the BIOS read-only area
 * 0xE0000–0xFFFFF where the RSDP scan of ACPI 6.5 §5.2.5.1 looks (with an MCFG for
 * the PCIe ECAM window, PCI Firmware 3.0 §4.1.2, and a DMAR for the VT-d unit,
 * VT-d spec §8, with the --dmar-rmrr regions of §8.4), an E820-style memory map
 * that keeps RAM out of the PCI hole and reports RMRRs in RAM as reserved, and the
 * struct boot_info handed to kmain.
 */
#include "sim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acpi/acpi_gen.h"
#include "vtd/vtd.h"

#define BDA_EBDA_SEGMENT 0x40Eu     /* word: EBDA segment (ACPI 6.5 §5.2.5.1) */
#define BDA_BASE_MEM_KIB 0x413u     /* word: conventional memory in KiB */
#define EBDA_BASE 0x9FC00ull
#define LOW_MEM_END 0xA0000ull
#define BIOS_ROM_BASE 0xE0000ull
#define BIOS_ROM_END 0x100000ull

static struct acpi_gen_info acpi_info;

static void mmap_add(struct boot_info *bi, uint64_t base, uint64_t end, uint32_t type)
{
	if (end <= base)
		return;
	if (bi->mmap_count == BOOT_MMAP_MAX) {
		fprintf(stderr, "doppel-sim: memory map overflow (sim bug)\n");
		exit(SIM_EXIT_SOFTWARE);
	}
	bi->mmap[bi->mmap_count++] = (struct boot_mem_region){ .base = base, .len = end - base,
	                                                       .type = type };
}

/* Usable RAM [base, end), with the parts the RMRRs cover reported reserved (a
 * firmware keeps the memory its devices' DMA uses away from the OS, §8.4). */
static void mmap_add_ram(struct boot_info *bi, uint64_t base, uint64_t end,
                         const struct sim_options *o)
{
	while (base < end) {
		/* The lowest RMRR reaching into [base, end): RMRRs never overlap. */
		const struct sim_rmrr *lo = NULL;
		for (unsigned i = 0; i < o->nrmrr; i++) {
			const struct sim_rmrr *r = &o->rmrr[i];
			if (r->limit >= base && r->base < end && (!lo || r->base < lo->base))
				lo = r;
		}
		if (!lo) {
			mmap_add(bi, base, end, BOOT_MEM_USABLE);
			return;
		}
		uint64_t rs = lo->base > base ? lo->base : base;
		uint64_t re = lo->limit + 1 < end ? lo->limit + 1 : end;
		mmap_add(bi, base, rs, BOOT_MEM_USABLE);
		mmap_add(bi, rs, re, BOOT_MEM_RESERVED);
		base = re;
	}
}

static void put16(uint8_t *mem, uint64_t pa, uint16_t v)
{
	memcpy(mem + pa, &v, sizeof(v));
}

void sim_firmware_init(const struct sim_options *o, const uint32_t *apic_ids,
                       struct boot_info *bi)
{
	uint8_t *mem = sim_mem_base();
	uint64_t size = sim_mem_size();
	struct acpi_gen_config cfg = {
		.ncpus = o->cpus,
		.apic_ids = apic_ids,
		.revision = o->acpi_rev,
		.ioapic_id = 0,
		.ioapic_addr = ACPI_GEN_IOAPIC_ADDR,
		.ioapic_gsi_base = 0,
		.mem_size = size,
		.brk = (enum acpi_gen_break)o->acpi_break,
		.numa_nodes = o->numa_nodes,
		.mcfg_base = o->no_mcfg ? 0 : SIM_ECAM_BASE,
		.mcfg_bus_start = 0,
		.mcfg_bus_end = 255,
		/* The VT-d unit's DMAR (docs/iommu.md); its register page sits in the
		 * PCI hole, which the memory map below keeps out of RAM. */
		.dmar_base = o->iommu_none ? 0 : VTD_MODEL_BASE,
		.dmar_haw = 47,
		.dmar_nrmrr = o->iommu_none ? 0 : o->nrmrr,
	};
	struct acpi_gen_rmrr rmrr[SIM_MAX_RMRR];
	int err;

	_Static_assert(SIM_MAX_RMRR <= ACPI_GEN_MAX_RMRR, "--dmar-rmrr: the generator takes them all");
	for (unsigned i = 0; i < o->nrmrr; i++)
		rmrr[i] = (struct acpi_gen_rmrr){ .base = o->rmrr[i].base, .limit = o->rmrr[i].limit,
		                                  .bus = o->rmrr[i].bus, .dev = o->rmrr[i].dev,
		                                  .fn = o->rmrr[i].fn };
	cfg.dmar_rmrr = rmrr;

	/* BIOS data area: EBDA at 0x9FC00 (segment 0x9FC0), 639 KiB base memory. */
	put16(mem, BDA_EBDA_SEGMENT, (uint16_t)(EBDA_BASE >> 4));
	put16(mem, BDA_BASE_MEM_KIB, (uint16_t)(EBDA_BASE >> 10));

	err = acpi_gen_build_info(mem + BIOS_ROM_BASE, BIOS_ROM_BASE, BIOS_ROM_END - BIOS_ROM_BASE,
	                          &cfg, &acpi_info);
	if (err) {
		const char *why = acpi_gen_config_error(&cfg);
		fprintf(stderr, "doppel-sim: ACPI tables for %u CPUs do not fit in 0x%llx-0x%llx "
		        "(%s; need %zu bytes)\n", o->cpus, BIOS_ROM_BASE, BIOS_ROM_END - 1,
		        why ? why : strerror(-err), acpi_gen_size(&cfg));
		exit(SIM_EXIT_SOFTWARE);
	}

	memset(bi, 0, sizeof(*bi));
	bi->hal_version = HAL_VERSION;
	bi->firmware = BOOT_FW_SIM;
	bi->platform = "sim";
	bi->loader = "doppel-sim";
	if (o->rsdp == SIM_RSDP_HINT) {
		/* GRUB's multiboot2 tag 15 carries an ACPI 2.0+ RSDP, tag 14 a 1.0 one. */
		bi->rsdp_phys = acpi_info.rsdp_phys;
		bi->rsdp_source = o->acpi_rev >= 2 ? 15 : 14;
	}

	mmap_add_ram(bi, 0, EBDA_BASE, o);
	mmap_add(bi, EBDA_BASE, LOW_MEM_END, BOOT_MEM_RESERVED);
	mmap_add(bi, BIOS_ROM_BASE, BIOS_ROM_END, BOOT_MEM_RESERVED);
	if (size <= SIM_PCI_HOLE_START) {
		mmap_add_ram(bi, BIOS_ROM_END, size, o);
		/* The ECAM window is reserved, as q35's firmware does (an OS checks
		 * the MCFG region against the memory map). */
		if (!o->no_mcfg)
			mmap_add(bi, SIM_ECAM_BASE, SIM_ECAM_END, BOOT_MEM_RESERVED);
	} else {
		/* q35 keeps RAM out of the 32-bit PCI/MMIO window (ECAM at 0xB0000000,
		 * BARs from 0xC0000000, I/O APIC, HPET, LAPIC): the guest bytes there
		 * are not RAM, so RAM below 4 GiB is capped at 0xB0000000 and the rest
		 * of --mem stays where it is, above 4 GiB. */
		uint64_t hole_end = size < SIM_PCI_HOLE_END ? size : SIM_PCI_HOLE_END;
		if (!o->no_mcfg && hole_end < SIM_ECAM_END)
			hole_end = SIM_ECAM_END;
		mmap_add_ram(bi, BIOS_ROM_END, SIM_PCI_HOLE_START, o);
		mmap_add(bi, SIM_PCI_HOLE_START, hole_end, BOOT_MEM_RESERVED);
		mmap_add_ram(bi, SIM_PCI_HOLE_END, size, o);
	}
	bi->kernel_phys_start = bi->kernel_phys_end = 0;   /* the kernel is host code */
	bi->tsc_at_entry = hal_rdtsc();
	memcpy(bi->cmdline, o->cmdline, sizeof(bi->cmdline));
	bi->cmdline[BOOT_CMDLINE_MAX - 1] = '\0';
}

uint64_t sim_firmware_rsdp(void)
{
	return acpi_info.rsdp_phys;
}

int sim_firmware_dump(const char *dir)
{
	uint8_t *mem = sim_mem_base();
	char path[4096];

	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return -errno;
	for (unsigned i = 0; i < acpi_info.ntables; i++) {
		const struct acpi_gen_table *t = &acpi_info.tables[i];
		uint64_t len = t->len;
		int fd;

		/* A broken length field may claim more than the generator wrote. */
		if (t->phys + len > sim_mem_size())
			len = sim_mem_size() - t->phys;
		snprintf(path, sizeof(path), "%s/%s.dat", dir, t->sig);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		if (write(fd, mem + t->phys, len) != (ssize_t)len) {
			int e = errno ? errno : EIO;
			close(fd);
			return -e;
		}
		close(fd);
		sim_log("dump-acpi: %s: %llu bytes at 0x%llx", path, (unsigned long long)len,
		        (unsigned long long)t->phys);
	}
	return 0;
}
