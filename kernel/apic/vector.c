/*
 * vector.c — the interrupt vector allocator core: one bitmap per CPU over vectors
 * 0x20–0xEF (docs/smp.md), changed only by compare-and-swap so that allocation
 * and free need no lock and may run on every CPU at once. A block of 2^k vectors
 * is aligned to 2^k (PCI Local Bus 3.0 §6.8.1.6: a multi-message MSI function
 * modifies the low bits of the data, i.e. of the vector). Pure: no HAL calls.
 */
#include <kernel/atomic.h>
#include <kernel/errno.h>
#include <kernel/irq.h>
#include <kernel/log.h>

_Static_assert(VEC_NALLOC <= VEC_WORDS * 64, "vector bitmap too small");
_Static_assert(VEC_FIRST % VEC_MAX_BLOCK == 0, "bit alignment must equal vector alignment");

void vec_space_init(struct vec_space *s)
{
	for (unsigned i = 0; i < VEC_WORDS; i++) {
		uint64_t preset = 0;
		for (unsigned b = 0; b < 64; b++)
			if (i * 64 + b >= VEC_NALLOC)
				preset |= 1ull << b;
		atomic_store64(&s->bits[i], preset, MO_RELAXED);
	}
}

static bool count_ok(unsigned count)
{
	return count >= 1 && count <= VEC_MAX_BLOCK && (count & (count - 1)) == 0;
}

static uint64_t block_mask(unsigned count, unsigned shift)
{
	uint64_t m = count == 64 ? ~0ull : ((1ull << count) - 1);
	return m << shift;
}

int vec_space_alloc(struct vec_space *s, unsigned count, uint8_t *first)
{
	if (!count_ok(count))
		return -EINVAL;
	for (unsigned w = 0; w < VEC_WORDS; w++) {
		uint64_t old = atomic_load64(&s->bits[w], MO_RELAXED);
		for (;;) {
			int shift = -1;
			/* Blocks of <= 32 aligned to their size never straddle a word. */
			for (unsigned b = 0; b + count <= 64; b += count) {
				if (!(old & block_mask(count, b))) {
					shift = (int)b;
					break;
				}
			}
			if (shift < 0)
				break;      /* this word has no free aligned block: next word */
			/* acq_rel: a free of these bits (release) happened-before our use */
			if (atomic_cas64(&s->bits[w], &old, old | block_mask(count, (unsigned)shift),
					 MO_ACQ_REL, MO_RELAXED)) {
				*first = (uint8_t)(VEC_FIRST + w * 64 + (unsigned)shift);
				return 0;
			}
			/* lost a race: old now holds the current word, search it again */
		}
	}
	return -ENOSPC;
}

static int range_check(uint8_t vec, unsigned count, unsigned *w, unsigned *shift)
{
	if (!count_ok(count) || vec < VEC_FIRST || (unsigned)vec + count - 1 > VEC_LAST ||
	    (vec - VEC_FIRST) % count != 0)
		return -EINVAL;
	*w = (unsigned)(vec - VEC_FIRST) / 64;
	*shift = (unsigned)(vec - VEC_FIRST) % 64;
	return 0;
}

int vec_space_reserve(struct vec_space *s, uint8_t vec, unsigned count)
{
	unsigned w, shift;
	if (range_check(vec, count, &w, &shift))
		return -EINVAL;
	uint64_t m = block_mask(count, shift);
	uint64_t old = atomic_load64(&s->bits[w], MO_RELAXED);
	do {
		if (old & m)
			return -EBUSY;
	} while (!atomic_cas64(&s->bits[w], &old, old | m, MO_ACQ_REL, MO_RELAXED));
	return 0;
}

int vec_space_free(struct vec_space *s, uint8_t first, unsigned count)
{
	unsigned w, shift;
	if (range_check(first, count, &w, &shift)) {
		klog("irq", "free of vectors 0x%x+%u: not an allocatable aligned block, ignored", first, count);
		return -EINVAL;
	}
	uint64_t m = block_mask(count, shift);
	uint64_t old = atomic_load64(&s->bits[w], MO_RELAXED);
	do {
		if ((old & m) != m) {
			klog("irq", "free of vectors 0x%x+%u that are not allocated (double free or wrong CPU), "
			     "ignored", first, count);
			return -EINVAL;
		}
		/* release: the owner's last use of the vector happens-before its reuse */
	} while (!atomic_cas64(&s->bits[w], &old, old & ~m, MO_RELEASE, MO_RELAXED));
	return 0;
}

bool vec_space_is_taken(const struct vec_space *s, uint8_t vec)
{
	if (vec < VEC_FIRST || vec > VEC_LAST)
		return true;
	unsigned bit = (unsigned)(vec - VEC_FIRST);
	return (atomic_load64(&s->bits[bit / 64], MO_ACQUIRE) >> (bit % 64)) & 1;
}

unsigned vec_space_free_count(const struct vec_space *s)
{
	unsigned n = 0;
	for (unsigned i = 0; i < VEC_WORDS; i++)
		n += 64u - (unsigned)__builtin_popcountll(atomic_load64(&s->bits[i], MO_RELAXED));
	return n;
}
