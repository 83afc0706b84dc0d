/* SPDX-License-Identifier: MIT */
/*
 * difftrace serve --db FILE [--listen HOST:PORT] [--allow-remote]
 *
 * A small local web UI over the store (libmicrohttpd). Routes, GET and HEAD only:
 *   /                          traces, newest first, with filters (serve_list.h)
 *   /trace/ID                  the trace page (the same page `difftrace view` writes)
 *   /api/traces?FILTERS        the list as JSON
 *   /api/trace/ID              the trace's view model as JSON
 *   /api/critical-path/ID      what `difftrace critical-path --json` prints
 *
 * Bounds: one polling thread answers every request in turn (the store connection is never
 * shared), at most MAX_CONNS connections (PER_IP from one address), an idle connection closes
 * after TIMEOUT_S, request headers and URL must fit in CONN_MEMORY, a page is at most BODY_MAX, and
 * the store queries of one request are interrupted after QUERY_MAX_MS (503: narrow the filters).
 * No request body is read. Loopback only unless --allow-remote: the UI has no authentication.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "cli_view.h"
#include "dft/clock.h"
#include "dft/parse.h"
#include "serve_list.h"
#include "view_html.h"
#include "view_model.h"

#define DEFAULT_LISTEN "127.0.0.1:8470"
#define MAX_CONNS      32u
#define PER_IP         16u
#define TIMEOUT_S      10u
#define CONN_MEMORY    (64u * 1024u)
#define BODY_MAX       (256u << 20)
#define QUERY_MAX_MS   5000u

static const char usage[] =
    "usage: difftrace serve --db FILE [--listen HOST:PORT] [--allow-remote]\n"
    "  a local web UI: recent and anomalous traces with filters, each trace's page, JSON endpoints\n"
    "  --listen HOST:PORT  default " DEFAULT_LISTEN "; port 0 picks a free one (printed)\n"
    "  --allow-remote      listen on an address other than loopback (the UI has no authentication)\n";

struct server {
	sqlite3 *db;
	const char *dbpath;
	uint64_t deadline_ns; /* of the request being answered */
	bool timed_out;
};

/* SQLite's progress handler: a non-zero return interrupts the running statement */
static int over_time(void *arg)
{
	struct server *s = arg;

	if (dft_clock_ns(CLOCK_MONOTONIC) <= s->deadline_ns)
		return 0;
	s->timed_out = true;
	return 1;
}

static const char too_slow[] = "the store query ran longer than 5 s: narrow the filters (a time range, a service)";

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type, struct dft_buf *t)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (t->overflow) {
		static const char msg[] = "{\"error\":\"response too large\"}\n";

		r = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
		type = "application/json";
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	} else {
		r = MHD_create_response_from_buffer(t->len, t->p ? t->p : (void *)"", MHD_RESPMEM_MUST_COPY);
	}
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Content-Security-Policy", DFT_VIEW_CSP);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* an error as JSON (api) or as a small page; msg is escaped */
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, bool api, const char *msg)
{
	struct dft_buf t;
	enum MHD_Result ret;

	dft_buf_init(&t, 64 * 1024);
	if (api) {
		dft_buf_puts(&t, "{\"error\":");
		dft_text_json_str(&t, msg);
		dft_buf_puts(&t, "}\n");
	} else {
		dft_page_head(&t, "difftrace: error");
		dft_buf_puts(&t, "<body><h1>difftrace</h1><p id=\"error\">");
		dft_text_html(&t, msg);
		dft_buf_puts(
		    &t, "</p><p><a href=\"/\">traces</a></p><script>window.__dft.publish();</script></body></html>\n");
	}
	ret = send_text(c, status, api ? "application/json" : "text/html; charset=utf-8", &t);
	dft_buf_free(&t);
	return ret;
}

static const char *arg(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result list(struct server *s, struct MHD_Connection *c, bool api)
{
	struct dft_list_filter f;
	struct dft_verr err = {{0}};
	struct dft_buf t;
	enum MHD_Result ret;
	int rc;

	if (dft_list_filter_parse(&f, arg(c, "service"), arg(c, "reason"), arg(c, "min_ms"), arg(c, "from"),
	                          arg(c, "to"), arg(c, "anomalous"), arg(c, "limit"), &err))
		return send_error(c, MHD_HTTP_BAD_REQUEST, api, err.msg);
	dft_buf_init(&t, BODY_MAX);
	rc = api ? dft_list_json(s->db, &f, &t, &err) : dft_list_html(s->db, &f, &t, &err);
	if (rc && s->timed_out)
		ret = send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, api, too_slow);
	else if (rc)
		ret = send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, api, err.msg);
	else
		ret = send_text(c, MHD_HTTP_OK, api ? "application/json" : "text/html; charset=utf-8", &t);
	dft_buf_free(&t);
	return ret;
}

enum trace_what { TRACE_PAGE, TRACE_JSON, TRACE_CP };

static enum MHD_Result trace(struct server *s, struct MHD_Connection *c, const char *hex, enum trace_what what)
{
	struct dft_verr err = {{0}};
	struct dft_view *v;
	struct dft_buf t;
	enum MHD_Result ret;
	bool api = what != TRACE_PAGE;
	uint8_t id[16];
	int rc;

	if (dft_trace_id_parse(hex, id)) {
		snprintf(err.msg, sizeof(err.msg), "bad trace id '%.40s': expected 32 hex digits", hex);
		return send_error(c, MHD_HTTP_BAD_REQUEST, api, err.msg);
	}
	rc = dft_view_load(s->db, id, what == TRACE_CP ? 0 : DFT_VIEW_WITH_CONTEXT, &v, &err);
	if (rc && s->timed_out)
		return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, api, too_slow);
	if (rc)
		return send_error(c, rc == -ENOENT ? MHD_HTTP_NOT_FOUND : MHD_HTTP_INTERNAL_SERVER_ERROR, api, err.msg);
	dft_buf_init(&t, BODY_MAX);
	if (what == TRACE_PAGE)
		dft_view_html(v, "/", &t);
	else if (what == TRACE_JSON)
		dft_view_json(v, &t);
	else
		dft_view_cp_json(v, &t);
	ret = send_text(c, MHD_HTTP_OK, api ? "application/json" : "text/html; charset=utf-8", &t);
	dft_buf_free(&t);
	dft_view_free(v);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_size, void **state)
{
	static int first_call;
	struct server *s = cls;

	(void)version;
	(void)upload_data;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, true, "only GET and HEAD");
	/* the first call only announces the request; no body is read on GET */
	if (*state != &first_call) {
		*state = &first_call;
		return MHD_YES;
	}
	if (*upload_size)
		return send_error(c, MHD_HTTP_BAD_REQUEST, true, "a GET carries no body");
	s->deadline_ns = dft_clock_ns(CLOCK_MONOTONIC) + QUERY_MAX_MS * 1000000ull;
	s->timed_out = false;
	if (!strcmp(url, "/"))
		return list(s, c, false);
	if (!strcmp(url, "/api/traces"))
		return list(s, c, true);
	if (!strncmp(url, "/trace/", 7))
		return trace(s, c, url + 7, TRACE_PAGE);
	if (!strncmp(url, "/api/trace/", 11))
		return trace(s, c, url + 11, TRACE_JSON);
	if (!strncmp(url, "/api/critical-path/", 19))
		return trace(s, c, url + 19, TRACE_CP);
	return send_error(c, MHD_HTTP_NOT_FOUND, !strncmp(url, "/api/", 5), "no such page");
}

static bool loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* HOST:PORT (an IP literal or localhost) -> address; 0 or -EINVAL */
static int listen_addr(const char *spec, struct sockaddr_storage *ss)
{
	char buf[128];
	const char *host;
	uint16_t port;

	if (strlen(spec) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, spec);
	if (dft_parse_hostport(buf, 0, &host, &port))
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (!strcmp(host, "localhost"))
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		ss->ss_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
		return 0;
	}
	return -EINVAL;
}

static int serve_err(const char *fmt, const char *a)
{
	fprintf(stderr, "difftrace serve: ");
	fprintf(stderr, fmt, a);
	fprintf(stderr, " (see difftrace serve --help)\n");
	return 2;
}

int dft_cli_serve(int argc, char **argv)
{
	const char *db = NULL, *listen = DEFAULT_LISTEN;
	struct dft_verr err = {{0}};
	struct server srv = {0};
	struct sockaddr_storage ss;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	char host[INET6_ADDRSTRLEN];
	bool remote = false;
	sigset_t sigs;
	int sig, rc = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(a, "--db")) {
			if (++i == argc)
				return serve_err("%s needs a FILE", a);
			db = argv[i];
		} else if (!strcmp(a, "--listen")) {
			if (++i == argc)
				return serve_err("%s needs HOST:PORT", a);
			listen = argv[i];
		} else if (!strcmp(a, "--allow-remote")) {
			remote = true;
		} else {
			return serve_err(a[0] == '-' ? "unknown option '%s'" : "unexpected argument '%s'", a);
		}
	}
	if (!db)
		return serve_err("%s", "missing --db FILE");
	if (listen_addr(listen, &ss))
		return serve_err("bad --listen '%s': expected IP:PORT or [IPv6]:PORT", listen);
	if (!loopback(&ss) && !remote)
		return serve_err("refusing --listen %s: not a loopback address, and the UI has no authentication; "
		                 "add --allow-remote to serve it anyway",
		                 listen);
	if (dft_vstore_open(db, &srv.db, &err)) {
		fprintf(stderr, "difftrace serve: %s\n", err.msg);
		return 1;
	}
	srv.dbpath = db;
	sqlite3_progress_handler(srv.db, 10000, over_time, &srv);
	/* the daemon's thread inherits the mask: only this thread takes SIGINT/SIGTERM */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0,
	    NULL, NULL, handle, &srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)MAX_CONNS, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PER_IP, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "difftrace serve: cannot listen on %s: %s\n", listen,
		        strerror(errno ? errno : EADDRINUSE));
		rc = 1;
		goto close_db;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
	printf("difftrace serve: %s on http://%s%s%s:%u/ (Ctrl-C stops)\n", db, ss.ss_family == AF_INET6 ? "[" : "",
	       host, ss.ss_family == AF_INET6 ? "]" : "", info ? (unsigned)info->port : 0u);
	fflush(stdout);
	sigwait(&sigs, &sig);
	MHD_stop_daemon(d);
close_db:
	sqlite3_close(srv.db);
	return rc;
}
