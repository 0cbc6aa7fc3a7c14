/*
 * io.c — the HAL's device-register accessors: MMIO loads/stores of exactly one
 * access of the named width, and x86 port I/O (IN/OUT, Intel SDM Vol. 2A/2B).
 * Written as inline assembly so the compiler can neither split, merge nor
 * reorder them; the "memory" clobber orders them against ordinary C accesses.
 */
#include <stdint.h>

#include "hal/hal.h"

uint8_t hal_mmio_read8(const volatile void *addr)
{
	uint8_t v;

	__asm__ volatile("movb (%1), %0" : "=q"(v) : "r"(addr) : "memory");
	return v;
}

uint16_t hal_mmio_read16(const volatile void *addr)
{
	uint16_t v;

	__asm__ volatile("movw (%1), %0" : "=r"(v) : "r"(addr) : "memory");
	return v;
}

uint32_t hal_mmio_read32(const volatile void *addr)
{
	uint32_t v;

	__asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(addr) : "memory");
	return v;
}

uint64_t hal_mmio_read64(const volatile void *addr)
{
	uint64_t v;

	__asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(addr) : "memory");
	return v;
}

void hal_mmio_write8(volatile void *addr, uint8_t v)
{
	__asm__ volatile("movb %0, (%1)" : : "q"(v), "r"(addr) : "memory");
}

void hal_mmio_write16(volatile void *addr, uint16_t v)
{
	__asm__ volatile("movw %0, (%1)" : : "r"(v), "r"(addr) : "memory");
}

void hal_mmio_write32(volatile void *addr, uint32_t v)
{
	__asm__ volatile("movl %0, (%1)" : : "r"(v), "r"(addr) : "memory");
}

void hal_mmio_write64(volatile void *addr, uint64_t v)
{
	__asm__ volatile("movq %0, (%1)" : : "r"(v), "r"(addr) : "memory");
}

/* A port nothing decodes reads as all ones on PC chipsets and in QEMU. */
uint8_t hal_pio_in8(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

uint16_t hal_pio_in16(uint16_t port)
{
	uint16_t v;

	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

uint32_t hal_pio_in32(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

void hal_pio_out8(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

void hal_pio_out16(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

void hal_pio_out32(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}
