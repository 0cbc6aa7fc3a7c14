/*
 * test_block_split.c — CMocka tests of blk_split_next (kernel/block/split.c,
 * docs/block.md "Splitting"): hand cases for each limit, then every combination
 * of block size, dma alignment, virtual boundary, max_segs and max_blocks over
 * generated segment lists of 1..64 segments, checking the properties: the parts
 * put together are the request, each part is within the limits, and a part ends
 * only where a limit makes it (max_blocks, max_segs, a boundary break, the end).
 * Addresses are numbers only: the splitter never touches the memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <kernel/block.h>

#define VA(x) ((void *)(uintptr_t)(x))

static struct blk_limits lim(uint32_t bs, uint32_t max_blocks, uint32_t max_segs, uint32_t vb, uint32_t align)
{
	struct blk_limits l = { 0 };
	l.block_size = bs;
	l.max_blocks = max_blocks;
	l.max_segs = max_segs;
	l.virt_boundary = vb;
	l.dma_align = align;
	return l;
}

struct part {
	uint32_t blocks, nsegs;
	struct blk_seg segs[BLK_MAX_SEGS];
};

/* Split the whole request; returns the number of parts, -1 when a call made none
 * before the end. */
static int split_all(const struct blk_limits *l, const struct blk_seg *segs, uint32_t nsegs, uint32_t blocks,
		     struct part *parts, int max_parts)
{
	uint32_t seg = 0, off = 0, left = blocks;
	int n = 0;
	while (left > 0) {
		if (n == max_parts)
			return -1;
		struct part *p = &parts[n];
		p->blocks = blk_split_next(l, segs, nsegs, &seg, &off, left, p->segs, &p->nsegs);
		if (p->blocks == 0)
			return -1;
		left -= p->blocks;
		n++;
	}
	return n;
}

static void test_max_blocks_cuts_a_segment(void **state)
{
	(void)state;
	struct blk_limits l = lim(512, 8, 64, 0, 1);
	struct blk_seg s[1] = { { VA(0x10000), 32 * 512 } };
	struct part p[8];
	assert_int_equal(split_all(&l, s, 1, 32, p, 8), 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(p[i].blocks, 8);
		assert_int_equal(p[i].nsegs, 1);
		assert_ptr_equal(p[i].segs[0].va, VA(0x10000 + 4096 * i));
	}
}

static void test_max_segs(void **state)
{
	(void)state;
	struct blk_limits l = lim(512, 256, 2, 0, 1);
	struct blk_seg s[5];
	for (int i = 0; i < 5; i++)
		s[i] = (struct blk_seg){ VA(0x10000 + 0x1000 * i), 512 };
	struct part p[8];
	assert_int_equal(split_all(&l, s, 5, 5, p, 8), 3);
	assert_int_equal(p[0].nsegs, 2);
	assert_int_equal(p[1].nsegs, 2);
	assert_int_equal(p[2].nsegs, 1);
	assert_ptr_equal(p[2].segs[0].va, VA(0x14000));
}

static void test_virt_boundary(void **state)
{
	(void)state;
	struct blk_limits l = lim(512, 256, 64, 4095, 1);
	/* ends mid-page | whole page | half page starting on a page */
	struct blk_seg s[3] = { { VA(0x10000), 512 }, { VA(0x11000), 4096 }, { VA(0x12000), 2048 } };
	struct part p[8];
	assert_int_equal(split_all(&l, s, 3, 13, p, 8), 2);
	assert_int_equal(p[0].blocks, 1);
	assert_int_equal(p[1].blocks, 12);
	assert_int_equal(p[1].nsegs, 2);
	/* second segment starts off the boundary */
	struct blk_seg t[2] = { { VA(0x10000), 4096 }, { VA(0x11200), 1024 } };
	assert_int_equal(split_all(&l, t, 2, 10, p, 8), 2);
	assert_int_equal(p[0].blocks, 8);
	assert_int_equal(p[1].blocks, 2);
	/* a first segment starting mid-page is fine if it ends on the boundary */
	struct blk_seg u[2] = { { VA(0x10200), 0xE00 }, { VA(0x11000), 512 } };
	assert_int_equal(split_all(&l, u, 2, 8, p, 8), 1);
}

static void test_bad_input_makes_no_part(void **state)
{
	(void)state;
	struct blk_limits l = lim(512, 256, 64, 0, 1);
	struct blk_seg s[1] = { { VA(0x10000), 700 } };
	uint32_t seg = 0, off = 0, n = 99;
	struct blk_seg out[BLK_MAX_SEGS];
	assert_int_equal(blk_split_next(&l, s, 1, &seg, &off, 1, out, &n), 0);
	assert_int_equal(n, 0);
	l = lim(512, 256, 64, 0, 8);
	struct blk_seg t[1] = { { VA(0x10004), 512 } };
	assert_int_equal(blk_split_next(&l, t, 1, &seg, &off, 1, out, &n), 0);
	assert_int_equal(seg, 0);
	assert_int_equal(off, 0);
	l = lim(512, 0, 64, 0, 1);
	struct blk_seg u[1] = { { VA(0x10000), 512 } };
	assert_int_equal(blk_split_next(&l, u, 1, &seg, &off, 1, out, &n), 0);
}

/* ---- the enumeration ----------------------------------------------------------- */

static uint64_t rng_state;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Segments of whole blocks, dma-aligned, at offsets that sometimes sit on the
 * boundary and sometimes not. */
static uint32_t gen_segs(uint32_t bs, uint32_t align, uint32_t nsegs, struct blk_seg *s)
{
	static const uint32_t offs[] = { 0, 0, 0, 512, 1024, 3584, 4096 - 8, 8, 2048 };
	uint64_t base = 0x100000;
	uint32_t blocks = 0;
	for (uint32_t i = 0; i < nsegs; i++) {
		uint32_t off = offs[rnd() % (sizeof(offs) / sizeof(offs[0]))];
		off -= off % align;
		uint32_t nb = 1 + (uint32_t)(rnd() % (rnd() % 4 == 0 ? 40 : 9));
		s[i].va = VA(base + off);
		s[i].len = nb * bs;
		blocks += nb;
		base += ((uint64_t)off + s[i].len + 0xFFFF) & ~0xFFFFull;
	}
	return blocks;
}

static void check_split(const struct blk_limits *l, const struct blk_seg *s, uint32_t nsegs, uint32_t blocks)
{
	static struct part p[4096];
	char what[200];
	snprintf(what, sizeof(what), "bs %u align %u vb 0x%x max_segs %u max_blocks %u nsegs %u", l->block_size,
		 l->dma_align, l->virt_boundary, l->max_segs, l->max_blocks, nsegs);
	int n = split_all(l, s, nsegs, blocks, p, 4096);
	if (n <= 0)
		fail_msg("%s: no progress", what);
	/* Walk the input alongside the parts. */
	uint32_t si = 0, so = 0;
	uint64_t vb = l->virt_boundary;
	for (int k = 0; k < n; k++) {
		uint64_t bytes = 0;
		if (p[k].nsegs < 1 || p[k].nsegs > l->max_segs || p[k].blocks > l->max_blocks)
			fail_msg("%s: part %d has %u segs, %u blocks", what, k, p[k].nsegs, p[k].blocks);
		for (uint32_t j = 0; j < p[k].nsegs; j++) {
			const struct blk_seg *q = &p[k].segs[j];
			uint64_t va = (uint64_t)(uintptr_t)q->va;
			if (si >= nsegs || va != (uint64_t)(uintptr_t)s[si].va + so || q->len > s[si].len - so)
				fail_msg("%s: part %d piece %u is not the next piece of the input", what, k, j);
			if (q->len == 0 || q->len % l->block_size || va % l->dma_align)
				fail_msg("%s: part %d piece %u: len %u va 0x%llx", what, k, j, q->len,
					 (unsigned long long)va);
			if (vb && j > 0 && (va & vb))
				fail_msg("%s: part %d piece %u starts off the boundary", what, k, j);
			if (vb && j + 1 < p[k].nsegs && ((va + q->len) & vb))
				fail_msg("%s: part %d piece %u ends off the boundary", what, k, j);
			bytes += q->len;
			so += q->len;
			if (so == s[si].len) {
				si++;
				so = 0;
			}
		}
		if (bytes != (uint64_t)p[k].blocks * l->block_size)
			fail_msg("%s: part %d bytes %llu vs %u blocks", what, k, (unsigned long long)bytes,
				 p[k].blocks);
		/* Ended only where a limit says so. */
		if (k + 1 < n) {
			const struct blk_seg *last = &p[k].segs[p[k].nsegs - 1];
			uint64_t end = (uint64_t)(uintptr_t)last->va + last->len;
			uint64_t next = (uint64_t)(uintptr_t)s[si].va + so;
			bool broken = vb && (so != 0 ? false : ((end & vb) || (next & vb)));
			if (p[k].blocks != l->max_blocks && p[k].nsegs != l->max_segs && !broken)
				fail_msg("%s: part %d ended early (%u blocks, %u segs)", what, k, p[k].blocks,
					 p[k].nsegs);
		}
	}
	if (si != nsegs)
		fail_msg("%s: the parts do not cover the input", what);
}

static void test_every_combination(void **state)
{
	(void)state;
	static const uint32_t bss[] = { 512, 4096 };
	static const uint32_t aligns[] = { 1, 4, 512 };
	static const uint32_t vbs[] = { 0, 4095, 511 };
	static const uint32_t msegs[] = { 1, 2, 3, 17, 64 };
	static const uint32_t mblocks[] = { 1, 2, 7, 8, 32, 256, 65535 };
	struct blk_seg s[BLK_MAX_SEGS];
	unsigned runs = 0;
	rng_state = 0x9E3779B97F4A7C15ull;
	for (unsigned a = 0; a < 2; a++)
		for (unsigned b = 0; b < 3; b++)
			for (unsigned c = 0; c < 3; c++)
				for (unsigned d = 0; d < 5; d++)
					for (unsigned e = 0; e < 7; e++)
						for (uint32_t nsegs = 1; nsegs <= BLK_MAX_SEGS; nsegs++)
							for (unsigned rep = 0; rep < 3; rep++) {
								struct blk_limits l = lim(bss[a], mblocks[e], msegs[d],
											  vbs[c], aligns[b]);
								uint32_t blocks = gen_segs(bss[a], aligns[b], nsegs, s);
								check_split(&l, s, nsegs, blocks);
								runs++;
							}
	print_message("%u splits checked\n", runs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_max_blocks_cuts_a_segment),
		cmocka_unit_test(test_max_segs),
		cmocka_unit_test(test_virt_boundary),
		cmocka_unit_test(test_bad_input_makes_no_part),
		cmocka_unit_test(test_every_combination),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
