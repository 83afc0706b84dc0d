/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the collector's BATCH payload path: dft_batch_check (decode under the allocation budget,
 * validation against the sender, the transport's sequence), exactly what TCP frames and RDMA slots
 * go through, then everything a valid batch is used for before it is stored: OTLP JSON encoding,
 * profile entries, hop lists, status messages.
 */
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "json.h"
#include "otlp_json.h"
#include "profiles.h"
#include "dft/abi.h"
#include "dft/text.h"

/* not assert(): release builds define NDEBUG and the fuzzer must still see the failure */
#define FUZZ_CHECK(c) do { if (!(c)) abort(); } while (0)

static volatile size_t touched; /* keeps the string reads from being optimized away */

size_t dft_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
	static char c0[] = "gateway", c1[] = "route", c2[] = "fn", c3[] = "k";
	char *strings[4] = {c0, c1, c2, c3};
	Difftrace__SpanBatch b = DIFFTRACE__SPAN_BATCH__INIT;
	Difftrace__BatchHeader h = DIFFTRACE__BATCH_HEADER__INIT;
	Difftrace__Span s = DIFFTRACE__SPAN__INIT, *sp = &s;
	Difftrace__Hop hop = DIFFTRACE__HOP__INIT, *hp = &hop;
	Difftrace__Attr a = DIFFTRACE__ATTR__INIT, *ap = &a;
	Difftrace__ProfileEntry e = DIFFTRACE__PROFILE_ENTRY__INIT, *ep = &e;
	Difftrace__Profile p = DIFFTRACE__PROFILE__INIT, *pp = &p;
	uint8_t tid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	size_t len;

	static char msg[] = "upstream reset: caf\xc3\xa9";

	if (i > 1)
		return 0;
	if (i == 1) {
		/* an error span with a status message */
		s.status = DIFFTRACE__STATUS__STATUS_ERROR;
		s.status_message = msg;
	}
	h.sender_id = 0x1122334455667788ULL;
	h.sequence = 3;
	hop.name_hash = 0x12345678;
	hop.span_id = 0xaa;
	hop.parent_span_id = 0x99;
	hop.start_ns = 100;
	a.key = 3;
	a.value = -5;
	s.trace_id.data = tid;
	s.trace_id.len = 16;
	s.span_id = 0xbb;
	s.parent_span_id = 0xaa;
	s.start_ns = 200;
	s.end_ns = 300;
	s.component = 2;
	s.operation = 1;
	s.kind = DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_FUNCTION;
	s.n_hops = 1;
	s.hops = &hp;
	s.n_attrs = 1;
	s.attrs = &ap;
	e.component = 0;
	e.operation = 1;
	e.duration_p50_ns = 50;
	p.created_ns = 7;
	p.n_entries = 1;
	p.entries = &ep;
	b.header = &h;
	b.n_strings = 4;
	b.strings = strings;
	b.n_spans = 1;
	b.spans = &sp;
	b.n_profiles = 1;
	b.profiles = &pp;
	len = difftrace__span_batch__get_packed_size(&b);
	if (len > cap)
		return 0;
	return difftrace__span_batch__pack(&b, buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dft_decoded *dec, *peek;
	const Difftrace__SpanBatch *b;
	struct dft_profiles prof;
	struct dft_buf out;
	const char *reason = NULL;
	uint64_t sender = 0, seq = 0, n = 0;
	int rc;

	/* authenticate as whoever the header claims, so validation goes past the sender check */
	if (dft_batch_decode(data, size, &peek, &reason) == 0) {
		if (peek->batch->header) {
			sender = peek->batch->header->sender_id;
			seq = peek->batch->header->sequence;
		}
		dft_batch_free(peek);
	} else {
		FUZZ_CHECK(reason != NULL);
	}
	reason = NULL;
	rc = dft_batch_check(data, size, sender, seq, &dec, &reason);
	if (rc) {
		FUZZ_CHECK(reason != NULL && dec == NULL);
		return 0;
	}
	b = dec->batch;
	FUZZ_CHECK(b->header && b->header->sender_id == sender && b->header->sequence == seq && seq != 0);
	dft_buf_init(&out, 64u << 20);
	FUZZ_CHECK(dft_otlp_json_encode(b, false, &out, &n) == 0 && n == b->n_spans);
	FUZZ_CHECK(dft_otlp_json_encode(b, true, &out, &n) == 0);
	dft_buf_free(&out);
	FUZZ_CHECK(dft_profiles_init(&prof, 64) == 0);
	dft_profiles_put_batch(&prof, b);
	dft_profiles_destroy(&prof);
	/* what the store and reconstruction read of hops */
	n = 0;
	for (size_t i = 0; i < b->n_spans; i++) {
		for (size_t k = 0; k < b->spans[i]->n_hops; k++) {
			const Difftrace__Hop *h = b->spans[i]->hops[k];

			FUZZ_CHECK(h->span_id != 0);
			touched += h->name_hash & 1;
			n++;
		}
	}
	FUZZ_CHECK(n == dft_batch_hops(b));
	/* a status message that passed validation is what the NIC promises: bounded printable UTF-8 */
	for (size_t i = 0; i < b->n_spans; i++) {
		const char *m = b->spans[i]->status_message;
		size_t len = m ? strlen(m) : 0;

		FUZZ_CHECK(len <= DFT_STATUS_MSG_MAX && dft_text_valid(m, len));
		FUZZ_CHECK(len == 0 || b->spans[i]->status == DIFFTRACE__STATUS__STATUS_ERROR);
	}
	dft_batch_free(dec);
	return 0;
}
