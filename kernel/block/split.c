/*
 * split.c — cutting a request into driver-sized parts (docs/block.md "Splitting").
 * Pure: no HAL, no allocation; unit-tested on the host (tests/unit/test_block_split.c).
 *
 * A part is a run of whole blocks taken from the request's segments in order. It
 * ends at the first of:
 *   - lim->max_blocks blocks (a segment is cut there; the rest starts the next part),
 *   - lim->max_segs pieces,
 *   - a virtual-boundary break: the piece so far does not end on the boundary, or
 *     the next one does not start on it (a piece other than the first must start on
 *     it, one other than the last must end on it),
 *   - the end of the request.
 * A cut inside a segment is placed so the next piece still starts dma_align-aligned.
 */
#include <kernel/block.h>

static inline uint64_t va_of(const struct blk_seg *s, uint32_t off)
{
	return (uint64_t)(uintptr_t)s->va + off;
}

uint32_t blk_split_next(const struct blk_limits *lim, const struct blk_seg *segs, uint32_t nsegs,
			uint32_t *seg, uint32_t *off, uint32_t blocks_left, struct blk_seg *part_segs,
			uint32_t *part_nsegs)
{
	uint32_t bs = lim->block_size;
	uint32_t align = lim->dma_align ? lim->dma_align : 1;
	uint64_t vb = lim->virt_boundary;
	uint32_t max_segs = lim->max_segs;
	uint32_t s = *seg, o = *off, n = 0;
	uint64_t room, taken = 0;

	*part_nsegs = 0;
	if (bs == 0 || max_segs == 0 || lim->max_blocks == 0 || blocks_left == 0)
		return 0;
	if (max_segs > BLK_MAX_SEGS)
		max_segs = BLK_MAX_SEGS;
	room = (uint64_t)(blocks_left < lim->max_blocks ? blocks_left : lim->max_blocks) * bs;

	while (room > 0 && s < nsegs && n < max_segs) {
		const struct blk_seg *sg = &segs[s];
		uint64_t start = va_of(sg, o);
		uint64_t len;
		if (o >= sg->len || (sg->len - o) % bs != 0 || sg->len % align != 0 ||
		    (uint64_t)(uintptr_t)sg->va % align != 0 || start % align != 0)
			return 0;       /* not whole blocks, or not dma-aligned: caller's error */
		len = sg->len - o;
		if (n > 0 && vb) {
			/* Joining this piece: the previous one must end on the boundary and
			 * this one start on it; otherwise the part ends here. */
			const struct blk_seg *prev = &part_segs[n - 1];
			if ((va_of(prev, 0) + prev->len) & vb || start & vb)
				break;
		}
		if (len > room) {
			/* Cut inside the segment: whole blocks, and the rest starting aligned. */
			uint64_t cut = room - room % bs;
			while (cut > 0 && (start + cut) % align != 0)
				cut -= bs;
			if (cut == 0)
				break;
			len = cut;
		}
		part_segs[n].va = (void *)(uintptr_t)start;
		part_segs[n].len = (uint32_t)len;
		n++;
		taken += len;
		room -= len;
		o += (uint32_t)len;
		if (o == sg->len) {
			s++;
			o = 0;
		} else {
			break;          /* cut: this part is full */
		}
	}
	if (n == 0)
		return 0;
	*seg = s;
	*off = o;
	*part_nsegs = n;
	return (uint32_t)(taken / bs);
}
