/*
 * printf.c — the kernel's formatter (a subset of C11 §7.21.6.1 fprintf):
 * conversions d i u x X o c s p %, flags '-' '0', field width (or '*'),
 * precision for strings, length modifiers hh h l ll z. No floating point.
 */
#include <kernel/printf.h>
#include <stdbool.h>
#include <stdint.h>

struct out {
	char *buf;
	size_t size;
	size_t pos;                 /* characters produced so far (may exceed size) */
};

static void put(struct out *o, char c)
{
	if (o->pos + 1 < o->size)
		o->buf[o->pos] = c;
	o->pos++;
}

static void put_padded(struct out *o, const char *s, size_t len, int width, bool left, char pad)
{
	int fill = width > (int)len ? width - (int)len : 0;
	if (!left)
		while (fill-- > 0)
			put(o, pad);
	for (size_t i = 0; i < len; i++)
		put(o, s[i]);
	if (left)
		while (fill-- > 0)
			put(o, ' ');
}

static void put_number(struct out *o, unsigned long long v, bool neg, unsigned base, bool upper,
		       int width, bool left, bool zero)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (zero && !left) {
		if (neg) {
			put(o, '-');
			width--;
		}
		while (width > (int)n) {
			put(o, '0');
			width--;
		}
		neg = false;
	} else if (neg) {
		tmp[n++] = '-';
	}
	char rev[24];
	for (size_t i = 0; i < n; i++)
		rev[i] = tmp[n - 1 - i];
	put_padded(o, rev, n, width, left, ' ');
}

int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };
	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			put(&o, *p);
			continue;
		}
		p++;
		bool left = false, zero = false;
		for (;; p++) {
			if (*p == '-')
				left = true;
			else if (*p == '0')
				zero = true;
			else
				break;
		}
		int width = 0;
		if (*p == '*') {
			width = va_arg(ap, int);
			p++;
		} else {
			while (*p >= '0' && *p <= '9')
				width = width * 10 + (*p++ - '0');
		}
		int prec = -1;
		if (*p == '.') {
			p++;
			prec = 0;
			if (*p == '*') {
				prec = va_arg(ap, int);
				p++;
			} else {
				while (*p >= '0' && *p <= '9')
					prec = prec * 10 + (*p++ - '0');
			}
		}
		int lng = 0;            /* -2 hh, -1 h, 0 int, 1 long, 2 long long, 3 size_t */
		if (*p == 'h') {
			lng = -1;
			if (*++p == 'h') {
				lng = -2;
				p++;
			}
		} else if (*p == 'l') {
			lng = 1;
			if (*++p == 'l') {
				lng = 2;
				p++;
			}
		} else if (*p == 'z') {
			lng = 3;
			p++;
		}
		switch (*p) {
		case 'd':
		case 'i': {
			long long v;
			if (lng == 2) v = va_arg(ap, long long);
			else if (lng == 1) v = va_arg(ap, long);
			else if (lng == 3) v = (long long)va_arg(ap, size_t);
			else v = va_arg(ap, int);
			if (lng == -1) v = (short)v;
			if (lng == -2) v = (signed char)v;
			unsigned long long mag = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
			put_number(&o, mag, v < 0, 10, false, width, left, zero);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
		case 'o': {
			unsigned long long v;
			if (lng == 2) v = va_arg(ap, unsigned long long);
			else if (lng == 1) v = va_arg(ap, unsigned long);
			else if (lng == 3) v = va_arg(ap, size_t);
			else v = va_arg(ap, unsigned int);
			if (lng == -1) v = (unsigned short)v;
			if (lng == -2) v = (unsigned char)v;
			unsigned base = *p == 'u' ? 10 : *p == 'o' ? 8 : 16;
			put_number(&o, v, false, base, *p == 'X', width, left, zero);
			break;
		}
		case 'p': {
			uintptr_t v = (uintptr_t)va_arg(ap, void *);
			put(&o, '0');
			put(&o, 'x');
			put_number(&o, v, false, 16, false, width > 2 ? width - 2 : 0, left, zero);
			break;
		}
		case 'c': {
			char c = (char)va_arg(ap, int);
			put_padded(&o, &c, 1, width, left, ' ');
			break;
		}
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			size_t len = 0;
			while (s[len] && (prec < 0 || len < (size_t)prec))
				len++;
			put_padded(&o, s, len, width, left, ' ');
			break;
		}
		case '%':
			put(&o, '%');
			break;
		case '\0':
			p--;            /* trailing lone '%': stop at the terminator */
			break;
		default:            /* unknown conversion: print it verbatim */
			put(&o, '%');
			put(&o, *p);
			break;
		}
	}
	if (size)
		buf[o.pos < size ? o.pos : size - 1] = '\0';
	return (int)o.pos;
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = kvsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
