/*
 * nvme_ns.c — NVMe controller model, the backing store of its namespaces: a host
 * file (created with the given size if absent; pread/pwrite) or memory kept sparse
 * (1 MiB chunks allocated on the first non-zero write, so an unwritten or
 * deallocated block reads as zeros and a large namespace costs nothing until used).
 * The namespaces split the store evenly, namespace 1 first, so a host tool finds
 * block n of namespace 1 at byte n << LBADS.
 */
#include "nvme/nvme_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int nvme_store_open(struct nvme_ctrl *c, const char *path, uint64_t size)
{
	struct nvme_store *s = &c->store;

	s->fd = -1;
	s->size = size;
	if (path) {
		struct stat sb;
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0)
			return -errno;
		if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size < size) {
			if (ftruncate(fd, (off_t)size) != 0) {
				int err = -errno;
				close(fd);
				return err;
			}
		}
		s->fd = fd;
		return 0;
	}
	s->nchunks = (size + NVME_CHUNK - 1) / NVME_CHUNK;
	s->chunks = calloc(s->nchunks ? s->nchunks : 1, sizeof(*s->chunks));
	return s->chunks ? 0 : -ENOMEM;
}

void nvme_store_close(struct nvme_ctrl *c)
{
	struct nvme_store *s = &c->store;

	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	for (uint64_t i = 0; s->chunks && i < s->nchunks; i++)
		free(s->chunks[i]);
	free(s->chunks);
	s->chunks = NULL;
}

static bool all_zero(const uint8_t *p, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Memory store: copy in or out piecewise over the chunks (buf NULL: zeros). */
static int mem_rw(struct nvme_store *s, uint64_t off, uint8_t *rd, const uint8_t *wr,
		  uint64_t len, bool write)
{
	while (len) {
		uint64_t ci = off / NVME_CHUNK, co = off % NVME_CHUNK;
		uint64_t n = NVME_CHUNK - co < len ? NVME_CHUNK - co : len;
		uint8_t *ch = s->chunks[ci];

		if (!write) {
			if (ch)
				memcpy(rd, ch + co, n);
			else
				memset(rd, 0, n);
			rd += n;
		} else {
			if (!ch && (!wr || all_zero(wr, n))) {
				/* stays a hole: reads give zeros */
			} else {
				if (!ch) {
					ch = s->chunks[ci] = calloc(1, NVME_CHUNK);
					if (!ch)
						return -ENOMEM;
				}
				if (wr)
					memcpy(ch + co, wr, n);
				else
					memset(ch + co, 0, n);
			}
			if (wr)
				wr += n;
		}
		off += n;
		len -= n;
	}
	return 0;
}

int nvme_store_read(struct nvme_ctrl *c, uint64_t off, void *buf, uint64_t len)
{
	struct nvme_store *s = &c->store;
	uint8_t *p = buf;

	if (off > s->size || len > s->size - off)
		return -EIO;
	if (s->fd < 0)
		return mem_rw(s, off, p, NULL, len, false);
	while (len) {
		ssize_t n = pread(s->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -EIO;
		if (n == 0) {               /* past the end of a shorter file: zeros */
			memset(p, 0, len);
			break;
		}
		p += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

int nvme_store_write(struct nvme_ctrl *c, uint64_t off, const void *buf, uint64_t len)
{
	static const uint8_t zeros[NVME_PAGE];
	struct nvme_store *s = &c->store;
	const uint8_t *p = buf;

	if (off > s->size || len > s->size - off)
		return -EIO;
	if (s->fd < 0)
		return mem_rw(s, off, NULL, p, len, true);
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

int nvme_store_sync(struct nvme_ctrl *c)
{
	if (c->store.fd >= 0 && fdatasync(c->store.fd) != 0)
		return -EIO;
	return 0;
}
