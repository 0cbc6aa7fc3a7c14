/*
 * store.c — the backing store of the disk models (NVMe namespaces, SATA disks): a
 * host file (created, and grown to the size when shorter; pread/pwrite, fdatasync
 * on a flush) or sparse memory (1 MiB chunks allocated on the first non-zero write,
 * so unwritten, trimmed or deallocated blocks read as zeros and a large disk costs
 * nothing until used). Byte n of the store is byte n of the file, so a host tool can
 * check what the guest wrote.
 */
#include "store/store.h"

#include <stdbool.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int model_store_open(struct model_store *s, const char *path, uint64_t size)
{
	s->fd = -1;
	s->size = size;
	s->chunks = NULL;
	s->nchunks = 0;
	if (path) {
		struct stat sb;
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0)
			return -errno;
		if ((fstat(fd, &sb) != 0 || (uint64_t)sb.st_size < size) &&
		    ftruncate(fd, (off_t)size) != 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		s->fd = fd;
		return 0;
	}
	s->nchunks = (size + MODEL_STORE_CHUNK - 1) / MODEL_STORE_CHUNK;
	s->chunks = calloc(s->nchunks ? s->nchunks : 1, sizeof(*s->chunks));
	return s->chunks ? 0 : -ENOMEM;
}

void model_store_close(struct model_store *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	for (uint64_t i = 0; s->chunks && i < s->nchunks; i++)
		free(s->chunks[i]);
	free(s->chunks);
	s->chunks = NULL;
}

static bool zero_bytes(const uint8_t *p, uint64_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* Memory: piece by piece over the chunks. A write of zeros (wr NULL, or zero
 * bytes) into a chunk never allocated leaves the hole. */
static int mem_access(struct model_store *s, uint64_t off, uint8_t *rd, const uint8_t *wr,
		      uint64_t len, bool write)
{
	while (len) {
		uint64_t i = off / MODEL_STORE_CHUNK, at = off % MODEL_STORE_CHUNK;
		uint64_t n = len < MODEL_STORE_CHUNK - at ? len : MODEL_STORE_CHUNK - at;
		uint8_t *c = s->chunks[i];

		if (!write) {
			if (c)
				memcpy(rd, c + at, n);
			else
				memset(rd, 0, n);
			rd += n;
		} else if (c || (wr && !zero_bytes(wr, n))) {
			if (!c && !(c = s->chunks[i] = calloc(1, MODEL_STORE_CHUNK)))
				return -ENOMEM;
			if (wr)
				memcpy(c + at, wr, n);
			else
				memset(c + at, 0, n);
		}
		if (write && wr)
			wr += n;
		off += n;
		len -= n;
	}
	return 0;
}

int model_store_read(struct model_store *s, uint64_t off, void *buf, uint64_t len)
{
	uint8_t *p = buf;

	if (off > s->size || len > s->size - off)
		return -EIO;
	if (s->fd < 0)
		return mem_access(s, off, p, NULL, len, false);
	while (len) {
		ssize_t n = pread(s->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -EIO;
		if (n == 0) {               /* beyond a file that shrank under us: zeros */
			memset(p, 0, len);
			return 0;
		}
		p += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

int model_store_write(struct model_store *s, uint64_t off, const void *buf, uint64_t len)
{
	static const uint8_t zeros[4096];
	const uint8_t *p = buf;

	if (off > s->size || len > s->size - off)
		return -EIO;
	if (s->fd < 0)
		return mem_access(s, off, NULL, p, len, true);
	while (len) {
		uint64_t want = p ? len : (len < sizeof(zeros) ? len : sizeof(zeros));
		ssize_t n = pwrite(s->fd, p ? p : zeros, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		if (p)
			p += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

int model_store_sync(struct model_store *s)
{
	return s->fd >= 0 && fdatasync(s->fd) != 0 ? -EIO : 0;
}
