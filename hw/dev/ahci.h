/*
 * hw/dev/ahci.h — AHCI host bus adapter facts: generic host control and port
 * registers in ABAR (BAR5), the command list, command table, PRDT and received-FIS
 * layouts (Serial ATA AHCI 1.3.1), the FIS layouts (Serial ATA 3.2) and the ATA
 * commands, status bits and IDENTIFY DEVICE words a driver uses (ACS-3).
 */
#ifndef DOPPEL_HW_DEV_AHCI_H
#define DOPPEL_HW_DEV_AHCI_H
#include <stddef.h>
#include <stdint.h>

#define AHCI_PCI_CLASS 0x010601u        /* mass storage / SATA / AHCI 1.0, AHCI §2.1.5 */
#define AHCI_ABAR_BAR 5u                /* ABAR is BAR5 (config offset 24h), AHCI §2.1.11 */

/* ---- Generic host control, AHCI §3.1 ------------------------------------------------ */

#define AHCI_CAP 0x00u                  /* HBA Capabilities, RO, §3.1.1 */
#define   AHCI_CAP_NP_MASK 0x1Fu        /* 4:0 number of ports, 0-based */
#define   AHCI_CAP_SXS (1u << 5)        /* external SATA */
#define   AHCI_CAP_EMS (1u << 6)        /* enclosure management */
#define   AHCI_CAP_CCCS (1u << 7)       /* command completion coalescing */
#define   AHCI_CAP_NCS_SHIFT 8          /* 12:8 command slots per port, 0-based */
#define   AHCI_CAP_NCS_MASK (0x1Fu << 8)
#define   AHCI_CAP_PSC (1u << 13)       /* partial state capable */
#define   AHCI_CAP_SSC (1u << 14)       /* slumber state capable */
#define   AHCI_CAP_PMD (1u << 15)       /* PIO multiple DRQ block */
#define   AHCI_CAP_FBSS (1u << 16)      /* FIS-based switching */
#define   AHCI_CAP_SPM (1u << 17)       /* port multiplier */
#define   AHCI_CAP_SAM (1u << 18)       /* AHCI only (no legacy IDE interface) */
#define   AHCI_CAP_ISS_SHIFT 20         /* 23:20 interface speed: 1 Gen1, 2 Gen2, 3 Gen3 */
#define   AHCI_CAP_ISS_MASK (0xFu << 20)
#define   AHCI_CAP_SCLO (1u << 24)      /* command list override */
#define   AHCI_CAP_SAL (1u << 25)       /* activity LED */
#define   AHCI_CAP_SALP (1u << 26)      /* aggressive link power management */
#define   AHCI_CAP_SSS (1u << 27)       /* staggered spin-up */
#define   AHCI_CAP_SMPS (1u << 28)      /* mechanical presence switch */
#define   AHCI_CAP_SSNTF (1u << 29)     /* SNotification register */
#define   AHCI_CAP_SNCQ (1u << 30)      /* native command queuing */
#define   AHCI_CAP_S64A (1u << 31)      /* 64-bit addressing */
#define AHCI_GHC 0x04u                  /* Global HBA Control, §3.1.2 */
#define   AHCI_GHC_HR (1u << 0)         /* HBA reset; reads 1 until done */
#define   AHCI_GHC_IE (1u << 1)         /* interrupt enable */
#define   AHCI_GHC_MRSM (1u << 2)       /* MSI revert to single message, RO */
#define   AHCI_GHC_AE (1u << 31)        /* AHCI enable */
#define AHCI_IS 0x08u                   /* Interrupt Status, one bit per port, RW1C, §3.1.3 */
#define AHCI_PI 0x0Cu                   /* Ports Implemented, one bit per port, §3.1.4 */
#define AHCI_VS 0x10u                   /* Version, §3.1.5: MJR 31:16, MNR 15:0 (BCD) */
#define   AHCI_VS_1_3_1 0x00010301u
#define AHCI_CCC_CTL 0x14u              /* Command Completion Coalescing Control, §3.1.6 */
#define   AHCI_CCC_EN (1u << 0)
#define   AHCI_CCC_INT_SHIFT 3          /* 7:3 the interrupt it uses */
#define   AHCI_CCC_CC_SHIFT 8           /* 15:8 command completions */
#define   AHCI_CCC_TV_SHIFT 16          /* 31:16 timeout value, ms */
#define AHCI_CCC_PORTS 0x18u            /* CCC ports, §3.1.7 */
#define AHCI_EM_LOC 0x1Cu               /* Enclosure Management Location, §3.1.8 */
#define   AHCI_EM_LOC_SZ_MASK 0xFFFFu   /* 15:0 buffer size, dwords */
#define   AHCI_EM_LOC_OFST_SHIFT 16     /* 31:16 offset from ABAR, dwords */
#define AHCI_EM_CTL 0x20u               /* Enclosure Management Control, §3.1.9 */
#define   AHCI_EM_CTL_STS_MR (1u << 0)  /* message received */
#define   AHCI_EM_CTL_CTL_TM (1u << 8)  /* transmit message */
#define   AHCI_EM_CTL_CTL_RST (1u << 9) /* reset */
#define AHCI_CAP2 0x24u                 /* HBA Capabilities Extended, §3.1.10 */
#define   AHCI_CAP2_BOH (1u << 0)       /* BIOS/OS handoff */
#define   AHCI_CAP2_NVMP (1u << 1)      /* NVMHCI present */
#define   AHCI_CAP2_APST (1u << 2)      /* automatic partial to slumber */
#define   AHCI_CAP2_SDS (1u << 3)       /* device sleep */
#define   AHCI_CAP2_SADM (1u << 4)      /* aggressive device sleep management */
#define   AHCI_CAP2_DESO (1u << 5)      /* DevSleep entrance from slumber only */
#define AHCI_BOHC 0x28u                 /* BIOS/OS Handoff Control and Status, §3.1.11 */
#define   AHCI_BOHC_BOS (1u << 0)       /* BIOS owned semaphore */
#define   AHCI_BOHC_OOS (1u << 1)       /* OS owned semaphore */
#define   AHCI_BOHC_SOOE (1u << 2)      /* SMI on OS ownership change enable */
#define   AHCI_BOHC_OOC (1u << 3)       /* OS ownership change, RW1C */
#define   AHCI_BOHC_BB (1u << 4)        /* BIOS busy */

/* ---- Port registers, AHCI §3.3: port p at ABAR + 0x100 + p * 0x80 ------------------- */

#define AHCI_PORT_BASE 0x100u
#define AHCI_PORT_STRIDE 0x80u
#define AHCI_MAX_PORTS 32u
#define AHCI_PORT(p) (AHCI_PORT_BASE + (uint32_t)(p) * AHCI_PORT_STRIDE)

#define AHCI_PxCLB 0x00u                /* Command List Base, 1 KiB aligned, §3.3.1 */
#define AHCI_PxCLBU 0x04u               /* its upper 32 bits (CAP.S64A), §3.3.2 */
#define AHCI_PxFB 0x08u                 /* FIS Base, 256 B aligned, §3.3.3 */
#define AHCI_PxFBU 0x0Cu                /* §3.3.4 */
#define AHCI_PxIS 0x10u                 /* Interrupt Status, RW1C, §3.3.5 */
#define AHCI_PxIE 0x14u                 /* Interrupt Enable, same bits, §3.3.6 */
#define   AHCI_PxIS_DHRS (1u << 0)      /* Device to Host Register FIS received */
#define   AHCI_PxIS_PSS (1u << 1)       /* PIO Setup FIS received */
#define   AHCI_PxIS_DSS (1u << 2)       /* DMA Setup FIS received */
#define   AHCI_PxIS_SDBS (1u << 3)      /* Set Device Bits FIS received */
#define   AHCI_PxIS_UFS (1u << 4)       /* unknown FIS */
#define   AHCI_PxIS_DPS (1u << 5)       /* descriptor (PRD with I set) processed */
#define   AHCI_PxIS_PCS (1u << 6)       /* port connect change (PxSERR.DIAG.X) */
#define   AHCI_PxIS_DMPS (1u << 7)      /* device mechanical presence */
#define   AHCI_PxIS_PRCS (1u << 22)     /* PhyRdy change (PxSERR.DIAG.N) */
#define   AHCI_PxIS_IPMS (1u << 23)     /* incorrect port multiplier */
#define   AHCI_PxIS_OFS (1u << 24)      /* overflow */
#define   AHCI_PxIS_INFS (1u << 26)     /* interface non-fatal error */
#define   AHCI_PxIS_IFS (1u << 27)      /* interface fatal error */
#define   AHCI_PxIS_HBDS (1u << 28)     /* host bus data error */
#define   AHCI_PxIS_HBFS (1u << 29)     /* host bus fatal error */
#define   AHCI_PxIS_TFES (1u << 30)     /* task file error (status ERR) */
#define   AHCI_PxIS_CPDS (1u << 31)     /* cold port detect */
#define   AHCI_PxIS_ERRORS (AHCI_PxIS_OFS | AHCI_PxIS_INFS | AHCI_PxIS_IFS | AHCI_PxIS_HBDS | \
			    AHCI_PxIS_HBFS | AHCI_PxIS_TFES)
/* every PxIS bit §3.3.5 defines (the others are reserved) */
#define   AHCI_PxIS_DEFINED (AHCI_PxIS_DHRS | AHCI_PxIS_PSS | AHCI_PxIS_DSS | AHCI_PxIS_SDBS | \
			     AHCI_PxIS_UFS | AHCI_PxIS_DPS | AHCI_PxIS_PCS | AHCI_PxIS_DMPS | \
			     AHCI_PxIS_PRCS | AHCI_PxIS_IPMS | AHCI_PxIS_ERRORS | AHCI_PxIS_CPDS)
#define AHCI_PxCMD 0x18u                /* Command and Status, §3.3.7 */
#define   AHCI_PxCMD_ST (1u << 0)       /* start: process the command list */
#define   AHCI_PxCMD_SUD (1u << 1)      /* spin-up device */
#define   AHCI_PxCMD_POD (1u << 2)      /* power on device */
#define   AHCI_PxCMD_CLO (1u << 3)      /* command list override */
#define   AHCI_PxCMD_FRE (1u << 4)      /* FIS receive enable */
#define   AHCI_PxCMD_CCS_SHIFT 8        /* 12:8 current command slot */
#define   AHCI_PxCMD_MPSS (1u << 13)    /* mechanical presence switch state */
#define   AHCI_PxCMD_FR (1u << 14)      /* FIS receive running */
#define   AHCI_PxCMD_CR (1u << 15)      /* command list running */
#define   AHCI_PxCMD_CPS (1u << 16)     /* cold presence state */
#define   AHCI_PxCMD_PMA (1u << 17)     /* port multiplier attached */
#define   AHCI_PxCMD_HPCP (1u << 18)    /* hot plug capable */
#define   AHCI_PxCMD_MPSP (1u << 19)    /* mechanical presence switch attached */
#define   AHCI_PxCMD_CPD (1u << 20)     /* cold presence detection */
#define   AHCI_PxCMD_ESP (1u << 21)     /* external SATA port */
#define   AHCI_PxCMD_FBSCP (1u << 22)   /* FIS-based switching capable */
#define   AHCI_PxCMD_APSTE (1u << 23)   /* automatic partial to slumber enable */
#define   AHCI_PxCMD_ATAPI (1u << 24)   /* device is ATAPI */
#define   AHCI_PxCMD_DLAE (1u << 25)    /* drive LED on ATAPI enable */
#define   AHCI_PxCMD_ALPE (1u << 26)    /* aggressive link power management enable */
#define   AHCI_PxCMD_ASP (1u << 27)     /* aggressive slumber / partial */
#define   AHCI_PxCMD_ICC_SHIFT 28       /* 31:28 interface communication control */
#define   AHCI_PxCMD_ICC_ACTIVE (1u << 28)
#define AHCI_PxTFD 0x20u                /* Task File Data, §3.3.8: 7:0 status, 15:8 error */
#define   AHCI_PxTFD_STS_MASK 0xFFu
#define   AHCI_PxTFD_ERR_SHIFT 8
#define AHCI_PxSIG 0x24u                /* Signature of the attached device, §3.3.9 */
#define   AHCI_SIG_ATA 0x00000101u      /* SATA drive */
#define   AHCI_SIG_ATAPI 0xEB140101u    /* ATAPI device */
#define   AHCI_SIG_SEMB 0xC33C0101u     /* enclosure management bridge */
#define   AHCI_SIG_PM 0x96690101u       /* port multiplier */
#define AHCI_PxSSTS 0x28u               /* Serial ATA Status (SStatus), RO, §3.3.10 */
#define   AHCI_SSTS_DET_MASK 0xFu       /* 3:0 device detection */
#define   AHCI_SSTS_DET_NONE 0x0u       /*   no device, no Phy communication */
#define   AHCI_SSTS_DET_NOPHY 0x1u      /*   device present, no Phy communication */
#define   AHCI_SSTS_DET_PRESENT 0x3u    /*   device present and Phy communication established */
#define   AHCI_SSTS_DET_OFFLINE 0x4u    /*   Phy offline (disabled or loopback) */
#define   AHCI_SSTS_SPD_SHIFT 4         /* 7:4 speed: 0 none, 1 Gen1, 2 Gen2, 3 Gen3 */
#define   AHCI_SSTS_SPD_MASK (0xFu << 4)
#define   AHCI_SSTS_IPM_SHIFT 8         /* 11:8 power state */
#define   AHCI_SSTS_IPM_MASK (0xFu << 8)
#define   AHCI_SSTS_IPM_ACTIVE (0x1u << 8)
#define   AHCI_SSTS_IPM_PARTIAL (0x2u << 8)
#define   AHCI_SSTS_IPM_SLUMBER (0x6u << 8)
#define   AHCI_SSTS_IPM_DEVSLEEP (0x8u << 8)
#define AHCI_PxSCTL 0x2Cu               /* Serial ATA Control (SControl), §3.3.11 */
#define   AHCI_SCTL_DET_MASK 0xFu       /* 3:0 device detection initialization */
#define   AHCI_SCTL_DET_NONE 0x0u       /*   no action */
#define   AHCI_SCTL_DET_COMRESET 0x1u   /*   COMRESET while set (hold at least 1 ms) */
#define   AHCI_SCTL_DET_DISABLE 0x4u    /*   Phy offline */
#define   AHCI_SCTL_SPD_SHIFT 4         /* 7:4 speed allowed: 0 no limit */
#define   AHCI_SCTL_IPM_SHIFT 8         /* 11:8 transitions not allowed: 1 partial, 2 slumber, 4 devsleep */
#define AHCI_PxSERR 0x30u               /* Serial ATA Error (SError), RW1C, §3.3.12 */
#define   AHCI_SERR_ERR_I (1u << 0)     /* recovered data integrity error */
#define   AHCI_SERR_ERR_M (1u << 1)     /* recovered communications error */
#define   AHCI_SERR_ERR_T (1u << 8)     /* transient data integrity error */
#define   AHCI_SERR_ERR_C (1u << 9)     /* persistent communication or data integrity error */
#define   AHCI_SERR_ERR_P (1u << 10)    /* protocol error */
#define   AHCI_SERR_ERR_E (1u << 11)    /* internal error */
#define   AHCI_SERR_DIAG_N (1u << 16)   /* PhyRdy change */
#define   AHCI_SERR_DIAG_I (1u << 17)   /* Phy internal error */
#define   AHCI_SERR_DIAG_W (1u << 18)   /* comm wake */
#define   AHCI_SERR_DIAG_B (1u << 19)   /* 10B to 8B decode error */
#define   AHCI_SERR_DIAG_D (1u << 20)   /* disparity error */
#define   AHCI_SERR_DIAG_C (1u << 21)   /* CRC error */
#define   AHCI_SERR_DIAG_H (1u << 22)   /* handshake error */
#define   AHCI_SERR_DIAG_S (1u << 23)   /* link sequence error */
#define   AHCI_SERR_DIAG_T (1u << 24)   /* transport state transition error */
#define   AHCI_SERR_DIAG_F (1u << 25)   /* unknown FIS type */
#define   AHCI_SERR_DIAG_X (1u << 26)   /* exchanged: COMINIT received (hot plug) */
#define AHCI_PxSACT 0x34u               /* Serial ATA Active (SActive): NCQ tags issued, §3.3.13 */
#define AHCI_PxCI 0x38u                 /* Command Issue: one bit per slot, §3.3.14 */
#define AHCI_PxSNTF 0x3Cu               /* Serial ATA Notification, §3.3.15: 15:0 PM ports, RW1C */
#define AHCI_PxFBS 0x40u                /* FIS-based Switching Control, §3.3.16 */
#define   AHCI_FBS_EN (1u << 0)
#define   AHCI_FBS_DEC (1u << 1)        /* device error clear */
#define   AHCI_FBS_SDE (1u << 2)        /* single device error */
#define   AHCI_FBS_DEV_SHIFT 8          /* 11:8 device to issue to */
#define   AHCI_FBS_ADO_SHIFT 12         /* 15:12 active device optimization */
#define   AHCI_FBS_DWE_SHIFT 16         /* 19:16 device with error */
#define AHCI_PxDEVSLP 0x44u             /* Device Sleep, §3.3.17 */
#define   AHCI_DEVSLP_ADSE (1u << 0)    /* aggressive device sleep enable */
#define   AHCI_DEVSLP_DSP (1u << 1)     /* device sleep present */
#define   AHCI_DEVSLP_DETO_SHIFT 2      /* 9:2 device sleep exit timeout, ms */
#define   AHCI_DEVSLP_MDAT_SHIFT 10     /* 14:10 minimum assertion time, ms */
#define   AHCI_DEVSLP_DITO_SHIFT 15     /* 24:15 idle timeout, ms */
#define   AHCI_DEVSLP_DM_SHIFT 25       /* 28:25 DITO multiplier, 0-based */
#define AHCI_PxVS 0x70u                 /* 0x70..0x7F vendor specific, §3.3 */

/* ---- System memory structures, AHCI §4.2 -------------------------------------------- */

#define AHCI_MAX_SLOTS 32u              /* command list entries at most (CAP.NCS + 1) */

/* Command header: one of the 32 entries of the command list (1 KiB, 1 KiB aligned),
 * §4.2.2. */
struct ahci_cmd_hdr {
	uint16_t flags;                 /* DW0 15:0, AHCI_CMDH_* */
	uint16_t prdtl;                 /* DW0 31:16 PRDT entries (0..65535) */
	uint32_t prdbc;                 /* DW1 bytes transferred, written by the HBA */
	uint32_t ctba;                  /* DW2 command table base, 128 B aligned (6:0 zero) */
	uint32_t ctbau;                 /* DW3 upper 32 bits */
	uint32_t rsvd4[4];              /* DW4..7 */
};
_Static_assert(sizeof(struct ahci_cmd_hdr) == 32, "AHCI 1.3.1 §4.2.2: command header is 32 bytes");
#define AHCI_CMDH_CFL_MASK 0x1Fu        /* 4:0 command FIS length in dwords (2..16) */
#define AHCI_CMDH_A (1u << 5)           /* ATAPI: ACMD holds a SCSI command */
#define AHCI_CMDH_W (1u << 6)           /* write: host to device */
#define AHCI_CMDH_P (1u << 7)           /* prefetchable */
#define AHCI_CMDH_R (1u << 8)           /* reset (part of a software reset sequence) */
#define AHCI_CMDH_B (1u << 9)           /* BIST */
#define AHCI_CMDH_C (1u << 10)          /* clear PxCI busy upon R_OK */
#define AHCI_CMDH_PMP_SHIFT 12          /* 15:12 port multiplier port */
#define AHCI_CMD_LIST_BYTES 1024u
#define AHCI_CMD_LIST_ALIGN 1024u
#define AHCI_CMD_TABLE_ALIGN 128u

/* Physical Region Descriptor Table entry, §4.2.3.3. */
struct ahci_prd {
	uint32_t dba;                   /* data base address; bit 0 zero (word aligned) */
	uint32_t dbau;                  /* upper 32 bits */
	uint32_t rsvd2;
	uint32_t dbc_i;                 /* 21:0 DBC (byte count - 1), 31 I (interrupt) */
};
_Static_assert(sizeof(struct ahci_prd) == 16, "AHCI 1.3.1 §4.2.3.3: PRD entry is 16 bytes");
/* DBC holds the byte count minus one; bit 0 must be 1 (an even count), the largest
 * is 4 MiB. */
#define AHCI_PRD_DBC_MASK 0x003FFFFFu
#define AHCI_PRD_I (1u << 31)           /* interrupt (PxIS.DPS) when this entry is done */
#define AHCI_PRD_MAX_BYTES (4u << 20)
#define AHCI_PRD_DBC(bytes) (((uint32_t)(bytes) - 1u) & AHCI_PRD_DBC_MASK)

/* Command table, §4.2.3: command FIS, ATAPI command, then the PRDT (prdtl entries,
 * following at 0x80). The fixed part is 128 bytes. */
struct ahci_cmd_table {
	uint8_t cfis[64];               /* 0x00 command FIS (a Register H2D FIS) */
	uint8_t acmd[16];               /* 0x40 ATAPI command, 12 or 16 bytes */
	uint8_t rsvd80[48];             /* 0x50 */
	struct ahci_prd prdt[];         /* 0x80 */
};
_Static_assert(sizeof(struct ahci_cmd_table) == 128, "AHCI 1.3.1 §4.2.3: header of 128 bytes");
_Static_assert(offsetof(struct ahci_cmd_table, prdt) == 0x80, "AHCI 1.3.1 §4.2.3: PRDT at 80h");

/* ---- FIS layouts, Serial ATA 3.2 §10.5 ---------------------------------------------- */

#define FIS_TYPE_REG_H2D 0x27u          /* Register Host to Device, §10.5.5 */
#define FIS_TYPE_REG_D2H 0x34u          /* Register Device to Host, §10.5.6 */
#define FIS_TYPE_DMA_ACT 0x39u          /* DMA Activate, §10.5.8 */
#define FIS_TYPE_DMA_SETUP 0x41u        /* DMA Setup, §10.5.9 */
#define FIS_TYPE_DATA 0x46u             /* Data, §10.5.12 */
#define FIS_TYPE_BIST 0x58u             /* BIST Activate, §10.5.10 */
#define FIS_TYPE_PIO_SETUP 0x5Fu        /* PIO Setup, §10.5.11 */
#define FIS_TYPE_SDB 0xA1u              /* Set Device Bits, §10.5.7 */

/* Register Host to Device FIS, 20 bytes (CFL 5). */
struct fis_reg_h2d {
	uint8_t type;                   /* FIS_TYPE_REG_H2D */
	uint8_t pmp_c;                  /* 3:0 PM port, 7 C (command register update) */
	uint8_t command;
	uint8_t feature_lo;             /* features 7:0 */
	uint8_t lba0, lba1, lba2;       /* LBA 7:0, 15:8, 23:16 */
	uint8_t device;
	uint8_t lba3, lba4, lba5;       /* LBA 31:24, 39:32, 47:40 */
	uint8_t feature_hi;             /* features 15:8 */
	uint8_t count_lo, count_hi;     /* count 7:0, 15:8 */
	uint8_t icc;                    /* isochronous command completion */
	uint8_t control;
	uint8_t aux[4];                 /* auxiliary 31:0 */
};
_Static_assert(sizeof(struct fis_reg_h2d) == 20, "SATA 3.2 §10.5.5: Register H2D FIS is 20 bytes");
#define FIS_H2D_C (1u << 7)             /* pmp_c: the FIS carries a command */
#define FIS_H2D_CFL 5u                  /* its length in dwords, for AHCI_CMDH_CFL */

/* Register Device to Host FIS, 20 bytes. */
struct fis_reg_d2h {
	uint8_t type;                   /* FIS_TYPE_REG_D2H */
	uint8_t pmp_i;                  /* 3:0 PM port, 6 I (interrupt) */
	uint8_t status, error;
	uint8_t lba0, lba1, lba2;
	uint8_t device;
	uint8_t lba3, lba4, lba5;
	uint8_t rsvd11;
	uint8_t count_lo, count_hi;
	uint8_t rsvd14[6];
};
_Static_assert(sizeof(struct fis_reg_d2h) == 20, "SATA 3.2 §10.5.6: Register D2H FIS is 20 bytes");
#define FIS_I (1u << 6)                 /* pmp_i etc.: interrupt bit */

/* Set Device Bits FIS, 8 bytes. */
struct fis_sdb {
	uint8_t type;                   /* FIS_TYPE_SDB */
	uint8_t pmp_in;                 /* 3:0 PM port, 6 I, 7 N (notification) */
	uint8_t status;                 /* 2:0 status bits 2:0, 6:4 status bits 6:4 */
	uint8_t error;
	uint32_t sactive;               /* NCQ: tags completed (bit per tag) */
};
_Static_assert(sizeof(struct fis_sdb) == 8, "SATA 3.2 §10.5.7: Set Device Bits FIS is 8 bytes");
#define FIS_SDB_N (1u << 7)

/* DMA Setup FIS, 28 bytes. */
struct fis_dma_setup {
	uint8_t type;                   /* FIS_TYPE_DMA_SETUP */
	uint8_t pmp_dia;                /* 3:0 PM port, 5 D (direction: 1 device to host), 6 I, 7 A (auto-activate) */
	uint8_t rsvd2[2];
	uint32_t buf_id_lo, buf_id_hi;  /* DMA buffer identifier (NCQ: the tag in 4:0 of lo) */
	uint32_t rsvd12;
	uint32_t buf_offset;            /* DMA buffer offset, bits 1:0 zero */
	uint32_t count;                 /* transfer count, even */
	uint32_t rsvd24;
};
_Static_assert(sizeof(struct fis_dma_setup) == 28, "SATA 3.2 §10.5.9: DMA Setup FIS is 28 bytes");
_Static_assert(offsetof(struct fis_dma_setup, buf_offset) == 16, "SATA 3.2 §10.5.9: offset at byte 16");

/* PIO Setup FIS, 20 bytes. */
struct fis_pio_setup {
	uint8_t type;                   /* FIS_TYPE_PIO_SETUP */
	uint8_t pmp_di;                 /* 3:0 PM port, 5 D (1: device to host), 6 I */
	uint8_t status, error;
	uint8_t lba0, lba1, lba2;
	uint8_t device;
	uint8_t lba3, lba4, lba5;
	uint8_t rsvd11;
	uint8_t count_lo, count_hi;
	uint8_t rsvd14;
	uint8_t e_status;               /* the status after the data transfer */
	uint16_t xfer_count;            /* bytes in this data transfer */
	uint8_t rsvd18[2];
};
_Static_assert(sizeof(struct fis_pio_setup) == 20, "SATA 3.2 §10.5.11: PIO Setup FIS is 20 bytes");
#define FIS_D (1u << 5)                 /* pmp_dia/pmp_di: direction device to host */
#define FIS_DMA_A (1u << 7)             /* pmp_dia: auto-activate */

/* Received FIS area: where the HBA copies FISes from the device, 256 bytes, 256 B
 * aligned (PxFB), §4.2.1. */
struct ahci_rx_fis {
	struct fis_dma_setup dsfis;     /* 0x00 */
	uint8_t rsvd1c[4];
	struct fis_pio_setup psfis;     /* 0x20 */
	uint8_t rsvd34[12];
	struct fis_reg_d2h rfis;        /* 0x40 */
	uint8_t rsvd54[4];
	struct fis_sdb sdbfis;          /* 0x58 */
	uint8_t ufis[64];               /* 0x60 unknown FIS */
	uint8_t rsvda0[96];             /* 0xA0..0xFF */
};
_Static_assert(sizeof(struct ahci_rx_fis) == 256, "AHCI 1.3.1 §4.2.1: received FIS area is 256 bytes");
_Static_assert(offsetof(struct ahci_rx_fis, psfis) == 0x20, "AHCI 1.3.1 §4.2.1: PSFIS");
_Static_assert(offsetof(struct ahci_rx_fis, rfis) == 0x40, "AHCI 1.3.1 §4.2.1: RFIS");
_Static_assert(offsetof(struct ahci_rx_fis, sdbfis) == 0x58, "AHCI 1.3.1 §4.2.1: SDBFIS");
_Static_assert(offsetof(struct ahci_rx_fis, ufis) == 0x60, "AHCI 1.3.1 §4.2.1: UFIS");
#define AHCI_RX_FIS_ALIGN 256u

/* ---- ATA commands (ACS-3 clause 7), status and error bits -------------------------------- */

#define ATA_CMD_DSM 0x06u               /* DATA SET MANAGEMENT (TRIM: feature bit 0), DMA */
#define   ATA_DSM_TRIM 0x01u
#define ATA_CMD_READ_DMA_EXT 0x25u      /* READ DMA EXT, 48-bit LBA */
#define ATA_CMD_READ_LOG_EXT 0x2Fu      /* READ LOG EXT: count = pages, LBA 7:0 = log address */
#define ATA_CMD_WRITE_DMA_EXT 0x35u     /* WRITE DMA EXT */
#define ATA_CMD_READ_LOG_DMA_EXT 0x47u
#define ATA_CMD_READ_FPDMA 0x60u        /* READ FPDMA QUEUED (NCQ) */
#define ATA_CMD_WRITE_FPDMA 0x61u       /* WRITE FPDMA QUEUED (NCQ) */
#define ATA_CMD_SEND_FPDMA 0x64u        /* SEND FPDMA QUEUED (queued TRIM) */
#define ATA_CMD_IDENTIFY_PACKET 0xA1u   /* IDENTIFY PACKET DEVICE */
#define ATA_CMD_FLUSH_CACHE 0xE7u
#define ATA_CMD_FLUSH_CACHE_EXT 0xEAu
#define ATA_CMD_IDENTIFY 0xECu          /* IDENTIFY DEVICE: 512 bytes, PIO in */
#define ATA_CMD_SET_FEATURES 0xEFu
#define   ATA_SETF_RESERVED 0x00u       /* subcommand 00h: reserved (ACS-3 §7.45.1) */
#define   ATA_SETF_WC_ON 0x02u          /* enable volatile write cache (ACS-3 §7.45.4) */
#define   ATA_SETF_XFER_MODE 0x03u      /* set transfer mode (ACS-3 §7.45.5) */
#define   ATA_SETF_WC_OFF 0x82u         /* disable volatile write cache */
#define ATA_CMD_RESERVED_01 0x01u       /* a reserved command code (ACS-3 Annex B, Table B.2) */

#define ATA_DEV_LBA (1u << 6)           /* device register: LBA addressing */
#define ATA_DEV_FUA (1u << 7)           /* device register, FPDMA: forced unit access */
#define ATA_FPDMA_TAG_SHIFT 3           /* FPDMA: count 7:3 holds the NCQ tag; features hold the sector count */

#define ATA_LOG_NCQ_ERROR 0x10u         /* NCQ Command Error log, 1 page (ACS-3 Annex A) */
#define ATA_LOG_IDENTIFY 0x30u          /* IDENTIFY DEVICE data log */
#define ATA_SECTOR_BYTES 512u           /* log pages and IDENTIFY data */

/* NCQ Command Error log page (512 bytes): byte 0 7 NQ (non-queued command failed),
 * 4:0 tag; byte 2 status, 3 error, 4..10 LBA and device as in a D2H FIS, 12..13 count;
 * byte 511 checksum. */
#define ATA_NCQ_ERR_TAG_MASK 0x1Fu
#define ATA_NCQ_ERR_NQ (1u << 7)

#define ATA_SR_ERR (1u << 0)            /* status: error */
#define ATA_SR_DRQ (1u << 3)            /* status: data request */
#define ATA_SR_DF (1u << 5)             /* status: device fault */
#define ATA_SR_DRDY (1u << 6)           /* status: device ready */
#define ATA_SR_BSY (1u << 7)            /* status: busy */
#define ATA_ER_ABRT (1u << 2)           /* error: command aborted */
#define ATA_ER_IDNF (1u << 4)           /* error: ID not found (LBA out of range) */
#define ATA_ER_UNC (1u << 6)            /* error: uncorrectable data */
#define ATA_ER_ICRC (1u << 7)           /* error: interface CRC */

/* IDENTIFY DEVICE data, 256 words (ACS-3, IDENTIFY DEVICE data): word numbers. */
#define ATA_ID_SERIAL 10u               /* words 10..19: serial number, 20 ASCII chars */
#define ATA_ID_FW_REV 23u               /* words 23..26: firmware revision */
#define ATA_ID_MODEL 27u                /* words 27..46: model number */
#define ATA_ID_CAPS 49u                 /*   bit 9 LBA, bit 8 DMA supported */
#define ATA_ID_LBA28 60u                /* words 60..61: 28-bit addressable sectors */
#define ATA_ID_ADD_SUPPORTED 69u        /*   bit 14 deterministic read after TRIM, bit 5 read zeroes after TRIM */
#define ATA_ID_QUEUE_DEPTH 75u          /*   4:0 max queue depth - 1 */
#define ATA_ID_SATA_CAPS 76u            /*   bit 8 NCQ, bits 3:1 Gen1..Gen3 speeds */
#define ATA_ID_SATA_CAPS2 77u
#define ATA_ID_SATA_FEAT 78u            /* SATA features supported */
#define ATA_ID_MAJOR_VER 80u
#define ATA_ID_CMDSET1 82u              /*   bit 5 volatile write cache supported */
#define ATA_ID_CMDSET2 83u              /*   bit 10 48-bit address, bit 13 FLUSH CACHE EXT */
#define ATA_ID_CMDSET1_EN 85u           /*   bit 5 volatile write cache enabled */
#define ATA_ID_CMDSET2_EN 86u           /*   bit 10 48-bit address enabled */
#define ATA_ID_LBA48 100u               /* words 100..103: 48-bit addressable sectors */
#define ATA_ID_DSM_MAX 105u             /* max 512-byte blocks of DSM ranges per command */
#define ATA_ID_SECTOR_SIZE 106u         /* physical/logical sector size (valid: 15:14 = 01b) */
#define ATA_ID_LOGICAL_SIZE 117u        /* words 117..118: logical sector size, words */
#define ATA_ID_DSM 169u                 /*   bit 0 TRIM supported */
#define ATA_ID_ROTATION 217u            /* nominal media rotation rate: 1 = non-rotating */
#define ATA_ID_WORDS 256u

#define ATA_ID_CAPS_LBA (1u << 9)
#define ATA_ID_CAPS_DMA (1u << 8)
#define ATA_ID_ADD_DRAT (1u << 14)
#define ATA_ID_ADD_RZAT (1u << 5)
#define ATA_ID_QDEPTH_MASK 0x1Fu
#define ATA_ID_SATA_NCQ (1u << 8)
#define ATA_ID_CMDSET1_WCACHE (1u << 5)
#define ATA_ID_CMDSET2_LBA48 (1u << 10)
#define ATA_ID_CMDSET2_FLUSH_EXT (1u << 13)
#define ATA_ID_SECTOR_VALID_MASK 0xC000u        /* word 106 15:14 must read 01b */
#define ATA_ID_SECTOR_VALID 0x4000u
#define ATA_ID_SECTOR_LONG_LOGICAL (1u << 12)   /* logical sector > 256 words: see 117..118 */
#define ATA_ID_SECTOR_MULTI (1u << 13)          /* several logical sectors per physical */
#define ATA_ID_SECTOR_LOG2_MASK 0xFu            /* 3:0 log2(logical per physical) */
#define ATA_ID_DSM_TRIM (1u << 0)

#endif /* DOPPEL_HW_DEV_AHCI_H */
