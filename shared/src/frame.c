/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dft/frame.h"

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint64_t get_be64(const uint8_t *p)
{
	return ((uint64_t)get_be32(p) << 32) | get_be32(p + 4);
}

void dft_frame_hdr_encode(uint8_t out[DFT_FRAME_HDR_LEN], uint16_t type, uint32_t len)
{
	put_be32(out, DFT_FRAME_MAGIC);
	out[4] = (uint8_t)(DFT_FRAME_VERSION >> 8);
	out[5] = (uint8_t)DFT_FRAME_VERSION;
	out[6] = (uint8_t)(type >> 8);
	out[7] = (uint8_t)type;
	put_be32(out + 8, len);
	put_be32(out + 12, 0);
}

int dft_frame_hdr_decode(const uint8_t in[DFT_FRAME_HDR_LEN], uint32_t max_payload, struct dft_frame_hdr *out)
{
	uint16_t version = (uint16_t)((in[4] << 8) | in[5]);
	uint16_t type = (uint16_t)((in[6] << 8) | in[7]);
	uint32_t len = get_be32(in + 8);

	if (get_be32(in) != DFT_FRAME_MAGIC || version != DFT_FRAME_VERSION || get_be32(in + 12) != 0)
		return -EBADMSG;
	if (type < DFT_FRAME_BATCH || type > DFT_FRAME_BUSY)
		return -EBADMSG;
	if (type != DFT_FRAME_BATCH && len != DFT_FRAME_ACK_LEN)
		return -EBADMSG;
	if (len > max_payload)
		return -EMSGSIZE;
	out->type = type;
	out->len = len;
	return 0;
}

void dft_frame_ack_encode(uint8_t out[DFT_FRAME_ACK_LEN], uint64_t sender_id, uint64_t seq)
{
	put_be64(out, sender_id);
	put_be64(out + 8, seq);
}

int dft_frame_ack_decode(const uint8_t *p, size_t len, uint64_t *sender_id, uint64_t *seq)
{
	if (len != DFT_FRAME_ACK_LEN)
		return -EBADMSG;
	*sender_id = get_be64(p);
	*seq = get_be64(p + 8);
	return 0;
}

#define RX_BASE_CAP (64u * 1024u)

int dft_frame_rx_init(struct dft_frame_rx *rx, uint32_t max_payload)
{
	return dft_frame_rx_init_budget(rx, max_payload, NULL);
}

int dft_frame_rx_init_budget(struct dft_frame_rx *rx, uint32_t max_payload, struct dft_frame_budget *budget)
{
	memset(rx, 0, sizeof(*rx));
	rx->budget = budget;
	if (max_payload == 0 || max_payload > DFT_FRAME_MAX_PAYLOAD)
		return -EINVAL;
	rx->cap = RX_BASE_CAP;
	rx->buf = malloc(rx->cap);
	if (!rx->buf)
		return -ENOMEM;
	rx->max_payload = max_payload;
	return 0;
}

static void rx_uncharge(struct dft_frame_rx *rx)
{
	if (rx->budget)
		rx->budget->used -= rx->charged;
	rx->charged = 0;
}

void dft_frame_rx_destroy(struct dft_frame_rx *rx)
{
	rx_uncharge(rx);
	free(rx->buf);
	rx->buf = NULL;
	rx->cap = rx->have = 0;
}

void dft_frame_rx_reset(struct dft_frame_rx *rx)
{
	rx->have = 0;
}

/* Bytes the frame at the start of the buffer needs in all (what is there when not known yet). */
static size_t rx_need(const struct dft_frame_rx *rx)
{
	struct dft_frame_hdr h;

	if (rx->have < DFT_FRAME_HDR_LEN || dft_frame_hdr_decode(rx->buf, rx->max_payload, &h))
		return rx->have;
	return DFT_FRAME_HDR_LEN + (size_t)h.len;
}

/* Deliver every complete frame at the start of the buffer, then keep the partial rest. */
static int rx_drain(struct dft_frame_rx *rx, dft_frame_cb cb, void *arg)
{
	size_t off = 0;
	int rc = 0;

	while (rx->have - off >= DFT_FRAME_HDR_LEN) {
		struct dft_frame_hdr h;

		rc = dft_frame_hdr_decode(rx->buf + off, rx->max_payload, &h);
		if (rc)
			break;
		if (rx->have - off - DFT_FRAME_HDR_LEN < h.len) {
			size_t need = DFT_FRAME_HDR_LEN + (size_t)h.len;

			if (need > rx->cap) {
				/* grow to exactly one frame: bounded by max_payload and by the budget */
				size_t extra = need - RX_BASE_CAP;
				uint8_t *nb;

				if (rx->budget && rx->budget->used - rx->charged + extra > rx->budget->max) {
					rx->budget->refused++;
					rc = -ENOBUFS;
					break;
				}
				memmove(rx->buf, rx->buf + off, rx->have - off);
				rx->have -= off;
				off = 0;
				nb = realloc(rx->buf, need);
				if (!nb) {
					rc = -ENOMEM;
					break;
				}
				rx->buf = nb;
				rx->cap = need;
				if (rx->budget)
					rx->budget->used += extra - rx->charged;
				rx->charged = extra;
			}
			break;
		}
		rc = cb(arg, h.type, rx->buf + off + DFT_FRAME_HDR_LEN, h.len);
		off += DFT_FRAME_HDR_LEN + h.len;
		if (rc)
			break;
	}
	if (off) {
		memmove(rx->buf, rx->buf + off, rx->have - off);
		rx->have -= off;
	}
	/* the large frame is consumed: give its memory back, so a burst does not pin it for good */
	if (rx->cap > RX_BASE_CAP && rx->have <= RX_BASE_CAP && !rc && rx_need(rx) <= RX_BASE_CAP) {
		uint8_t *nb = realloc(rx->buf, RX_BASE_CAP);

		if (nb) {
			rx->buf = nb;
			rx->cap = RX_BASE_CAP;
			rx_uncharge(rx);
		}
	}
	return rc;
}

int dft_frame_rx_feed(struct dft_frame_rx *rx, const uint8_t *p, size_t n, dft_frame_cb cb, void *arg)
{
	while (n) {
		size_t room = rx->cap - rx->have;
		size_t take = n < room ? n : room;
		int rc;

		memcpy(rx->buf + rx->have, p, take);
		rx->have += take;
		p += take;
		n -= take;
		rc = rx_drain(rx, cb, arg);
		if (rc)
			return rc;
		if (take == 0)
			return -ENOBUFS; /* cannot happen: drain grows or empties a full buffer */
	}
	return 0;
}

int dft_frame_rx_read(struct dft_frame_rx *rx, int fd, dft_frame_cb cb, void *arg)
{
	for (;;) {
		ssize_t r;
		int rc;

		if (rx->have == rx->cap) {
			rc = rx_drain(rx, cb, arg);
			if (rc)
				return rc;
			if (rx->have == rx->cap)
				return -ENOBUFS;
		}
		r = recv(fd, rx->buf + rx->have, rx->cap - rx->have, MSG_DONTWAIT);
		if (r == 0)
			return -ECONNRESET;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		rx->have += (size_t)r;
		rc = rx_drain(rx, cb, arg);
		if (rc)
			return rc;
	}
}

ssize_t dft_write_some(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t w = send(fd, (const uint8_t *)buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		done += (size_t)w;
	}
	return (ssize_t)done;
}
