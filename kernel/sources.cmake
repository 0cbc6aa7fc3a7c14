# The shared kernel: every .c here is compiled into both the image and doppel-sim
# (and, for the parsers, into the unit tests and fuzz targets). No platform code.
set(DOPPEL_KERNEL_DIR ${CMAKE_CURRENT_LIST_DIR})
file(GLOB DOPPEL_KERNEL_SOURCES CONFIGURE_DEPENDS
  ${DOPPEL_KERNEL_DIR}/core/*.c
  ${DOPPEL_KERNEL_DIR}/init/*.c
  ${DOPPEL_KERNEL_DIR}/lib/*.c
  ${DOPPEL_KERNEL_DIR}/mm/*.c
  ${DOPPEL_KERNEL_DIR}/acpi/*.c
  ${DOPPEL_KERNEL_DIR}/apic/*.c
  ${DOPPEL_KERNEL_DIR}/time/*.c
  ${DOPPEL_KERNEL_DIR}/smp/*.c
  ${DOPPEL_KERNEL_DIR}/pci/*.c
  ${DOPPEL_KERNEL_DIR}/iommu/*.c
  ${DOPPEL_KERNEL_DIR}/dma/*.c
  ${DOPPEL_KERNEL_DIR}/drivers/*/*.c
  ${DOPPEL_KERNEL_DIR}/ktest/*.c)
# Pure parsers, linkable alone against a fake HAL (unit tests, fuzzing).
set(DOPPEL_ACPI_SOURCES
  ${DOPPEL_KERNEL_DIR}/acpi/acpi.c
  ${DOPPEL_KERNEL_DIR}/acpi/madt.c
  ${DOPPEL_KERNEL_DIR}/lib/printf.c
  ${DOPPEL_KERNEL_DIR}/lib/string.c
  ${DOPPEL_KERNEL_DIR}/core/log.c)
set(DOPPEL_KERNEL_INCLUDES ${DOPPEL_KERNEL_DIR}/include)
