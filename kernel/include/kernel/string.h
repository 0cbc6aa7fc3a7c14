/* string.h — the kernel's string helpers. memcpy/memmove/memset/memcmp have their
 * C-standard names and come from the platform (kernel/arch/x86_64/rt.c in the
 * image, libc in the sim); everything else is k-prefixed so the sim's libc is
 * never shadowed. */
#ifndef KERNEL_STRING_H
#define KERNEL_STRING_H
#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

size_t kstrlen(const char *s);
size_t kstrnlen(const char *s, size_t max);
int kstrcmp(const char *a, const char *b);
int kstrncmp(const char *a, const char *b, size_t n);
char *kstrchr(const char *s, int c);
size_t kstrlcpy(char *dst, const char *src, size_t size);
/* Glob match with '*' and '?'; returns 1 on match. */
int kglob(const char *pattern, const char *s);
/* Does s match any glob of a comma-separated list? 1 or 0. */
int kglob_any(const char *list, const char *s);
/* Parse an unsigned number (decimal, or hex with 0x); returns 0 on success. */
int kstrtou64(const char *s, unsigned long long *out);
#endif
