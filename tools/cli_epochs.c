/* SPDX-License-Identifier: MIT */
/*
 * difftrace stats: the accounts per (sender, NIC epoch) of a store (backend/src/epochs.c). Each
 * row says which NIC instance it is, whether it is closed (a newer instance of the same sender
 * appeared), and its identity: produced = stored + filtered + lost + lost_unacked (+ in_flight
 * for the open one while it runs). Figures in the counters column are the NIC's claims; stored is
 * the collector's own count. A store from before epochs has no such table: nothing is printed.
 */
#include <inttypes.h>
#include <stdio.h>

#include <sqlite3.h>

#include "cli_query.h"

/* lost_* claims of the newest stored batch, summed in SQL (JSON1 is built into SQLite >= 3.38) */
#define LOST_SQL                                                                                               \
	"(ifnull(json_extract(counters,'$.lost_ring_full'),0) + ifnull(json_extract(counters,'$.lost_invalid'),0)" \
	" + ifnull(json_extract(counters,'$.lost_backlog_full'),0) + ifnull(json_extract(counters,'$.lost_transport'),0)" \
	" + ifnull(json_extract(counters,'$.lost_hold_overflow'),0) + ifnull(json_extract(counters,'$.lost_no_ring'),0))"

int dft_cli_print_epochs(bool json, sqlite3 *db)
{
	sqlite3_stmt *q;
	int step, n = 0;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'epochs'", -1, &q,
	                       NULL) != SQLITE_OK)
		goto fail;
	step = sqlite3_step(q);
	sqlite3_finalize(q);
	if (step != SQLITE_ROW)
		return step == SQLITE_DONE ? DFT_EXIT_OK : DFT_EXIT_RUNTIME;
	/* WITHOUT ROWID has no rowid: order by what the table has */
	if (sqlite3_prepare_v2(db,
	                       "SELECT sender_id, epoch, closed, CASE WHEN closed THEN produced ELSE"
	                       " ifnull(json_extract(counters,'$.produced'),0) END, spans_stored,"
	                       " ifnull(json_extract(counters,'$.filtered'),0), " LOST_SQL ", lost_unacked,"
	                       " ifnull(json_extract(counters,'$.adopted'),0), max_seq FROM epochs"
	                       " ORDER BY sender_id, closed DESC, epoch",
	                       -1, &q, NULL) != SQLITE_OK)
		goto fail;
	if (!json)
		printf("\n%-16s %-16s %-6s %12s %12s %12s %12s %12s %10s %s\n", "SENDER", "EPOCH", "STATE", "PRODUCED",
		       "STORED", "FILTERED", "LOST", "LOST_UNACKED", "ADOPTED", "IDENTITY");
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		uint64_t v[10];
		int64_t rest;

		for (int i = 0; i < 10; i++)
			v[i] = (uint64_t)sqlite3_column_int64(q, i);
		/* in_flight: what the open epoch has not settled yet (0 once its NIC stopped cleanly) */
		rest = (int64_t)(v[3] - v[4] - v[5] - v[6] - v[7]);
		if (json)
			printf("%s{\"sender_id\":\"%016" PRIx64 "\",\"epoch\":\"%016" PRIx64 "\",\"closed\":%s,\"produced\":%" PRIu64
			       ",\"stored\":%" PRIu64 ",\"filtered\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"lost_unacked\":%" PRIu64
			       ",\"adopted\":%" PRIu64 ",\"max_seq\":%" PRIu64 ",\"unsettled\":%" PRId64 "}",
			       n++ ? "," : "", v[0], v[1], v[2] ? "true" : "false", v[3], v[4], v[5], v[6], v[7], v[8], v[9],
			       rest);
		else
			printf("%016" PRIx64 " %016" PRIx64 " %-6s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %12" PRIu64
			       " %12" PRIu64 " %10" PRIu64 " %s\n",
			       v[0], v[1], v[2] ? "closed" : "open", v[3], v[4], v[5], v[6], v[7], v[8],
			       rest ? "unsettled" : "exact");
	}
	sqlite3_finalize(q);
	if (step == SQLITE_DONE)
		return DFT_EXIT_OK;
fail:
	fprintf(stderr, "difftrace: read epochs: %s\n", sqlite3_errmsg(db));
	return DFT_EXIT_RUNTIME;
}
