/* heap.h — kernel heap: kmalloc/kfree over the page allocator. 16-byte aligned. */
#ifndef KERNEL_HEAP_H
#define KERNEL_HEAP_H
#include <stddef.h>

void *kmalloc(size_t size);      /* NULL when out of memory or size == 0 */
void *kzalloc(size_t size);
void kfree(void *p);             /* NULL is fine; a pointer kmalloc did not return panics */
size_t heap_live_bytes(void);    /* bytes handed out and not yet freed */
#endif
