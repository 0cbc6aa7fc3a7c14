/*
 * heap.c — kernel heap over the page allocator. Every block carries a 16-byte
 * header (magic, size class or page count) so kfree can check what it is given.
 * Small blocks (≤ 2 KiB) come from per-class free lists carved from whole pages;
 * larger ones are page runs of their own.
 */
#include <hal/hal.h>
#include <kernel/fault.h>
#include <kernel/heap.h>
#include <kernel/panic.h>
#include <kernel/pmm.h>
#include <kernel/spinlock.h>
#include <kernel/string.h>

#define HDR 16u
#define MAGIC_LIVE 0xa11ce5edu
#define MAGIC_FREE 0xf4eeb10cu
#define NCLASS 8                    /* 32 64 128 256 512 1024 2048 4096 (with header) */
#define BIG_CLASS 0xff

struct hdr {
	uint32_t magic;
	uint32_t cls;                   /* class index, or BIG_CLASS (a page run) */
	uint64_t size;                  /* bytes the caller asked for */
};
_Static_assert(sizeof(struct hdr) == HDR, "heap header is 16 bytes");

struct free_blk {
	struct hdr h;
	struct free_blk *next;
};

/* Lock order: heap_lock before pmm_lock. */
static struct spinlock heap_lock = SPINLOCK_INIT("heap");
static struct free_blk *freelist[NCLASS];
static size_t live;

static unsigned class_of(size_t total)
{
	unsigned c = 0;
	size_t sz = 32;
	while (sz < total) {
		sz <<= 1;
		c++;
	}
	return c;
}

static size_t class_size(unsigned c) { return (size_t)32 << c; }

static int refill(unsigned c)
{
	uint64_t pa = pmm_alloc_page();
	if (!pa)
		return -1;
	uint8_t *page = hal_phys_to_virt(pa);
	size_t sz = class_size(c);
	for (size_t off = 0; off + sz <= PAGE_SIZE; off += sz) {
		struct free_blk *b = (struct free_blk *)(page + off);
		b->h.magic = MAGIC_FREE;
		b->h.cls = c;
		b->next = freelist[c];
		freelist[c] = b;
	}
	return 0;
}

void *kmalloc(size_t size)
{
	if (size == 0 || size > (1ull << 40))
		return 0;
	if (FAULT_SITE("heap.kmalloc"))
		return 0;                   /* injected: looks exactly like out of memory */
	size_t total = size + HDR;
	if (total > class_size(NCLASS - 1)) {
		size_t n = (total + PAGE_SIZE - 1) / PAGE_SIZE;
		uint64_t pa = pmm_alloc_pages(n, 1);
		if (!pa)
			return 0;
		struct hdr *h = hal_phys_to_virt(pa);
		h->magic = MAGIC_LIVE;
		h->cls = BIG_CLASS;
		h->size = size;
		spin_lock(&heap_lock);
		live += size;
		spin_unlock(&heap_lock);
		return (uint8_t *)h + HDR;
	}
	unsigned c = class_of(total);
	spin_lock(&heap_lock);
	if (!freelist[c] && refill(c) != 0) {
		spin_unlock(&heap_lock);
		return 0;
	}
	struct free_blk *b = freelist[c];
	freelist[c] = b->next;
	b->h.magic = MAGIC_LIVE;
	b->h.size = size;
	live += size;
	spin_unlock(&heap_lock);
	return (uint8_t *)b + HDR;
}

void *kzalloc(size_t size)
{
	void *p = kmalloc(size);
	if (p)
		memset(p, 0, size);
	return p;
}

void kfree(void *p)
{
	if (!p)
		return;
	struct hdr *h = (struct hdr *)((uint8_t *)p - HDR);
	if (((uintptr_t)p & (HDR - 1)) != 0)
		panic("kfree(%p): misaligned pointer", p);
	if (h->magic == MAGIC_FREE)
		panic("kfree(%p): double free", p);
	if (h->magic != MAGIC_LIVE)
		panic("kfree(%p): not a heap block (bad magic)", p);
	if (h->cls == BIG_CLASS) {
		size_t n = (h->size + HDR + PAGE_SIZE - 1) / PAGE_SIZE;
		spin_lock(&heap_lock);
		live -= h->size;
		spin_unlock(&heap_lock);
		h->magic = MAGIC_FREE;
		if (pmm_free_pages(hal_virt_to_phys(h), n) != 0)
			panic("kfree(%p): page run not owned by the allocator", p);
		return;
	}
	if (h->cls >= NCLASS)
		panic("kfree(%p): corrupt header (class %u)", p, h->cls);
	struct free_blk *b = (struct free_blk *)h;
	spin_lock(&heap_lock);
	live -= h->size;
	b->h.magic = MAGIC_FREE;
	b->next = freelist[h->cls];
	freelist[h->cls] = b;
	spin_unlock(&heap_lock);
}

size_t heap_live_bytes(void)
{
	return live;
}
