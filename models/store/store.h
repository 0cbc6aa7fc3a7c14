/*
 * store.h — a disk model's bytes: a host file or sparse memory (store.c). Shared by
 * the NVMe and AHCI models. Not thread-safe: the owning model serialises access.
 */
#ifndef DOPPEL_MODELS_STORE_H
#define DOPPEL_MODELS_STORE_H
#include <stdint.h>

#define MODEL_STORE_CHUNK (1ull << 20)   /* memory: bytes per sparse chunk */

struct model_store {
	int fd;                         /* host file, or -1: memory */
	uint64_t size;
	uint8_t **chunks;               /* memory: 1 MiB chunks, calloc'd on the first write */
	uint64_t nchunks;
};

/* Open path (created/grown to size) or, with path NULL, sparse memory of size
 * bytes. 0 or -errno. */
int model_store_open(struct model_store *s, const char *path, uint64_t size);
void model_store_close(struct model_store *s);
/* 0, or -EIO (outside the store, host I/O error). write with buf NULL writes zeros. */
int model_store_read(struct model_store *s, uint64_t off, void *buf, uint64_t len);
int model_store_write(struct model_store *s, uint64_t off, const void *buf, uint64_t len);
int model_store_sync(struct model_store *s);

#endif
