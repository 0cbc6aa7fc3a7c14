/*
 * rt.c — the C runtime functions a freestanding gcc build may call on its own
 * (memcpy, memmove, memset, memcmp; see kernel/include/kernel/string.h for why
 * the platform provides them). Built with -fno-builtin and
 * -fno-tree-loop-distribute-patterns so gcc cannot turn these bodies back into
 * calls to themselves. REP MOVSB/STOSB: Intel SDM Vol. 2B, and "Enhanced REP
 * MOVSB and STOSB" in the Intel Optimization Reference Manual. Also the libgcc
 * bit-count helpers gcc calls for __builtin_popcount* without -mpopcnt (the
 * image links no libgcc: it is built with the red zone this kernel cannot have).
 */
#include <stddef.h>
#include <stdint.h>

#include "kernel/string.h"

void *memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;

	__asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d == s || n == 0)
		return dst;
	if (d < s || d >= s + n)           /* forward copy cannot clobber unread bytes */
		return memcpy(dst, src, n);
	while (n--)                        /* overlapping with dst above src: backwards */
		d[n] = s[n];
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	void *d = dst;

	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++) {
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	}
	return 0;
}

/* Population count by parallel bit sums ("SWAR"): 2-, 4-, 8-bit partial counts,
 * then one multiply adds the eight byte counts into the top byte. Signatures as
 * in the GCC internals manual, "Integer library routines" (DI = 64-bit). */
int __popcountdi2(unsigned long a);
int __popcountsi2(unsigned int a);

int __popcountdi2(unsigned long a)
{
	a = a - ((a >> 1) & 0x5555555555555555ul);
	a = (a & 0x3333333333333333ul) + ((a >> 2) & 0x3333333333333333ul);
	a = (a + (a >> 4)) & 0x0F0F0F0F0F0F0F0Ful;
	return (int)((a * 0x0101010101010101ul) >> 56);
}

int __popcountsi2(unsigned int a)
{
	return __popcountdi2(a);
}
