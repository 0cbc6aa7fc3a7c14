# The shared kernel: every .c here is compiled into both the image and doppel-sim
# (and, for the parsers, into the unit tests and fuzz targets). No platform code.
# DOPPEL_KERNEL_SOURCES is the kernel without its test code (listed apart below).
set(DOPPEL_KERNEL_DIR ${CMAKE_CURRENT_LIST_DIR})
file(GLOB DOPPEL_KERNEL_SOURCES CONFIGURE_DEPENDS
  ${DOPPEL_KERNEL_DIR}/core/*.c
  ${DOPPEL_KERNEL_DIR}/lock/*.c
  ${DOPPEL_KERNEL_DIR}/init/*.c
  ${DOPPEL_KERNEL_DIR}/lib/*.c
  ${DOPPEL_KERNEL_DIR}/mm/*.c
  ${DOPPEL_KERNEL_DIR}/acpi/*.c
  ${DOPPEL_KERNEL_DIR}/apic/*.c
  ${DOPPEL_KERNEL_DIR}/time/*.c
  ${DOPPEL_KERNEL_DIR}/smp/*.c
  ${DOPPEL_KERNEL_DIR}/sched/*.c
  ${DOPPEL_KERNEL_DIR}/pci/*.c
  ${DOPPEL_KERNEL_DIR}/iommu/*.c
  ${DOPPEL_KERNEL_DIR}/dma/*.c
  ${DOPPEL_KERNEL_DIR}/block/*.c
  ${DOPPEL_KERNEL_DIR}/drivers/*/*.c)
# Test code: ktest suites, benchmarks, their runner and helpers. Kernel code never
# depends on it (kmain reaches it through run hooks, kernel/run_hook.h), so the
# image-release preset (DOPPEL_KERNEL_TESTS=OFF) builds the kernel without it.
file(GLOB DOPPEL_KERNEL_TEST_SOURCES CONFIGURE_DEPENDS
  ${DOPPEL_KERNEL_DIR}/*/*_ktest.c
  ${DOPPEL_KERNEL_DIR}/*/*/*_ktest.c
  ${DOPPEL_KERNEL_DIR}/*/*_bench.c
  ${DOPPEL_KERNEL_DIR}/*/*/*_bench.c
  ${DOPPEL_KERNEL_DIR}/ktest/*.c
  ${DOPPEL_KERNEL_DIR}/pci/msi_ktest_dev.c
  ${DOPPEL_KERNEL_DIR}/smp/smp_testutil.c)
list(REMOVE_ITEM DOPPEL_KERNEL_SOURCES ${DOPPEL_KERNEL_TEST_SOURCES})
# Pure parsers, linkable alone against a fake HAL and klib (unit tests, fuzzing).
set(DOPPEL_ACPI_SOURCES
  ${DOPPEL_KERNEL_DIR}/acpi/acpi.c
  ${DOPPEL_KERNEL_DIR}/acpi/madt.c)
set(DOPPEL_KERNEL_INCLUDES ${DOPPEL_KERNEL_DIR}/include)

# klib: the kernel pieces that depend on nothing but the HAL (formatting, strings,
# console log, spinlocks, MCS locks and the lock-order checker, panic/exit, command
# line, fault injection, boot_info).
# The image and doppel-sim compile them with the rest of the kernel; host
# consumers (unit tests, fuzz targets) link the static library doppel_add_klib
# makes, built with that build tree's own flags (sanitizers, fuzzer coverage).
# The consumer brings the HAL (tests/unit/fake_hal.c).
set(DOPPEL_KLIB_SOURCES
  ${DOPPEL_KERNEL_DIR}/lib/printf.c
  ${DOPPEL_KERNEL_DIR}/lib/string.c
  ${DOPPEL_KERNEL_DIR}/core/boot.c
  ${DOPPEL_KERNEL_DIR}/core/cmdline.c
  ${DOPPEL_KERNEL_DIR}/core/console.c
  ${DOPPEL_KERNEL_DIR}/core/fault.c
  ${DOPPEL_KERNEL_DIR}/core/log.c
  ${DOPPEL_KERNEL_DIR}/core/panic.c
  ${DOPPEL_KERNEL_DIR}/lock/lockdep.c
  ${DOPPEL_KERNEL_DIR}/lock/mcs.c
  ${DOPPEL_KERNEL_DIR}/lock/spinlock.c)

# doppel_add_klib([COMPILE_OPTIONS opts...]): the target klib, once per build tree.
function(doppel_add_klib)
  cmake_parse_arguments(K "" "" "COMPILE_OPTIONS" ${ARGN})
  add_library(klib STATIC ${DOPPEL_KLIB_SOURCES})
  target_include_directories(klib PUBLIC ${DOPPEL_KERNEL_INCLUDES})
  target_link_libraries(klib PUBLIC doppel_hw)
  target_compile_options(klib PRIVATE ${DOPPEL_WARNINGS} ${K_COMPILE_OPTIONS})
endfunction()
