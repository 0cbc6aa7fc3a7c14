/*
 * fake_hal.c — the HAL as seen by host unit tests and fuzz targets. Physical
 * memory is a host buffer (NULL outside it, as an unreachable address is for the
 * real HALs); console output is captured so tests assert on log lines.
 */
#include "fake_hal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *mem;
static size_t mem_len;
static char *con;
static size_t con_len, con_cap;
static int echo = -1;

uint8_t *fake_hal_mem_reset(size_t len)
{
	free(mem);
	mem = calloc(1, len ? len : 1);
	mem_len = len;
	return mem;
}

uint8_t *fake_hal_mem_reuse(size_t len)
{
	if (!mem || mem_len != len)
		return fake_hal_mem_reset(len);
	return mem;
}

size_t fake_hal_mem_len(void) { return mem_len; }

const char *fake_hal_console(void) { return con ? con : ""; }

void fake_hal_console_reset(void)
{
	con_len = 0;
	if (con)
		con[0] = '\0';
}

void fake_hal_console_echo(int on) { echo = on; }

uint32_t hal_version(void) { return HAL_VERSION; }
unsigned hal_cpu_index(void) { return 0; }
unsigned long hal_irq_save(void) { return 0; }
void hal_irq_restore(unsigned long f) { (void)f; }
void hal_irq_enable(void) {}
void hal_irq_disable(void) {}
void hal_cpu_relax(void) {}
void hal_cpu_halt(void) { abort(); }
void hal_cpuid(uint32_t l, uint32_t s, uint32_t out[4]) { (void)l; (void)s; memset(out, 0, 16); }
uint64_t hal_rdmsr(uint32_t m) { (void)m; return 0; }
void hal_wrmsr(uint32_t m, uint64_t v) { (void)m; (void)v; }
uint64_t hal_rdtsc(void) { return 0; }
void hal_sched_point(void) {}
bool hal_fault_inject(const char *site) { (void)site; return false; }

void *hal_phys_to_virt(uint64_t pa)
{
	return mem && pa < mem_len ? mem + pa : NULL;
}

uint64_t hal_virt_to_phys(const void *va)
{
	const uint8_t *p = va;
	if (!mem || p < mem || p >= mem + mem_len) {
		fprintf(stderr, "fake_hal: virt_to_phys(%p) outside guest memory\n", va);
		abort();
	}
	return (uint64_t)(p - mem);
}

void hal_console_write(const char *buf, size_t len)
{
	if (echo < 0)
		echo = getenv("DOPPEL_FAKE_HAL_VERBOSE") != NULL;
	if (echo)
		fwrite(buf, 1, len, stderr);
	if (con_len + len + 1 > con_cap) {
		con_cap = (con_len + len + 1) * 2;
		con = realloc(con, con_cap);
	}
	memcpy(con + con_len, buf, len);
	con_len += len;
	con[con_len] = '\0';
	/* keep the capture bounded in long fuzz runs */
	if (con_len > (1u << 20))
		fake_hal_console_reset();
}

void hal_exit(int status)
{
	fprintf(stderr, "fake_hal: kernel called hal_exit(%d)\n%s\n", status, fake_hal_console());
	abort();
}

void hal_hold(int status)
{
	fprintf(stderr, "fake_hal: kernel called hal_hold(%d)\n%s\n", status, fake_hal_console());
	abort();
}

void hal_backtrace(void) {}
void hal_tlb_flush_page(uintptr_t va) { (void)va; }
void hal_tlb_flush_all(void) {}
void *hal_mmio_map(uint64_t pa, size_t len) { (void)pa; (void)len; return NULL; }
void hal_mmio_unmap(void *va, size_t len) { (void)va; (void)len; }
