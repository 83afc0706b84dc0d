/* SPDX-License-Identifier: MIT */
/*
 * Stream framing between difftrace-nic and difftrace-collector (TCP transport).
 *
 * Every frame: a 16-byte header in network byte order, then `len` payload bytes.
 *   0  u32 magic   DFT_FRAME_MAGIC ("DFTF")
 *   4  u16 version DFT_FRAME_VERSION
 *   6  u16 type    enum dft_frame_type
 *   8  u32 len     payload bytes, <= the receiver's limit
 *  12  u32 reserved, must be 0
 *
 * Conversation: NIC -> HELLO(sender_id, epoch); collector -> ACK(sender_id, highest sequence it has
 * stored for that sender in that epoch: 0 for an epoch it has not seen; a NIC from before epochs
 * sends 0); NIC -> BATCH(protobuf SpanBatch) ...; collector -> ACK(sender_id, seq)
 * once the batch is durable. The NIC resends every unacknowledged batch after a reconnect; the
 * collector drops a (sender, sequence) it has already stored. When the collector cannot make
 * batches durable (disk full, read-only, I/O errors) it answers BUSY(sender_id, retry_after_ms)
 * instead of acknowledging and closes the connection: the NIC waits at least that long, backing off
 * exponentially while BUSY repeats, rather than reconnecting at once (docs/reliability.md).
 */
#ifndef DFT_FRAME_H
#define DFT_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DFT_FRAME_MAGIC 0x44465446u
#define DFT_FRAME_VERSION 1u
#define DFT_FRAME_HDR_LEN 16u
#define DFT_FRAME_MAX_PAYLOAD (16u << 20)
#define DFT_FRAME_ACK_LEN 16u

enum dft_frame_type {
	DFT_FRAME_BATCH = 1,
	DFT_FRAME_ACK = 2,
	DFT_FRAME_HELLO = 3,
	DFT_FRAME_BUSY = 4, /* collector -> NIC: storage failing, retry later (ACK-sized payload) */
};

struct dft_frame_hdr {
	uint16_t type;
	uint32_t len;
};

void dft_frame_hdr_encode(uint8_t out[DFT_FRAME_HDR_LEN], uint16_t type, uint32_t len);

/* Returns 0, -EBADMSG (magic, version, type or reserved wrong) or -EMSGSIZE (len > max_payload). */
int dft_frame_hdr_decode(const uint8_t in[DFT_FRAME_HDR_LEN], uint32_t max_payload, struct dft_frame_hdr *out);

/* ACK, HELLO and BUSY payloads: u64 sender_id, u64 sequence / epoch / retry_after_ms, big-endian. */
void dft_frame_ack_encode(uint8_t out[DFT_FRAME_ACK_LEN], uint64_t sender_id, uint64_t seq);
int dft_frame_ack_decode(const uint8_t *p, size_t len, uint64_t *sender_id, uint64_t *seq);

/*
 * One memory budget shared by several readers (a receiver serving many peers): a reader's buffer
 * beyond its base size is charged here while a large frame is in progress, and given back once the
 * frame is consumed. Without it N peers could each hold N x max_payload half-sent.
 */
struct dft_frame_budget {
	size_t max;       /* bytes beyond the readers' base buffers, all readers together */
	size_t used;
	uint64_t refused; /* frames refused because the budget could not hold them */
};

/* Incremental reader for a non-blocking stream socket. */
struct dft_frame_rx {
	uint8_t *buf;
	size_t cap;
	size_t have;
	uint32_t max_payload;
	struct dft_frame_budget *budget; /* NULL: unbudgeted (grows up to one max_payload frame) */
	size_t charged;                  /* what this reader holds of budget */
};

typedef int (*dft_frame_cb)(void *arg, uint16_t type, const uint8_t *payload, uint32_t len);

int dft_frame_rx_init(struct dft_frame_rx *rx, uint32_t max_payload);
/* As dft_frame_rx_init, growth charged to budget (shared, outlives the reader); a frame the budget
 * cannot hold makes the read return -ENOBUFS (counted in budget->refused). */
int dft_frame_rx_init_budget(struct dft_frame_rx *rx, uint32_t max_payload, struct dft_frame_budget *budget);
void dft_frame_rx_destroy(struct dft_frame_rx *rx);
void dft_frame_rx_reset(struct dft_frame_rx *rx);

/*
 * Read what the socket has (until EAGAIN) and call cb once per complete frame. A non-zero return
 * from cb stops reading and is returned. Returns 0 when the socket has no more data for now,
 * -ECONNRESET on orderly EOF, -EBADMSG/-EMSGSIZE for a bad header, -ENOBUFS when the budget cannot
 * hold the frame announced, -errno on a read error.
 */
int dft_frame_rx_read(struct dft_frame_rx *rx, int fd, dft_frame_cb cb, void *arg);

/* Feed bytes already in memory (tests, fuzzing): same contract as dft_frame_rx_read. */
int dft_frame_rx_feed(struct dft_frame_rx *rx, const uint8_t *p, size_t n, dft_frame_cb cb, void *arg);

/* Write all of buf to a blocking-or-not socket; returns bytes written (may be short on EAGAIN) or -errno. */
ssize_t dft_write_some(int fd, const void *buf, size_t len);

#endif /* DFT_FRAME_H */
