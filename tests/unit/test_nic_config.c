/* SPDX-License-Identifier: MIT */
/* difftrace-nic configuration: defaults, the INI file, command-line overrides, errors naming
 * file:line and the key. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "nic.h"

static char dir[] = "/tmp/dft-nic-config-XXXXXX";
static char errbuf[4096];

static const char *write_file(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Parse argv (NULL-terminated, without argv[0]) with stderr captured into errbuf. */
static int parse(struct dft_nic_config *cfg, const char *const *args)
{
	char *argv[32];
	char errpath[256];
	int argc = 0, saved, fd, rc;
	ssize_t n;

	argv[argc++] = (char *)"difftrace-nic";
	while (*args)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	fflush(stderr);
	saved = dup(2);
	fd = open(errpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	dup2(fd, 2);
	rc = dft_nic_config_parse(cfg, argc, argv);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, errbuf, sizeof(errbuf) - 1, 0);
	errbuf[n > 0 ? n : 0] = 0;
	close(fd);
	return rc;
}

static void test_defaults(void **state)
{
	struct dft_nic_config c;
	const char *args[] = {"--socket", "/tmp/s", "--collector", "127.0.0.1:9", NULL};

	(void)state;
	assert_int_equal(parse(&c, args), 0);
	assert_string_equal(c.socket_path, "/tmp/s");
	assert_string_equal(c.collector_host, "127.0.0.1");
	assert_string_equal(c.collector_port, "9");
	assert_string_equal(c.transport, "tcp");
	assert_string_equal(c.ingest, "mmap");
	assert_int_not_equal(c.sender_id, 0);
	assert_int_equal(c.batch_spans, 256);
	assert_int_equal(c.flush_us, 1000);
	assert_int_equal(c.backlog, 1024);
	assert_true(c.filter.keep_function && c.filter.keep_error && c.filter.keep_explicit && c.filter.keep_cold_start);
	assert_true(c.filter.queueing && c.filter.outlier && c.filter.contention);
	assert_int_equal(c.filter.queue_floor_ns, 5000000);
	assert_true(c.filter.queue_p99_multiple == 4.0);
	assert_int_equal(c.filter.queue_min_samples, 200);
	assert_true(c.filter.outlier_multiple == 10.0 && c.prof.outlier_multiple == 10.0);
	assert_int_equal(c.filter.outlier_warmup, 8);
	assert_int_equal(c.filter.outlier_ceiling_ns, 1000000000);
	assert_int_equal(c.filter.cpu_throttle_ppm, 200000);
	assert_int_equal(c.filter.mem_pressure_ppm, 800000);
	assert_true(c.filter.concurrency_at_limit);
	assert_int_equal(c.filter.metrics_refresh_ns, 1000000);
	assert_int_equal(c.prof.interval_ns, 1000000000);
	assert_int_equal(c.prof.rotate_intervals, 10);
	assert_int_equal(c.prof.outlier_warmup, 8);
	assert_int_equal(c.prof.min_window, 64);
	assert_int_equal(c.prof.clock_jump_ns, 60000000000ull);
	assert_int_equal(c.max_children, 65536);
	assert_int_equal(c.prof.queue_min_samples, 200);
	assert_true(c.ship_profiles);
	assert_true(c.hold.enabled);
	assert_int_equal(c.hold.max_spans, 65536);
	assert_string_equal(c.transport, "tcp");
	assert_string_equal(c.ingest, "mmap");
	assert_string_equal(c.rdma_bind, "");
	assert_int_equal(c.hold.hold_ns, 500000000);
	assert_int_equal(c.n_platform, 0);
}

static void test_file_and_overrides(void **state)
{
	struct dft_nic_config c;
	const char *path = write_file("full.ini", "; difftrace-nic\n"
						  "[filter]\n"
						  "queue_floor_us = 7000\n"
						  "queue_p99_multiple = 2.5\n"
						  "outlier_warmup = 50\n"
						  "outlier_ceiling_ms = 0\n"
						  "contention = off\n"
						  "platform_components = gw,activator\n"
						  "[profiler]\n"
						  "interval_ms = 250\n"
						  "max_keys = 64\n"
						  "[hold]\n"
						  "enabled = false\n"
						  "max_spans = 1000\n"
						  "hold_ms = 100\n"
						  "[batch]\n"
						  "spans = 100\n"
						  "flush_us = 50\n"
						  "[transport]\n"
						  "type = tcp\n"
						  "collector = [::1]:4317\n"
						  "sender_id = abc\n"
						  "rdma_bind = 192.0.2.1\n"
						  "[ingest]\n"
						  "backend = dmadev\n"
						  "socket = /tmp/from-file\n"
						  "busy_poll = yes\n");
	const char *a1[] = {"--config", path, NULL};
	const char *a2[] = {"--batch-spans", "50", "--config", path, "--hold", "--set", "filter.queue_floor_us=9",
			    "--collector", "h:1", "--set", "profiler.max_keys=32", NULL};

	(void)state;
	assert_int_equal(parse(&c, a1), 0);
	assert_int_equal(c.filter.queue_floor_ns, 7000000);
	assert_true(c.filter.queue_p99_multiple == 2.5 && c.prof.queue_p99_multiple == 2.5);
	assert_int_equal(c.filter.outlier_warmup, 50);
	assert_int_equal(c.prof.outlier_warmup, 50);
	assert_int_equal(c.filter.outlier_ceiling_ns, 0);
	assert_false(c.filter.contention);
	assert_int_equal(c.n_platform, 2);
	assert_string_equal(c.platform[1], "activator");
	assert_int_equal(c.prof.interval_ns, 250000000);
	assert_int_equal(c.prof.max_keys, 64);
	assert_false(c.hold.enabled);
	assert_int_equal(c.hold.max_spans, 1000);
	assert_string_equal(c.rdma_bind, "192.0.2.1");
	assert_string_equal(c.ingest, "dmadev");
	assert_int_equal(c.hold.hold_ns, 100000000);
	assert_int_equal(c.batch_spans, 100);
	assert_int_equal(c.flush_us, 50);
	assert_string_equal(c.collector_host, "::1");
	assert_string_equal(c.collector_port, "4317");
	assert_int_equal(c.sender_id, 0xabc);
	assert_string_equal(c.socket_path, "/tmp/from-file");
	assert_true(c.busy_poll);
	/* the command line wins, wherever --config sits */
	assert_int_equal(parse(&c, a2), 0);
	assert_int_equal(c.batch_spans, 50);
	assert_true(c.hold.enabled);
	assert_int_equal(c.filter.queue_floor_ns, 9000);
	assert_string_equal(c.collector_host, "h");
	assert_int_equal(c.prof.max_keys, 32);
	assert_int_equal(c.flush_us, 50); /* untouched file values stay */
}

/* Every option that names a file key lands in that key; the flags set their fixed values. */
static void test_cli_aliases(void **state)
{
	struct dft_nic_config c;
	const char *on[] = {"--socket", "/tmp/s", "--collector", "h:9", "--sender-id", "beef", "--transport", "tcp",
			    "--rdma-bind", "192.0.2.7", "--ingest", "dmadev", "--rdma-ingest-bind", "192.0.2.8:7",
			    "--batch-spans", "64", "--flush-us", "77", "--backlog", "5", "--platform-components", "a,b",
			    "--busy-poll", "--no-hold", NULL};
	const char *flip[] = {"--socket", "/tmp/s", "--collector", "h:9", "--no-hold", "--hold", NULL};

	(void)state;
	assert_int_equal(parse(&c, on), 0);
	assert_string_equal(c.socket_path, "/tmp/s");
	assert_string_equal(c.collector_host, "h");
	assert_string_equal(c.collector_port, "9");
	assert_int_equal(c.sender_id, 0xbeef);
	assert_string_equal(c.transport, "tcp");
	assert_string_equal(c.rdma_bind, "192.0.2.7");
	assert_string_equal(c.ingest, "dmadev");
	assert_string_equal(c.rdma_ingest_bind, "192.0.2.8:7");
	assert_int_equal(c.batch_spans, 64);
	assert_int_equal(c.flush_us, 77);
	assert_int_equal(c.backlog, 5);
	assert_int_equal(c.n_platform, 2);
	assert_string_equal(c.platform[0], "a");
	assert_true(c.busy_poll);
	assert_false(c.hold.enabled);
	assert_int_equal(parse(&c, flip), 0);
	assert_true(c.hold.enabled); /* the last flag wins */
	assert_false(c.busy_poll);
}

static void test_file_errors(void **state)
{
	struct dft_nic_config c;
	const char *path;
	const char *args[] = {"--config", NULL, "--socket", "/s", "--collector", "h:1", NULL};
	char want[300];

	(void)state;
	path = write_file("unknown.ini", "[filter]\nqueueing = true\nqueue_flor_us = 5\n");
	args[1] = path;
	assert_int_equal(parse(&c, args), -EINVAL);
	snprintf(want, sizeof(want), "%s:3: [filter] queue_flor_us: unknown key", path);
	assert_non_null(strstr(errbuf, want));

	path = write_file("badval.ini", "[hold]\n\nmax_spans = 0\nhold_ms = 10\n");
	args[1] = path;
	assert_int_equal(parse(&c, args), -EINVAL);
	snprintf(want, sizeof(want), "%s:3: [hold] max_spans: expected an integer in 1..16777216", path);
	assert_non_null(strstr(errbuf, want));

	path = write_file("badbool.ini", "[ingest]\nbusy_poll = maybe\n");
	args[1] = path;
	assert_int_equal(parse(&c, args), -EINVAL);
	assert_non_null(strstr(errbuf, ":2: [ingest] busy_poll: expected true or false"));

	path = write_file("section.ini", "[filters]\nqueueing = true\n");
	args[1] = path;
	assert_int_equal(parse(&c, args), -EINVAL);
	assert_non_null(strstr(errbuf, ":2: [filters] queueing: unknown key"));

	path = write_file("mult.ini", "[filter]\noutlier_multiple = 0.5\n");
	args[1] = path;
	assert_int_equal(parse(&c, args), -EINVAL);
	assert_non_null(strstr(errbuf, "outlier_multiple"));

	path = write_file("transport.ini", "[transport]\ntype = carrier-pigeon\n");
	args[1] = path;
	assert_int_equal(parse(&c, args), -EINVAL);
	assert_non_null(strstr(errbuf, ":2: [transport] type: unknown name 'carrier-pigeon'"));

	path = write_file("syntax.ini", "[batch]\nspans 12\n");
	args[1] = path;
	assert_int_equal(parse(&c, args), -EINVAL);
	assert_non_null(strstr(errbuf, ":2:"));

	args[1] = "/nonexistent/dir/x.ini";
	assert_int_equal(parse(&c, args), -EINVAL);
	assert_non_null(strstr(errbuf, "/nonexistent/dir/x.ini"));
}

static void test_cli_errors(void **state)
{
	struct dft_nic_config c;
	const char *a1[] = {"--socket", "/s", "--collector", "h:1", "--set", "filter.nope=1", NULL};
	const char *a2[] = {"--socket", "/s", "--collector", "h:1", "--set", "garbage", NULL};
	const char *a3[] = {"--socket", "/s", "--collector", "h:99999", NULL};
	const char *a4[] = {"--socket", "/s", NULL};
	const char *a5[] = {"--socket", "/s", "--collector", "h:1", "--batch-spans", "0", NULL};
	const char *a6[] = {"--help", NULL};
	const char *a7[] = {"--socket", "/s", "--collector", "h:1", "--transport", "rdma-not-built", NULL};

	(void)state;
	assert_int_equal(parse(&c, a1), -EINVAL);
	assert_non_null(strstr(errbuf, "--set"));
	assert_non_null(strstr(errbuf, "unknown key"));
	assert_int_equal(parse(&c, a2), -EINVAL);
	assert_non_null(strstr(errbuf, "SECTION.KEY=VALUE"));
	assert_int_equal(parse(&c, a3), -EINVAL);
	assert_non_null(strstr(errbuf, "--collector"));
	assert_int_equal(parse(&c, a4), -EINVAL);
	assert_non_null(strstr(errbuf, "--collector"));
	assert_int_equal(parse(&c, a5), -EINVAL);
	assert_non_null(strstr(errbuf, "--batch-spans"));
	assert_int_equal(parse(&c, a7), -EINVAL);
	assert_non_null(strstr(errbuf, "--transport"));
	/* --help prints the key table on stdout */
	fflush(stdout);
	{
		int saved = dup(1), fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		assert_int_equal(parse(&c, a6), 1);
		fflush(stdout);
		dup2(saved, 1);
		close(fd);
		close(saved);
	}
}

/*
 * docs/filter.md's configuration table and the key table agree: every key has one row, its default
 * cell says what keys[] says ("(none)", "(required)" and an empty cell stand for no default), and
 * every row names a key. Every default also parses (dft_nic_config_defaults aborts otherwise).
 */
static void test_docs_table(void **state)
{
	FILE *f = fopen(DFT_FILTER_DOC, "r");
	char line[1024];
	unsigned rows = 0, keys = 0, matched = 0;
	const char *sec, *name, *def;

	(void)state;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char c_sec[64], c_key[64], c_def[64];
		char *cells[4], *p = line;
		unsigned n = 0;
		bool found = false;

		if (line[0] != '|')
			continue;
		/* | section | key | default | ... */
		for (char *bar = strchr(p, '|'); bar && n < 4; bar = strchr(p, '|')) {
			*bar = 0;
			if (n)
				cells[n - 1] = p;
			p = bar + 1;
			n++;
		}
		if (n < 4)
			continue;
		if (sscanf(cells[0], " %63s", c_sec) != 1 || sscanf(cells[1], " %63s", c_key) != 1)
			continue;
		if (sscanf(cells[2], " %63s", c_def) != 1)
			c_def[0] = 0;
		for (unsigned i = 0; dft_nic_config_key(i, &sec, &name, &def) == 0; i++) {
			if (strcmp(sec, c_sec) || strcmp(name, c_key))
				continue;
			found = true;
			if (!strcmp(c_def, "(none)") || !strcmp(c_def, "(required)"))
				c_def[0] = 0;
			if (strcmp(def, c_def)) {
				print_error("docs/filter.md: [%s] %s default '%s', keys[] says '%s'\n", sec, name, c_def,
					    def);
				fail();
			}
			matched++;
		}
		/* a row of another table (keep bits, modules) starts with no section name */
		if (!found && (!strcmp(c_sec, "filter") || !strcmp(c_sec, "profiler") || !strcmp(c_sec, "hold") ||
			       !strcmp(c_sec, "batch") || !strcmp(c_sec, "transport") || !strcmp(c_sec, "ingest"))) {
			print_error("docs/filter.md: row [%s] %s names no key\n", c_sec, c_key);
			fail();
		}
		rows++;
	}
	fclose(f);
	for (unsigned i = 0; dft_nic_config_key(i, &sec, &name, &def) == 0; i++)
		keys++;
	assert_true(rows > 0);
	assert_int_equal(matched, keys);
}

/* [tenant.NAME] sections: membership, bad values named, bounded counts; the ledger's settlement. */
static void test_tenants(void **state)
{
	struct dft_nic_config c;
	char why[160];
	uint32_t n[DFT_NIC_MAX_TENANTS] = {0};
	struct dft_tenant_ledger l;

	(void)state;
	dft_nic_config_defaults(&c);
	assert_int_equal(c.tenants.n, 1);
	assert_string_equal(c.tenants.t[0].name, "default");
	assert_int_equal(dft_nic_config_set(&c, "tenant.pay", "components", "payments, checkout", why, sizeof(why)), 0);
	assert_int_equal(dft_nic_config_set(&c, "tenant.pay", "uids", "1001", why, sizeof(why)), 0);
	assert_int_equal(dft_nic_config_set(&c, "tenant", "batch.weight", "3", why, sizeof(why)), 0); /* --set form */
	assert_int_equal(dft_nic_config_set(&c, "tenant.batch", "uids", "1002,1003", why, sizeof(why)), 0);
	assert_int_equal(c.tenants.n, 3);
	assert_int_equal(c.tenants.t[2].weight, 3);
	/* the uid is proven, so it decides before the component the region names */
	assert_int_equal(dft_tenant_of(&c.tenants, true, 1003, "payments"), 2);
	assert_int_equal(dft_tenant_of(&c.tenants, false, 1003, "payments"), 1);
	assert_int_equal(dft_tenant_of(&c.tenants, true, 1001, "other"), 1);
	assert_int_equal(dft_tenant_of(&c.tenants, true, 7, "other"), 0);
	assert_int_equal(dft_nic_config_set(&c, "tenant.pay", "weight", "0", why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "1..1000"));
	assert_int_equal(dft_nic_config_set(&c, "tenant.pay", "colour", "red", why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "unknown key"));
	assert_int_equal(dft_nic_config_set(&c, "tenant.a\"b", "weight", "1", why, sizeof(why)), -EINVAL);
	assert_int_equal(dft_nic_config_set(&c, "tenant.pay", "uids", "x", why, sizeof(why)), -EINVAL);
	for (int i = 0; i < 13; i++) {
		char sec[32];

		snprintf(sec, sizeof(sec), "tenant.t%d", i);
		assert_int_equal(dft_nic_config_set(&c, sec, "weight", "1", why, sizeof(why)), 0);
	}
	assert_int_equal(dft_nic_config_set(&c, "tenant.onemore", "weight", "1", why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "at most 16"));
	/* the ledger: acknowledged batches reported for their tenants, ones the transport gave up lost */
	memset(dft_tenant_ctr, 0, sizeof(dft_tenant_ctr));
	assert_int_equal(dft_tenant_ledger_init(&l, 4), 0);
	n[1] = 5;
	n[2] = 2;
	dft_tenant_ledger_push(&l, 1, n);
	dft_tenant_ledger_push(&l, 2, n);
	dft_tenant_ledger_push(&l, 3, n);
	dft_tenant_ledger_settle(&l, 1, 2);
	assert_int_equal(dft_tenant_ctr[1].reported, 5);
	dft_tenant_ledger_settle(&l, 1, 1); /* the transport dropped batch 2 */
	assert_int_equal(dft_tenant_ctr[1].lost_transport, 5);
	assert_int_equal(dft_tenant_ctr[2].lost_transport, 2);
	dft_tenant_ledger_settle(&l, 3, 0);
	assert_int_equal(dft_tenant_ctr[1].reported, 10);
	assert_int_equal(dft_tenant_ctr[2].reported, 4);
	dft_tenant_ledger_fini(&l);
}

/* The registration allow-list: parsing, and which peer may trace as which component. */
static void test_reg_policy(void **state)
{
	struct dft_reg_policy p = {0};
	char why[160];

	(void)state;
	assert_int_equal(dft_reg_policy_add(&p, "uid=1000:payments,frontend", why, sizeof(why)), 0);
	assert_int_equal(dft_reg_policy_add(&p, "gid=50:*", why, sizeof(why)), 0);
	assert_int_equal(dft_reg_policy_add(&p, "uid=root:activator", why, sizeof(why)), 0);
	assert_int_equal(dft_reg_policy_add(&p, "pid=1:*", why, sizeof(why)), -EINVAL);
	assert_int_equal(dft_reg_policy_add(&p, "uid=1000:", why, sizeof(why)), -EINVAL);
	assert_int_equal(dft_reg_policy_add(&p, "uid=no-such-user-here:*", why, sizeof(why)), -EINVAL);
	assert_int_equal(dft_reg_policy_add(&p, "uid=1000:a,,b", why, sizeof(why)), -EINVAL);
	/* known peers */
	assert_int_equal(dft_reg_policy_check(&p, 1000, 100, NULL), 0);
	assert_int_equal(dft_reg_policy_check(&p, 2000, 50, NULL), 0);
	assert_int_equal(dft_reg_policy_check(&p, 2000, 100, NULL), -EACCES);
	/* components */
	assert_int_equal(dft_reg_policy_check(&p, 1000, 100, "payments"), 0);
	assert_int_equal(dft_reg_policy_check(&p, 1000, 100, "activator"), -EACCES);
	assert_int_equal(dft_reg_policy_check(&p, 1000, 50, "activator"), 0); /* through its group */
	assert_int_equal(dft_reg_policy_check(&p, 0, 0, "activator"), 0);
	assert_int_equal(dft_reg_policy_check(&p, 0, 0, "payments"), -EACCES);
	assert_false(dft_reg_policy_any(&p, 1000, 100));
	assert_true(dft_reg_policy_any(&p, 1000, 50));
}

#ifdef DFT_HAVE_RDMA
/* --rdma-key: only with the rdma transport and a --sender-id; a file others can read stops the start. */
static void test_rdma_key(void **state)
{
	static const char key[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
	struct dft_nic_config c;
	char path[256];

	(void)state;
	snprintf(path, sizeof(path), "%s", write_file("nic.key", key));
	assert_int_equal(chmod(path, 0600), 0);
	const char *ok[] = {"--socket", "/tmp/x.sock", "--collector", "h:1", "--transport", "rdma", "--sender-id",
			    "5ec0000000000001", "--rdma-key", path, NULL};
	assert_int_equal(parse(&c, ok), 0);
	assert_string_equal(c.rdma_key, path);
	const char *tcp[] = {"--socket", "/tmp/x.sock", "--collector", "h:1", "--sender-id", "5ec0000000000001",
			     "--rdma-key", path, NULL};
	assert_int_equal(parse(&c, tcp), -EINVAL);
	assert_non_null(strstr(errbuf, "rdma transport only"));
	const char *noid[] = {"--socket", "/tmp/x.sock", "--collector", "h:1", "--transport", "rdma", "--rdma-key",
			      path, NULL};
	assert_int_equal(parse(&c, noid), -EINVAL);
	assert_non_null(strstr(errbuf, "--sender-id"));
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(parse(&c, ok), -EINVAL);
	assert_non_null(strstr(errbuf, "too open"));
	write_file("nic.key", "not a key\n");
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(parse(&c, ok), -EINVAL);
	assert_non_null(strstr(errbuf, "not a key"));
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_docs_table),
		cmocka_unit_test(test_tenants),
		cmocka_unit_test(test_reg_policy),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_file_and_overrides),
		cmocka_unit_test(test_cli_aliases),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_cli_errors),
#ifdef DFT_HAVE_RDMA
		cmocka_unit_test(test_rdma_key),
#endif
	};
	int rc;

	if (!mkdtemp(dir))
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			rc = rc ? rc : 1;
	}
	return rc;
}
