/* hw/acpi/fadt.h — the Fixed ACPI Description Table (signature "FACP") and the
 * Firmware ACPI Control Structure it points to. ACPI 6.5 §5.2.9 (FADT, revision 6
 * layout) and §5.2.10 (FACS). */
#ifndef DOPPEL_HW_ACPI_FADT_H
#define DOPPEL_HW_ACPI_FADT_H
#include <stddef.h>
#include <stdint.h>
#include <hw/acpi/tables.h>

struct acpi_fadt {
	struct acpi_sdt_header hdr; /* ACPI_SIG_FADT */
	uint32_t firmware_ctrl;     /* 32-bit FACS address */
	uint32_t dsdt;              /* 32-bit DSDT address */
	uint8_t rsvd0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;           /* SCI interrupt (8259 IRQ or GSI) */
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;    /* ACPI_FADT_IAPC_* */
	uint8_t rsvd1;
	uint32_t flags;             /* ACPI_FADT_FLAG_* */
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;      /* bits 3:0 minor revision */
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	uint64_t hypervisor_vendor_id;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_fadt) == 276, "ACPI 6.5 §5.2.9: FADT revision 6 is 276 bytes");
_Static_assert(offsetof(struct acpi_fadt, flags) == 112, "ACPI 6.5 §5.2.9: Flags at offset 112");
_Static_assert(offsetof(struct acpi_fadt, x_dsdt) == 140, "ACPI 6.5 §5.2.9: X_DSDT at offset 140");

/* Fixed feature flags, ACPI 6.5 §5.2.9 Table 5.10 */
#define ACPI_FADT_FLAG_WBINVD (1u << 0)         /* WBINVD flushes all caches */
#define ACPI_FADT_FLAG_PROC_C1 (1u << 2)        /* C1 supported on all processors */
#define ACPI_FADT_FLAG_HW_REDUCED_ACPI (1u << 20) /* no ACPI fixed hardware, §4.1 */

/* IA-PC boot architecture flags, ACPI 6.5 §5.2.9.3 Table 5.11 */
#define ACPI_FADT_IAPC_LEGACY_DEVICES (1u << 0)
#define ACPI_FADT_IAPC_8042 (1u << 1)           /* an 8042 keyboard controller is present */

/* Firmware ACPI Control Structure, ACPI 6.5 §5.2.10: 64-byte aligned, no checksum. */
struct acpi_facs {
	char signature[4];          /* ACPI_SIG_FACS */
	uint32_t length;            /* 64 */
	uint32_t hardware_signature;
	uint32_t firmware_waking_vector;
	uint32_t global_lock;
	uint32_t flags;
	uint64_t x_firmware_waking_vector;
	uint8_t version;            /* 2 */
	uint8_t rsvd0[3];
	uint32_t ospm_flags;
	uint8_t rsvd1[24];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_facs) == 64, "ACPI 6.5 §5.2.10: FACS is 64 bytes");
#endif
