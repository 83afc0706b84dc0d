/* SPDX-License-Identifier: MIT */
/*
 * Internal interfaces of difftrace-nic. Ownership between lcores:
 *   main lcore:   configuration, registration server, transport, stats, telemetry answers
 *   worker lcore: ingest -> validate -> filter -> batch (the only code that touches a ring)
 * They talk only through rte_rings (control messages one way, replies and closed batches the other);
 * each counter has exactly one writing lcore and is read elsewhere with relaxed atomic loads.
 * With one lcore the main loop runs both halves in turn over the same rings.
 */
#ifndef DFT_NIC_H
#define DFT_NIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "difftrace.pb-c.h"
#include "dft/abi.h"
#include "dft/clock.h"
#include "dft/ring.h"
#include "dft/validate.h"
#include "names.h"
#include "tenant.h"

#define DFT_NIC_MAX_REGIONS 256u
#define DFT_NIC_MAX_PLATFORM 32u

/* ---- filter.c: the differential filter's rules (docs/filter.md documents each with its key) */
/* keep_reasons bits (Span.keep_reasons); a span kept for several reasons carries every bit */
#define DFT_KEEP_FUNCTION 1u     /* the span's component is a user function */
#define DFT_KEEP_ERROR 2u        /* status ERROR or DFT_SF_EXCEPTION */
#define DFT_KEEP_EXPLICIT 4u     /* DFT_SF_KEEP */
#define DFT_KEEP_COLD_START 8u   /* DFT_SF_COLD_START */
#define DFT_KEEP_QUEUEING 16u    /* queue_ns over the floor or over a multiple of the component's p99 */
#define DFT_KEEP_OUTLIER 32u     /* self time over a multiple of the (component, operation) median */
#define DFT_KEEP_CONTENTION 64u  /* the component's metrics entry is over a threshold */
#define DFT_KEEP_RETRO 128u      /* held, then reported because its trace turned out anomalous */
#define DFT_KEEP_RULES 8u        /* number of bits above */

struct dft_filter_cfg {
	bool keep_function, keep_error, keep_explicit, keep_cold_start;
	bool queueing, outlier, contention;
	uint64_t queue_floor_ns;      /* 0 = no absolute floor */
	double queue_p99_multiple;
	uint32_t queue_min_samples;
	double outlier_multiple;      /* an outlier is >= this x its key's median (self) time */
	uint32_t outlier_warmup;      /* samples before the key's median judges */
	uint64_t outlier_ceiling_ns;  /* before that: keep a span longer than this; 0 = off */
	uint32_t cpu_throttle_ppm;    /* 0 = not a trigger */
	uint32_t mem_pressure_ppm;    /* 0 = not a trigger */
	bool concurrency_at_limit;
	uint64_t metrics_refresh_ns;
};
void dft_filter_cfg_defaults(struct dft_filter_cfg *c);

/* ---- profiler.c: per (component, operation) profiles (names: names.h) */

struct dft_prof_cfg {
	uint64_t interval_ns;       /* span time between threshold refreshes; wall time between snapshots */
	uint32_t rotate_intervals;  /* a key's windows drop their older half every N intervals of span time */
	uint32_t min_window;        /* ... once the newer half holds at least this many samples */
	uint32_t max_keys;          /* (component, operation) keys plus one per component */
	uint32_t outlier_warmup;    /* samples before a key's median judges */
	double outlier_multiple;    /* an outlier is >= this x the median */
	uint32_t queue_min_samples;
	double queue_p99_multiple;
	uint64_t clock_jump_ns;     /* a span this far behind its key's span time restarts the key's clock */
};
void dft_prof_cfg_defaults(struct dft_prof_cfg *c);

/* Thresholds of one key as of its last refresh; 0 = none yet (warm-up, or a median of 0). */
struct dft_prof_limits {
	uint64_t self_ns;      /* on self time (a leaf key: its duration) */
	uint64_t duration_ns;  /* on inclusive duration: a wrapping key's span whose children were not seen */
	uint64_t self_def_ns;  /* outlier_multiple x the medians: what the definition calls an outlier */
	uint64_t duration_def_ns;
	uint64_t queue_ns;     /* from the component's queue-time window */
	bool wraps;            /* the key's spans usually come with children seen on this NIC */
};

/* One span as the profiler learns from it. */
struct dft_prof_obs {
	uint64_t end_ns;       /* span time: moves the key's clock */
	uint64_t duration_ns;
	uint64_t self_ns;      /* duration less what its children covered, when self_known */
	uint32_t queue_ns;
	bool self_known;       /* children of this span were seen */
	bool explained;        /* kept for a reason that is not its duration: left out of the baseline */
};

/* Multiple of the median above which a key with n samples calls a span an outlier (profiler.c). */
double dft_profiler_outlier_factor(double multiple, uint64_t n);

/* One ProfileEntry as the profiler sees it. */
struct dft_prof_row {
	const char *component, *operation;
	uint64_t count, kept, filtered;
	uint64_t duration_p50_ns, duration_p99_ns, queue_p99_ns, self_time_ns;
};

struct dft_profiler;
int dft_profiler_create(const struct dft_prof_cfg *cfg, struct dft_profiler **out);
void dft_profiler_destroy(struct dft_profiler *p);
/* Key of (component, operation) global name ids (op 0 is reserved), added when new; -ENOSPC when the
 * key table is full (counted: the span is still decided, by the rules that need no profile). */
int dft_profiler_key(struct dft_profiler *p, uint32_t comp, uint32_t op);
void dft_profiler_limits(const struct dft_profiler *p, int key, struct dft_prof_limits *out);
/* Learn from a span after it was judged (against the thresholds of before it). */
void dft_profiler_observe(struct dft_profiler *p, int key, const struct dft_prof_obs *o);
/* The span's final fate (a held span's is known only later). */
void dft_profiler_count(struct dft_profiler *p, int key, bool kept);
/* Call often with the NIC's monotonic clock: true once per interval, when a snapshot is due. The
 * thresholds do not depend on it (they follow span time). */
bool dft_profiler_tick(struct dft_profiler *p, uint64_t now_ns);
/* Rows for every key with observations in the window (component aggregates excluded), at most max,
 * with figures computed now. */
unsigned dft_profiler_snapshot(const struct dft_profiler *p, const struct dft_names *names, struct dft_prof_row *rows,
			       unsigned max);
uint32_t dft_profiler_max_keys(const struct dft_profiler *p);
uint64_t dft_profiler_keys_full(const struct dft_profiler *p);
/* Keys whose span clock went back by more than clock_jump_ns and was restarted. */
uint64_t dft_profiler_clock_resets(const struct dft_profiler *p);

/* ---- contention.c: the region's metrics page, read under each entry's seqlock (hostile memory).
 * The rule asks "was the component contended at any time while the span ran?", so each component
 * that was ever over a threshold gets a track: the interval open now (if any) and the last
 * DFT_CONTENTION_HIST closed ones, in the region's clock (unix ns). A span that ran inside a window
 * still matches when it reaches the NIC after the window closed. */
#define DFT_CONTENTION_HIST 8u
struct dft_contention_iv {
	uint64_t from, to;
};
struct dft_contention_track {
	uint16_t comp;   /* region-local component id; 0 = free */
	uint8_t n;       /* closed intervals held (<= DFT_CONTENTION_HIST) */
	uint8_t next;    /* where the next closed interval goes (oldest overwritten) */
	bool open;       /* over a threshold as of the last refresh, since open_from */
	uint64_t open_from;
	uint64_t last_ns; /* latest interval edge: the stalest closed track is evicted first */
	struct dft_contention_iv iv[DFT_CONTENTION_HIST];
};
struct dft_contention {
	uint64_t next_ns;                          /* readings are refreshed at most this often */
	uint16_t prev_id[DFT_METRICS_MAX];         /* last consistent reading per entry (torn reads keep it) */
	uint8_t prev_on[DFT_METRICS_MAX];
	uint64_t prev_ns[DFT_METRICS_MAX];         /* the reading's time (region clock) */
	/* region-local component id -> 1 + its track index (0 = never contended); at most 64 components
	 * can be over a threshold at once (one page), so DFT_METRICS_MAX tracks always have room for the
	 * open ones */
	uint8_t track_of[DFT_NAME_CAPACITY_MAX + 1];
	struct dft_contention_track track[DFT_METRICS_MAX];
	uint64_t torn;                             /* entries skipped because the writer was busy */
	uint64_t bad;                              /* entries with an impossible component id */
	uint64_t evicted;                          /* tracks (a component's history) given to another component */
};
/*
 * Re-read the page when next_ns (monotonic now_ns) has passed, or when forced. base/g describe the
 * mapped region. region_now_ns is the region's clock now (unix ns): the time of a reading whose
 * entry carries none, and the end of an interval whose entry vanished.
 */
void dft_contention_refresh(struct dft_contention *c, const struct dft_filter_cfg *f, const void *base,
			    const struct dft_region_geom *g, uint32_t names_published, uint64_t now_ns,
			    uint64_t region_now_ns, bool force);
/* The component is over a threshold as of the last refresh. */
bool dft_contention_on(const struct dft_contention *c, uint16_t comp_local_id);
/* The span [start_ns, end_ns] (region clock) overlaps one of the component's contention intervals. */
bool dft_contention_match(const struct dft_contention *c, uint16_t comp_local_id, uint64_t start_ns,
			  uint64_t end_ns);

/* ---- reg_policy.c: which peer (SO_PEERCRED uid/gid) may register which components */
#define DFT_REG_RULES_MAX 32u
#define DFT_REG_RULE_COMPS 16u
struct dft_reg_rule {
	bool gid;  /* the rule names a (primary) gid, else a uid */
	bool any;  /* '*': every component */
	uint32_t id;
	uint32_t n_comps;
	char comps[DFT_REG_RULE_COMPS][DFT_NAME_MAX + 1];
};
struct dft_reg_policy {
	uint32_t n;
	struct dft_reg_rule rule[DFT_REG_RULES_MAX];
};
/* Adds "uid=ID:a,b" / "gid=ID:*" (ID a number or a name). 0, or -EINVAL with why set. */
int dft_reg_policy_add(struct dft_reg_policy *p, const char *spec, char *why, size_t why_len);
/* comp NULL: some rule names the peer at all. Else: the peer may trace as comp. 0 or -EACCES. */
int dft_reg_policy_check(const struct dft_reg_policy *p, uint32_t uid, uint32_t gid, const char *comp);
/* Some rule naming the peer allows every component (no per-span check needed). */
bool dft_reg_policy_any(const struct dft_reg_policy *p, uint32_t uid, uint32_t gid);

/* ---- config.c */
#define DFT_NIC_TRANSPORT_MAX 16u
struct dft_nic_config {
	char socket_path[108];
	char collector_host[256];
	char collector_port[16];
	char rdma_bind[256]; /* rdma: local address that picks the RDMA device (empty: by route) */
	char transport[DFT_NIC_TRANSPORT_MAX]; /* name of the dft_tx_ops to use ("tcp") */
	char ingest[DFT_NIC_TRANSPORT_MAX];    /* name of the dft_ingest_ops ("mmap") */
	char rdma_ingest_bind[256]; /* rdma-read: ADDR:PORT the daemon listens on for hosts' connections */
	char net_listen[256]; /* rdma-read: ADDR:PORT hosts on other machines register on (reg_net.c) */
	char tls_cert[256];         /* tcp: mutual TLS 1.3 (all three, or none: plain TCP) */
	char tls_key[256];
	char tls_ca[256];
	char rdma_key[256]; /* rdma: this sender's key file (dft/rdma_auth.h; empty: no handshake) */
	uint64_t sender_id;
	uint32_t batch_spans;
	uint32_t flush_us;
	uint32_t backlog;
	const char *stats_json;
	const char *ready_file;
	const char *config_file;
	bool busy_poll;
	bool evict_slots; /* mmap ingest: clflushopt each slot after copying it (see ingest_mmap.c) */
	bool ship_profiles;
	struct dft_reg_policy reg_allow; /* empty after parsing: the daemon's own uid and root, any component */
	int64_t reg_socket_gid;          /* -1: the daemon's group */
	uint32_t reg_await_ms;           /* a registration connection must send its message within */
	unsigned n_platform;
	char platform[DFT_NIC_MAX_PLATFORM][DFT_NAME_MAX + 1];
	uint32_t max_names;
	uint32_t max_children;   /* children table of the self-time rule */
	struct dft_tenants_cfg tenants;
	struct dft_filter_cfg filter;
	struct dft_prof_cfg prof;
	struct dft_hold_cfg {
		bool enabled;
		uint32_t max_spans;
		uint64_t hold_ns;
		uint32_t remember_traces;
		uint64_t remember_ns;
		bool retro_path;  /* retro scope: the anomalies' ancestors (true) or whole traces */
	} hold;
};

/* Defaults of every option (what the parser starts from). */
void dft_nic_config_defaults(struct dft_nic_config *cfg);
/* Key i of the one key table (section, name, default as written in --help): 0, or -ENOENT past
 * the last. */
int dft_nic_config_key(unsigned i, const char **section, const char **name, const char **def);
/*
 * Parse the options after EAL's `--` (argv[0] is the program name): defaults, then the --config file,
 * then the other options (the command line wins). Returns 0, 1 (--help printed) or -EINVAL after
 * printing a message that names the bad option, or file:line and the key.
 */
int dft_nic_config_parse(struct dft_nic_config *cfg, int argc, char **argv);
/* Apply one `section.key=value` setting (what --set and each file line do). 0 or -EINVAL with why. */
int dft_nic_config_set(struct dft_nic_config *cfg, const char *section, const char *key, const char *value,
		       char *why, size_t why_len);
/* Load an INI file over cfg. 0, -ENOENT (cannot open) or -EINVAL; the message names file:line. */
int dft_nic_config_load(struct dft_nic_config *cfg, const char *path);
void dft_nic_usage(const char *prog);

/* ---- stats.c: counters, one writer each */
struct dft_nic_counters {
	/* written by the worker */
	uint64_t produced;
	uint64_t lost_ring_full;
	uint64_t lost_no_ring;
	uint64_t filtered;
	uint64_t lost_invalid;
	uint64_t batched; /* spans put into a batch (open, handed over, or in the backlog) */
	uint64_t batches_built;
	uint64_t ring_corrupt;
	uint64_t regions_retired;
	uint64_t invalid[DFT_INVALID_COUNT];
	uint64_t lost_hold_overflow;
	uint64_t kept[DFT_KEEP_RULES]; /* per keep_reasons bit: spans reported with that bit */
	uint64_t held;                 /* gauge: spans in the hold window (held or queued for release) */
	uint64_t hold_timeouts;        /* held spans filtered because their hold time ran out */
	uint64_t hold_root_drops;      /* held spans filtered when their trace's root ended normally */
	uint64_t hold_released;        /* held spans reported because the trace turned anomalous */
	uint64_t anomalous_evicted;    /* remembered anomalous traces forgotten early (memory full) */
	uint64_t hold_path_drops;      /* held spans filtered: in an anomalous trace, off every anomaly's path */
	uint64_t hold_want_full;       /* wanted ancestors given up for a newer one */
	uint64_t hold_extended;        /* held spans kept past their hold time: no hop list named them */
	uint64_t names_full;
	uint64_t prof_keys_full;
	uint64_t children_evicted;     /* children-table entries given up before their parent came */
	uint64_t prof_clock_resets;    /* profiler keys whose span clock went back and was restarted */
	uint64_t span_clock_jumps;     /* spans ending too far ahead of span time to move it */
	uint64_t profiles_built;
	uint64_t profiles_dropped;
	uint64_t metrics_torn;
	uint64_t metrics_bad;
	uint64_t dma_copies; /* dmadev ingest: copies completed by the DMA engine */
	uint64_t dma_errors;
	uint64_t rdma_reads;  /* rdma-read ingest: READ / WRITE work requests completed, failures */
	uint64_t rdma_writes;
	uint64_t rdma_errors;
	uint64_t hops_dropped; /* hops the host libraries cut from spans (ring headers' dropped_hops, clamped) */
	uint64_t status_msg_invalid; /* status messages left out of reported spans: not 1..120 bytes of
				      * printable UTF-8 (the span itself is reported) */
	/* written by the main lcore */
	uint64_t reported;
	uint64_t lost_backlog_full;
	uint64_t lost_transport;
	uint64_t batches_sent;
	uint64_t batches_acked;
	uint64_t batches_admitted;
	uint64_t connects;
	uint64_t connect_failures;     /* attempts to reach the collector that failed */
	uint64_t disconnects;
	uint64_t regions_attached;
	uint64_t regions_refused;
	uint64_t regions_net; /* of regions_attached: registered over the network (reg_net.c) */
	uint64_t reg_conns_timed_out; /* registration connections closed: no message within await_ms */
	uint64_t reg_conns_evicted;   /* ... closed to make room: every slot held, this one the oldest waiting */
	uint64_t backlog_batches;
};

/*
 * A counter the host writes is a claim. The NIC keeps its own copy per ring and moves it only up
 * (a host that rewrites the counter smaller, or a torn read, cannot make the total run backwards)
 * and never past bound (what the host's other claims make possible), so a lying host inflates at
 * most its own region's share. Returns the clamped value.
 */
static inline uint64_t dft_claim_clamp(uint64_t *last, uint64_t now, uint64_t bound)
{
	if (now > bound)
		now = bound;
	if (now > *last)
		*last = now;
	return *last;
}

/* A hop list counts its hops in a uint8_t: one span can make the host cut at most this many. */
#define DFT_NIC_HOPS_CUT_PER_SPAN 255u

#define dft_ctr_add(p, v) __atomic_store_n((p), __atomic_load_n((p), __ATOMIC_RELAXED) + (v), __ATOMIC_RELAXED)
#define dft_ctr_set(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define dft_ctr_get(p) __atomic_load_n((p), __ATOMIC_RELAXED)

extern struct dft_nic_counters dft_nic_ctr;
/* Written by the main lcore: the transport is up with room to spare. While it is not, the worker
 * closes batches only when full (not on --flush-us), so an outage fills the backlog with full
 * batches instead of thousands of near-empty ones. */
extern bool dft_nic_tx_ready;

/*
 * One live region's share of the counters its host writes, as the worker clamped them: a lying host
 * shows up here, in its own row (telemetry /difftrace/regions).
 */
struct dft_nic_region_stat {
	uint32_t id;  /* registration id */
	uint32_t pid; /* as the region declared it */
	uint32_t peer_pid, peer_uid; /* as the kernel (SO_PEERCRED) saw the registering process */
	uint64_t instance_id;
	uint64_t produced, lost_ring_full, lost_no_ring, hops_dropped;
};

/* The worker publishes its live regions' rows (at most DFT_NIC_MAX_REGIONS) under a seqlock. */
void dft_nic_regions_publish(const struct dft_nic_region_stat *v, unsigned n);
/*
 * Any thread: copy the latest publication into out[0, max). Returns the number of live regions
 * (which may exceed max: only max are copied), or -EBUSY when the worker kept rewriting it.
 */
int dft_nic_regions_read(struct dft_nic_region_stat *out, unsigned max);

/* A consistent-enough snapshot with the derived in_flight. */
struct dft_nic_snapshot {
	struct dft_nic_counters c;
	uint64_t in_flight;
};
void dft_nic_snapshot(struct dft_nic_snapshot *s);
int dft_nic_telemetry_register(void);
/* Write the counters as JSON to path via path.tmp + rename. Returns 0 or -errno. */
int dft_nic_stats_write(const char *path);

/* ---- region.h-ish: one registered region (created by main, polled by the worker) */
struct dft_nic_ring_state {
	struct dft_ring_cons cons;
	uint64_t produced;     /* monotonic clamps of the host's counters */
	uint64_t dropped_full;
	uint64_t dropped_hops; /* also bounded: at most DFT_NIC_HOPS_CUT_PER_SPAN per produced span */
	uint64_t skip_until;   /* tsc: a corrupt ring is left alone until then */
};

struct dft_net_conn;
struct dft_nic_region {
	uint32_t id;
	int fd;                /* the memfd (main owns it); -1 when registered over the network */
	int conn;              /* the host's registration connection (main owns it) */
	struct dft_net_conn *net; /* registered over the network (reg_net.c, main owns it), else NULL */
	void *base;
	struct dft_region_geom g;
	/* worker-owned from ATTACH to DETACHED */
	struct dft_nic_ring_state *rings;
	struct dft_clock_cal cal;
	uint64_t cal_tsc;
	uint64_t dropped_no_ring;
	uint32_t names_published;
	void *ingest_priv;
	uint32_t peer_pid, peer_uid, peer_gid; /* SO_PEERCRED of the registration connection */
	const struct dft_reg_policy *policy;   /* NULL: the peer may trace as any component */
	uint8_t *comp_ok;              /* per region-local name id: 0 unknown, 1 allowed, 2 refused */
	uint32_t *gname;               /* region-local name id -> NIC-global id (0 = not resolved yet) */
	uint8_t tenant;                /* tenant.h: set at attach */
	uint64_t claims_ns;            /* NIC time of the last reading of the host's counters (0: none) */
	bool has_peer;                 /* peer_* above come from SO_PEERCRED */
	struct dft_contention cont;
};

/* ---- filter.c (rules) */
struct dft_filter {
	struct dft_filter_cfg cfg;
	unsigned n_platform;
	const char (*platform)[DFT_NAME_MAX + 1];
};

/* What the rules look at besides the slot. */
struct dft_span_facts {
	enum dft_kind kind;
	uint64_t duration_ns;
	uint64_t self_ns;            /* when self_known: duration less its children's time */
	bool self_known;
	bool contended;              /* the component's metrics entry is over a threshold */
	struct dft_prof_limits lim;  /* the profile's thresholds (0 = none yet) */
};

/* Effective component kind of a validated slot whose component name is comp. */
enum dft_kind dft_filter_kind(const struct dft_filter *f, const struct dft_slot *s, uint8_t region_kind,
			      const char *comp);
/* keep_reasons for the slot (0 = the rules would filter it). */
uint32_t dft_filter_decide(const struct dft_filter *f, const struct dft_slot *s, const struct dft_span_facts *x);
/*
 * Whether keep (from dft_filter_decide on x) only holds an outlier below outlier_multiple x its
 * median: inside the margin the threshold leaves for an uncertain median. Such a span is kept,
 * but does not make its trace anomalous for the hold window.
 */
bool dft_filter_weak_outlier(uint32_t keep, const struct dft_span_facts *x);
/* Counter name of keep_reasons bit i ("function", ...). */
const char *dft_keep_reason_name(unsigned bit);

/* ---- hold.c: the hold window (retroactive keep) */
/* A span decoupled from its region: names are NIC-global ids, times are unix ns. */
struct dft_span_rec {
	uint8_t trace_id[DFT_TRACE_ID_LEN];
	uint64_t span_id, parent_span_id, start_ns, end_ns, instance_id;
	int64_t attr_val[DFT_SLOT_ATTRS];
	uint32_t comp, op, attr_key[DFT_SLOT_ATTRS];
	uint32_t queue_ns, pid, keep_reasons;
	int32_t prof_key; /* -1 = none */
	uint8_t tenant;   /* of the region the span came from */
	bool weak;        /* kept as an outlier only inside the threshold's margin: proves nothing */
	uint16_t flags;
	uint8_t status, span_kind, n_attrs, kind;
};

enum dft_fate {
	DFT_FATE_REPORT = 0, /* batch it now with rec->keep_reasons */
	DFT_FATE_FILTER,     /* count it filtered */
	DFT_FATE_HELD,       /* the hold window has it */
	DFT_FATE_OVERFLOW,   /* it would have been held but the window is full: lost_hold_overflow */
};

struct dft_hold;
/* Called for every held span the window filters (root end, timeout, flush). */
typedef void (*dft_hold_drop_fn)(void *arg, const struct dft_span_rec *r);
int dft_hold_create(const struct dft_hold_cfg *cfg, struct dft_hold **out);
void dft_hold_destroy(struct dft_hold *h);
/*
 * The window's two clocks. Hold and remember times run on span time (the latest end time the NIC
 * has seen, never going back), so a recording replayed at any speed is held as live traffic is;
 * the NIC's monotonic clock bounds them at DFT_HOLD_WALL_FACTOR times as long, for when spans stop
 * coming or a host's clock stands still.
 */
struct dft_hold_now {
	uint64_t span_ns;
	uint64_t wall_ns;
};
#define DFT_HOLD_WALL_FACTOR 4u
#define DFT_HOLD_WANT 4u /* path scope: ancestors a remembered trace waits for at once */
/*
 * Decide the fate of a span the rules have judged (rec->keep_reasons). holdable: a platform span
 * the window may keep back. Marks anomalous traces (moving their held spans to the release queue),
 * drops a trace's held spans when its root ends normally.
 */
enum dft_fate dft_hold_admit(struct dft_hold *h, struct dft_span_rec *rec, bool holdable,
			     const struct dft_hold_now *now, dft_hold_drop_fn drop, void *arg);
/* A span of this trace carried hops naming span_ids[0, n) (path scope: those can be rebuilt, so
 * they need not be reported). Call before admitting that span. */
void dft_hold_saw_hops(struct dft_hold *h, const uint8_t *trace_id, const uint64_t *span_ids, unsigned n);
/* The oldest span waiting to be reported (keep_reasons has DFT_KEEP_RETRO), or NULL. */
const struct dft_span_rec *dft_hold_release_peek(const struct dft_hold *h);
void dft_hold_release_pop(struct dft_hold *h);
/* Filter the held spans of traces whose hold time ran out; forget expired anomalous traces. */
unsigned dft_hold_expire(struct dft_hold *h, const struct dft_hold_now *now, dft_hold_drop_fn drop, void *arg);
/* Filter every held span (shutdown); the release queue is left for the caller to report. */
unsigned dft_hold_flush(struct dft_hold *h, dft_hold_drop_fn drop, void *arg);
struct dft_hold_stats {
	uint64_t held;           /* spans held or queued for release now */
	uint64_t timeouts, root_drops, released, overflow, anomalous_evicted;
	uint64_t path_drops;     /* path scope: held spans of an anomalous trace not on an anomaly's path */
	uint64_t want_full;      /* path scope: wanted ancestors given up for a newer one */
	uint64_t extended;       /* path scope: spans held longer because no hop list named them */
	uint32_t traces_held, traces_anomalous;
};
void dft_hold_stats(const struct dft_hold *h, struct dft_hold_stats *out);

/* ---- batch.c */
/* What the batcher needs from a region: its names, identity and calibration. */
struct dft_batch_src {
	const void *base;
	const struct dft_region_geom *g;
	uint32_t names_published;
	const struct dft_clock_cal *cal;
};

struct dft_batch;

/* A batch with room for cap spans. Returns 0 or -ENOMEM. */
int dft_batch_create(uint32_t cap, struct dft_batch **out);
void dft_batch_destroy(struct dft_batch *b);
uint32_t dft_batch_spans(const struct dft_batch *b);
/* The span just added belongs to tenant (tenant.h); per-tenant span counts of the batch. */
void dft_batch_note_tenant(struct dft_batch *b, unsigned tenant);
const uint32_t *dft_batch_tenants(const struct dft_batch *b);
uint64_t dft_batch_open_tsc(const struct dft_batch *b);
void dft_batch_set_open_tsc(struct dft_batch *b, uint64_t tsc);
bool dft_batch_full(const struct dft_batch *b);

/*
 * Add a validated span slot (and its n_cont continuation slots in cont[], checked by
 * dft_conts_validate) with the filter's verdict. A status message slot's text is validated here: a
 * bad one is left out and counted in status_msg_invalid, the span is added without it. Returns 0,
 * or -ENOSPC when the batch (spans, hops or strings) cannot take it: close the batch and add the
 * span to a fresh one.
 */
int dft_batch_add(struct dft_batch *b, const struct dft_batch_src *src, const struct dft_slot *s,
		  const struct dft_slot *cont, enum dft_kind kind, uint32_t keep_reasons);

/* Add a span the hold window released (names from the NIC-global table). 0 or -ENOSPC. */
int dft_batch_add_rec(struct dft_batch *b, const struct dft_names *names, const struct dft_span_rec *r);
/* A batch of no spans carrying one Profile of n rows. 0, -EINVAL (n == 0) or -ENOMEM. */
int dft_batch_profile(uint64_t created_ns, const struct dft_prof_row *rows, unsigned n, struct dft_batch **out);
/* No spans and no profile: nothing worth sending. */
bool dft_batch_empty(const struct dft_batch *b);

/*
 * Fill the header and pack: out receives a malloc'd buffer with room for a frame header in front
 * (hdr_room bytes) followed by the packed SpanBatch. Returns 0 or -ENOMEM.
 */
int dft_batch_pack(struct dft_batch *b, uint64_t sender_id, uint64_t seq, uint64_t created_ns,
		   const Difftrace__Counters *ctr, size_t hdr_room, uint8_t **out, size_t *out_len);

/* ---- tx_tcp.c: transports behind one interface */
struct dft_tx;
struct dft_tx_ops {
	const char *name;
	int (*create)(const struct dft_nic_config *cfg, struct dft_tx **out);
	void (*destroy)(struct dft_tx *t);
	/* connect/reconnect, send, read ACKs; now = rte_rdtsc(). Returns work done (>0) or 0. */
	int (*poll)(struct dft_tx *t, uint64_t now);
	/* Admit a packed frame (hdr_room bytes reserved in front) of n_spans spans; takes buf.
	 * Returns 0 or -ENOBUFS (backlog full: buf freed, nothing admitted). */
	int (*admit)(struct dft_tx *t, uint64_t seq, uint32_t n_spans, uint8_t *buf, size_t len);
	bool (*has_room)(const struct dft_tx *t);
	/* Connected and the backlog at most half full: worth closing batches early for latency. */
	bool (*ready)(const struct dft_tx *t);
	uint32_t (*unacked)(const struct dft_tx *t);
	uint64_t (*acked_seq)(const struct dft_tx *t);
	/* Drop every unacked batch; returns the spans they held. */
	uint64_t (*discard)(struct dft_tx *t);
	size_t hdr_room;
};
extern const struct dft_tx_ops dft_tx_tcp_ops;
#ifdef DFT_HAVE_RDMA
extern const struct dft_tx_ops dft_tx_rdma_ops;
#endif

/* ---- worker.c (pipeline) and main.c (main side) */
enum dft_ctl_type {
	DFT_CTL_ATTACH = 1,  /* main -> worker: region ready */
	DFT_CTL_DETACH,      /* main -> worker: host gone, drain and retire */
	DFT_CTL_STOP,        /* main -> worker: drain everything, close the batch, stop */
	DFT_CTL_DETACHED,    /* worker -> main: region retired, unmap it */
	DFT_CTL_STOPPED,     /* worker -> main: drained, last batch handed over */
};

struct dft_ctl_msg {
	enum dft_ctl_type type;
	struct dft_nic_region *region;
};

struct dft_nic_ctx;
/* One pass of the pipeline; returns work done (slots, messages). */
int dft_worker_step(struct dft_nic_ctx *ctx);
bool dft_worker_stopped(const struct dft_nic_ctx *ctx);

/* ---- reg_server.c */
struct dft_reg_server;
int dft_reg_server_create(const char *path, uint64_t daemon_id, struct dft_reg_server **out);
void dft_reg_server_destroy(struct dft_reg_server *s);
/* Accept, read registrations, notice EOFs. attach(region) is called for a validated region before
 * the host is answered (non-zero: refuse with that status), detach(region) when its host hung up.
 * Returns work done. */
int dft_reg_server_poll(struct dft_reg_server *s, int (*attach)(void *, struct dft_nic_region *),
			void (*detach)(void *, struct dft_nic_region *), void *arg);
/* rdma-read ingest: refuse hosts that cannot export their region by RDMA, tell the others where to
 * connect (dft/reg.h step 5). 0 or -EINVAL. */
int dft_reg_server_rdma_at(struct dft_reg_server *s, const char *addr, uint16_t port);
/* Who may register what (policy: read at every accept and registration, must outlive the server),
 * the socket's group (gid < 0: leave it) and how long a connection may stay silent. 0 or -errno. */
int dft_reg_server_secure(struct dft_reg_server *s, const struct dft_reg_policy *policy, int64_t gid,
			  uint32_t await_ms);
/* The worker retired the region: unmap and free it. */
void dft_region_free(struct dft_nic_region *r);

/* ---- idle back-off (main.c) */
struct dft_idle {
	unsigned empty_rounds;
	unsigned max_us; /* longest sleep; 0 = 100 us */
	bool busy_poll;
};
void dft_idle_wait(struct dft_idle *i, int work);

#endif /* DFT_NIC_H */
