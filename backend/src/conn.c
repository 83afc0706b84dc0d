/* SPDX-License-Identifier: MIT */
/* One TCP connection from a sender: its frame reader and its bounded queue of ACK frames. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector.h"

#define ACK_FRAME_LEN (DFT_FRAME_HDR_LEN + DFT_FRAME_ACK_LEN)

int dft_conn_open(struct dft_conn *cn, int fd, uint32_t gen, struct dft_frame_budget *budget)
{
	int rc;

	memset(cn, 0, sizeof(*cn));
	cn->fd = -1;
	/* frames beyond the base buffer are charged to the collector's one budget for all peers */
	rc = dft_frame_rx_init_budget(&cn->rx, DFT_FRAME_MAX_PAYLOAD, budget);
	if (rc)
		return rc;
	cn->out = malloc(DFT_CONN_OUT_MAX);
	if (!cn->out) {
		dft_frame_rx_destroy(&cn->rx);
		return -ENOMEM;
	}
	cn->fd = fd;
	cn->gen = gen;
	return 0;
}

void dft_conn_close(struct dft_conn *cn)
{
	if (cn->fd < 0)
		return;
	close(cn->fd);
	dft_frame_rx_destroy(&cn->rx);
	free(cn->out);
	cn->out = NULL;
	cn->out_len = 0;
	cn->fd = -1;
}

int dft_conn_queue_ack(struct dft_conn *cn, uint64_t sender_id, uint64_t seq)
{
	uint8_t *p;

	if (cn->out_len + ACK_FRAME_LEN > DFT_CONN_OUT_MAX)
		return -ENOBUFS;
	p = cn->out + cn->out_len;
	dft_frame_hdr_encode(p, DFT_FRAME_ACK, DFT_FRAME_ACK_LEN);
	dft_frame_ack_encode(p + DFT_FRAME_HDR_LEN, sender_id, seq);
	cn->out_len += ACK_FRAME_LEN;
	return 0;
}

int dft_conn_flush(struct dft_conn *cn)
{
	ssize_t w;

	if (cn->out_len == 0)
		return 0;
	w = dft_write_some(cn->fd, cn->out, cn->out_len);
	if (w < 0)
		return (int)w;
	memmove(cn->out, cn->out + w, cn->out_len - (size_t)w);
	cn->out_len -= (size_t)w;
	return 0;
}
