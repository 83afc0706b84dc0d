/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "backlog.h"
#include "stats.h"

int dft_backlog_init(struct dft_backlog *b, uint32_t cap)
{
	b->ring = calloc(cap, sizeof(*b->ring));
	if (!b->ring)
		return -ENOMEM;
	b->cap = cap;
	b->first = b->count = 0;
	b->acked = 0;
	return 0;
}

void dft_backlog_fini(struct dft_backlog *b)
{
	dft_backlog_discard(b);
	free(b->ring);
	b->ring = NULL;
}

struct dft_backlog_entry *dft_backlog_at(struct dft_backlog *b, uint32_t i)
{
	return &b->ring[(b->first + i) % b->cap];
}

int dft_backlog_push(struct dft_backlog *b, uint64_t seq, uint32_t n_spans, uint8_t *buf, size_t len)
{
	if (b->count >= b->cap) {
		free(buf);
		return -ENOBUFS;
	}
	*dft_backlog_at(b, b->count) = (struct dft_backlog_entry){.seq = seq, .n_spans = n_spans, .buf = buf, .len = len};
	b->count++;
	dft_ctr_set(&dft_nic_ctr.backlog_batches, b->count);
	return 0;
}

static uint32_t pop(struct dft_backlog *b)
{
	struct dft_backlog_entry *e = dft_backlog_at(b, 0);
	uint32_t n = e->n_spans;

	free(e->buf);
	e->buf = NULL;
	b->first = (b->first + 1) % b->cap;
	b->count--;
	dft_ctr_set(&dft_nic_ctr.backlog_batches, b->count);
	return n;
}

uint32_t dft_backlog_retire_upto(struct dft_backlog *b, uint64_t seq)
{
	uint32_t n = 0;

	while (b->count && dft_backlog_at(b, 0)->seq <= seq) {
		dft_ctr_add(&dft_nic_ctr.reported, pop(b));
		dft_ctr_add(&dft_nic_ctr.batches_acked, 1);
		n++;
	}
	if (seq > b->acked)
		b->acked = seq;
	return n;
}

uint32_t dft_backlog_drop_oldest(struct dft_backlog *b)
{
	return b->count ? pop(b) : 0;
}

uint64_t dft_backlog_discard(struct dft_backlog *b)
{
	uint64_t spans = 0;

	while (b->count)
		spans += pop(b);
	return spans;
}
