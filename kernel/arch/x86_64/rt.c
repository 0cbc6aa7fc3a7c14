/*
 * rt.c — the C runtime functions a freestanding gcc build may call on its own
 * (memcpy, memmove, memset, memcmp; see kernel/include/kernel/string.h for why
 * the platform provides them). Built with -fno-builtin and
 * -fno-tree-loop-distribute-patterns so gcc cannot turn these bodies back into
 * calls to themselves. REP MOVSB/STOSB: Intel SDM Vol. 2B, and "Enhanced REP
 * MOVSB and STOSB" in the Intel Optimization Reference Manual.
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
