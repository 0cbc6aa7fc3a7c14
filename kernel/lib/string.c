/*
 * string.c — string helpers for the kernel (k-prefixed so the simulator's libc
 * is never shadowed; memcpy and friends come from the platform).
 */
#include <kernel/string.h>

size_t kstrlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

size_t kstrnlen(const char *s, size_t max)
{
	size_t n = 0;
	while (n < max && s[n])
		n++;
	return n;
}

int kstrcmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

int kstrncmp(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i] != b[i] || !a[i])
			return (unsigned char)a[i] - (unsigned char)b[i];
	}
	return 0;
}

char *kstrchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return 0;
	}
}

size_t kstrlcpy(char *dst, const char *src, size_t size)
{
	size_t len = kstrlen(src);
	if (size) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

/* Iterative glob with single-star backtracking: O(len(p) * len(s)) worst case. */
int kglob(const char *p, const char *s)
{
	const char *star = 0, *resume = 0;
	while (*s) {
		if (*p == '?' || *p == *s) {
			p++;
			s++;
		} else if (*p == '*') {
			star = p++;
			resume = s;
		} else if (star) {
			p = star + 1;
			s = ++resume;
		} else {
			return 0;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

int kglob_any(const char *list, const char *s)
{
	char word[64];
	const char *p = list;
	while (*p) {
		size_t k = 0;
		while (*p && *p != ',') {
			if (k + 1 < sizeof word)
				word[k++] = *p;
			p++;
		}
		word[k] = '\0';
		if (*p == ',')
			p++;
		if (k && kglob(word, s))
			return 1;
	}
	return 0;
}

int kstrtou64(const char *s, unsigned long long *out)
{
	unsigned base = 10;
	unsigned long long v = 0;
	if (!s || !*s)
		return -1;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!*s)
			return -1;
	}
	for (; *s; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return -1;
		if (v > (~0ull - d) / base)
			return -1;  /* overflow */
		v = v * base + d;
	}
	*out = v;
	return 0;
}
