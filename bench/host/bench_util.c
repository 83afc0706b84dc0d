/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "bench_util.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dft/clock.h"

uint64_t dft_bench_now_ns(void)
{
	return dft_clock_ns(CLOCK_MONOTONIC);
}

void dft_bench_sleep_us(unsigned us)
{
	struct timespec ts = {.tv_sec = us / 1000000u, .tv_nsec = (long)(us % 1000000u) * 1000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

double dft_bench_tick_per_ns(void)
{
	uint64_t t0 = dft_ticks(), n0 = dft_bench_now_ns(), t1, n1;

	dft_bench_sleep_us(50000);
	t1 = dft_ticks();
	n1 = dft_bench_now_ns();
	return (double)(t1 - t0) / (double)(n1 - n0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void dft_bench_sort(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
}

double dft_bench_quantile_sorted(const double *v, size_t n, double q)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

void dft_bench_dist_of(double *v, size_t n, struct dft_bench_dist *out)
{
	dft_bench_sort(v, n);
	out->n = n;
	out->min = n ? v[0] : 0;
	out->max = n ? v[n - 1] : 0;
	out->median = dft_bench_quantile_sorted(v, n, 0.5);
	out->p99 = dft_bench_quantile_sorted(v, n, 0.99);
}

static uint64_t ru_ns(int who)
{
	struct rusage ru;

	if (getrusage(who, &ru))
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

/* user + system of getrusage: Linux scales both so their sum is the exact runtime, in µs */
uint64_t dft_bench_cpu_ns_self(void)
{
	return ru_ns(RUSAGE_SELF);
}

uint64_t dft_bench_cpu_ns_thread(void)
{
	return ru_ns(RUSAGE_THREAD);
}

int dft_bench_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int dft_bench_ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

int dft_bench_exe_dir(char *out, size_t cap)
{
	ssize_t n = readlink("/proc/self/exe", out, cap - 1);
	char *slash;

	if (n <= 0)
		return -errno;
	out[n] = '\0';
	slash = strrchr(out, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	return 0;
}

static pid_t spawn(char *const argv[], const char *log, int keep_off_cpu)
{
	pid_t pid = fork();

	if (pid == 0) {
		cpu_set_t set;

		if (keep_off_cpu >= 0 && dft_bench_ncpus() > 1 && !sched_getaffinity(0, sizeof(set), &set)) {
			CPU_CLR(keep_off_cpu, &set);
			if (CPU_COUNT(&set))
				sched_setaffinity(0, sizeof(set), &set);
		}
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		/* the daemons must not die with a terminal's SIGINT before we stop them in order, but
		 * must not outlive the benchmark either when it is killed */
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int wait_file(const char *path, pid_t pid, const char *what, char *content, size_t cap)
{
	for (int i = 0; i < 3000; i++) {
		int st, fd = open(path, O_RDONLY);

		if (fd >= 0) {
			ssize_t n = read(fd, content, cap - 1);

			close(fd);
			if (n > 0) {
				content[n] = '\0';
				return 0;
			}
		}
		if (waitpid(pid, &st, WNOHANG) == pid) {
			fprintf(stderr, "bench: %s exited before it was ready (status %d)\n", what, st);
			return -ECHILD;
		}
		dft_bench_sleep_us(10000);
	}
	fprintf(stderr, "bench: %s not ready after 30 s\n", what);
	return -ETIMEDOUT;
}

static void stop_child(pid_t *pid)
{
	int st;

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	for (int i = 0; i < 1000; i++) {
		if (waitpid(*pid, &st, WNOHANG) == *pid) {
			*pid = 0;
			return;
		}
		dft_bench_sleep_us(10000);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, &st, 0);
	*pid = 0;
}

int dft_bench_daemons_start(struct dft_bench_daemons *d, const struct dft_bench_daemon_opts *o)
{
	char exe[PATH_MAX], ready[320], log[320], listen_arg[] = "127.0.0.1:0", db[320], buf[64], coll[80];
	char lcore[16], prefix_arg[96];
	int rc;

	memset(d, 0, sizeof(*d));
	/* tmpfs when there is one: the collector's SQLite file must not make the run disk-bound */
	snprintf(d->dir, sizeof(d->dir), "%s/dft-bench-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(d->dir))
		return -errno;
	snprintf(d->socket, sizeof(d->socket), "%s/nic.sock", d->dir);
	snprintf(d->prefix, sizeof(d->prefix), "dftbench%dx%llu", (int)getpid(),
		 (unsigned long long)(dft_bench_now_ns() % 1000000));
	snprintf(d->nic_stats, sizeof(d->nic_stats), "%s/nic-stats.json", d->dir);
	snprintf(d->coll_stats, sizeof(d->coll_stats), "%s/collector-stats.json", d->dir);

	snprintf(exe, sizeof(exe), "%s/difftrace-collector", o->bindir);
	snprintf(ready, sizeof(ready), "%s/collector.port", d->dir);
	snprintf(log, sizeof(log), "%s/collector.log", d->dir);
	snprintf(db, sizeof(db), "%s/spans.db", d->dir);
	{
		/* plain TCP on loopback: the benchmark measures the data path, not TLS (docs/security.md) */
		char *argv[] = {exe, "--transport", "tcp", "--listen", listen_arg, "--db", db, "--stats-json",
				d->coll_stats, "--ready-file", ready, "--insecure", NULL};

		d->collector = spawn(argv, log, o->keep_off_cpu);
	}
	if (d->collector < 0) {
		rc = -errno;
		goto fail;
	}
	rc = wait_file(ready, d->collector, "difftrace-collector", buf, sizeof(buf));
	if (rc)
		goto fail;
	d->port = atoi(buf);
	if (!o->with_nic)
		return 0;

	snprintf(exe, sizeof(exe), "%s/difftrace-nic", o->bindir);
	snprintf(ready, sizeof(ready), "%s/nic.ready", d->dir);
	snprintf(log, sizeof(log), "%s/nic.log", d->dir);
	snprintf(coll, sizeof(coll), "127.0.0.1:%d", d->port);
	snprintf(lcore, sizeof(lcore), "%d", o->nic_cpu);
	snprintf(prefix_arg, sizeof(prefix_arg), "--file-prefix=%s", d->prefix);
	{
		char *argv[32];
		int n = 0;

		argv[n++] = exe;
		argv[n++] = "--no-huge";
		argv[n++] = "--no-pci";
		argv[n++] = "-m";
		argv[n++] = "256";
		argv[n++] = "-l";
		argv[n++] = lcore;
		argv[n++] = prefix_arg;
		argv[n++] = "--log-level=*:error";
		argv[n++] = "--";
		argv[n++] = "--transport";
		argv[n++] = "tcp";
		argv[n++] = "--socket";
		argv[n++] = d->socket;
		argv[n++] = "--collector";
		argv[n++] = coll;
		argv[n++] = "--stats-json";
		argv[n++] = d->nic_stats;
		argv[n++] = "--ready-file";
		argv[n++] = ready;
		if (o->busy_poll)
			argv[n++] = "--busy-poll";
		argv[n++] = o->hold ? "--hold" : "--no-hold";
		argv[n] = NULL;
		d->nic = spawn(argv, log, -1); /* EAL pins its lcore itself */
	}
	if (d->nic < 0) {
		rc = -errno;
		goto fail;
	}
	rc = wait_file(ready, d->nic, "difftrace-nic", buf, sizeof(buf));
	if (rc)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "bench: daemon logs are in %s\n", d->dir);
	dft_bench_daemons_stop(d);
	return rc ? rc : -EIO;
}

void dft_bench_daemons_stop(struct dft_bench_daemons *d)
{
	/* the NIC first: it flushes its last batches to the collector */
	stop_child(&d->nic);
	stop_child(&d->collector);
}

static void rm_tree(const char *dir)
{
	pid_t pid;
	int st;

	if (!dir[0])
		return;
	pid = fork();
	if (pid == 0) {
		execlp("rm", "rm", "-rf", "--", dir, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, &st, 0);
}

void dft_bench_daemons_cleanup(struct dft_bench_daemons *d)
{
	char run[160];

	dft_bench_daemons_stop(d);
	if (d->prefix[0]) {
		snprintf(run, sizeof(run), "/var/run/dpdk/%s", d->prefix);
		rm_tree(run);
	}
	if (!getenv("DFT_BENCH_KEEP"))
		rm_tree(d->dir);
	d->dir[0] = '\0';
	d->prefix[0] = '\0';
}

static int64_t json_get(const char *buf, const char *key);

int64_t dft_bench_json_u64(const char *path, const char *key)
{
	char buf[16384];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return json_get(buf, key);
}

void dft_bench_json_num(FILE *f, const char *key, double v, bool have, bool comma)
{
	if (have)
		fprintf(f, "%s\"%s\":%.3f", comma ? "," : "", key, v);
	else
		fprintf(f, "%s\"%s\":null", comma ? "," : "", key);
}

static int64_t json_get(const char *buf, const char *key)
{
	char pat[96];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(buf, pat);
	if (!p)
		return -1;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	return strtoll(p, NULL, 10);
}

int dft_bench_nic_counters(const struct dft_bench_daemons *d, const char *const *keys, int64_t *vals, unsigned n)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	static char buf[65536];
	const char cmd[] = "/difftrace/stats";
	struct timeval tv = {.tv_sec = 5};
	ssize_t got;
	int fd, rc = 0;

	for (unsigned i = 0; i < n; i++)
		vals[i] = -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/var/run/dpdk/%s/dpdk_telemetry.v2", d->prefix);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) || recv(fd, buf, sizeof(buf) - 1, 0) <= 0 ||
	    send(fd, cmd, strlen(cmd), 0) < 0 || (got = recv(fd, buf, sizeof(buf) - 1, 0)) <= 0) {
		rc = errno ? -errno : -EIO;
		goto out;
	}
	buf[got] = '\0';
	for (unsigned i = 0; i < n; i++)
		vals[i] = json_get(buf, keys[i]);
out:
	close(fd);
	return rc;
}
