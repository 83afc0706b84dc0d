/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "lttng_run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run argv with stdout captured into out[cap] (stderr to /dev/null unless out is NULL). Exit status
 * or -errno. */
static int run_capture(char *const argv[], char *out, size_t cap)
{
	int p[2], st;
	size_t have = 0;
	pid_t pid;

	if (pipe(p))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(p[1], 1);
		if (null >= 0)
			dup2(null, 2);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		char tmp[4096];
		ssize_t n = read(p[0], tmp, sizeof(tmp));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out && have + 1 < cap) {
			size_t k = (size_t)n < cap - 1 - have ? (size_t)n : cap - 1 - have;

			memcpy(out + have, tmp, k);
			have += k;
		}
	}
	if (out)
		out[have] = '\0';
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -EINTR;
}

static bool on_path(const char *prog)
{
	char *argv[] = {"sh", "-c", NULL, NULL}, cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null", prog);
	argv[2] = cmd;
	return run_capture(argv, NULL, 0) == 0;
}

static int lttng(const char *a1, const char *a2, const char *a3, const char *a4, const char *a5, const char *a6,
		 const char *a7, const char *a8, char *out, size_t cap)
{
	char *argv[10] = {"lttng", (char *)a1, (char *)a2, (char *)a3, (char *)a4, (char *)a5, (char *)a6,
			  (char *)a7, (char *)a8, NULL};

	return run_capture(argv, out, cap);
}

static bool sessiond_alive(void)
{
	char buf[256];

	/* `lttng list` answers only when a session daemon is listening */
	return lttng("list", NULL, NULL, NULL, NULL, NULL, NULL, NULL, buf, sizeof(buf)) == 0;
}

static pid_t start_sessiond(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execlp("lttng-sessiond", "lttng-sessiond", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void stop_sessiond(pid_t pid)
{
	int st;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		dft_bench_sleep_us(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

static uint64_t parse_discarded(const char *list, bool *known)
{
	const char *p = strstr(list, "Discarded events:");

	*known = p != NULL;
	return p ? strtoull(p + strlen("Discarded events:"), NULL, 10) : 0;
}

static double field(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	return p ? strtod(p + strlen(pat), NULL) : -1;
}

int dft_bench_lttng_measure(const char *bindir, unsigned threads, unsigned rounds, unsigned warm, unsigned batch,
			    unsigned pace_ns, int cpu, struct dft_bench_lttng_run *out, struct dft_bench_lttng_info *info,
			    const char **skip)
{
	char helper[PATH_MAX], dir[] = "/tmp/dft-bench-lttng-XXXXXX", outdir[96], session[64], buf[16384];
	char a_thr[16], a_rounds[16], a_warm[16], a_batch[16], a_pace[16], a_cpu[16];
	pid_t sessiond = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(helper, sizeof(helper), "%s/dft-bench-host-lttng", bindir);
	if (access(helper, X_OK)) {
		*skip = "dft-bench-host-lttng not built (liblttng-ust-dev missing at build time)";
		return -ENOENT;
	}
	if (!on_path("lttng") || !on_path("lttng-sessiond")) {
		*skip = "lttng-tools not installed (scripts/setup-deps.sh --bench)";
		return -ENOENT;
	}
	if (!mkdtemp(dir))
		return -errno;
	snprintf(outdir, sizeof(outdir), "--output=%s/trace", dir);
	snprintf(session, sizeof(session), "dftbench%d", (int)getpid());
	if (!sessiond_alive()) {
		sessiond = start_sessiond();
		for (int i = 0; i < 500 && !sessiond_alive(); i++)
			dft_bench_sleep_us(10000);
		if (!sessiond_alive()) {
			*skip = "lttng-sessiond did not start";
			rc = -EIO;
			goto out;
		}
	}
	/* the figures of DFT's architecture notes: 1 MiB x 8 sub-buffers per CPU, discard mode */
	if (lttng("create", session, outdir, NULL, NULL, NULL, NULL, NULL, buf, sizeof(buf)) ||
	    lttng("enable-channel", "-u", "-s", session, "--discard", "--subbuf-size=1M", "--num-subbuf=8", "bench",
		  buf, sizeof(buf)) ||
	    lttng("enable-event", "-u", "-s", session, "-c", "bench", "dft_bench:span", NULL, buf, sizeof(buf)) ||
	    lttng("start", session, NULL, NULL, NULL, NULL, NULL, NULL, buf, sizeof(buf))) {
		*skip = "lttng session setup failed";
		rc = -EIO;
		goto destroy;
	}
	snprintf(a_thr, sizeof(a_thr), "%u", threads);
	snprintf(a_rounds, sizeof(a_rounds), "%u", rounds);
	snprintf(a_warm, sizeof(a_warm), "%u", warm);
	snprintf(a_batch, sizeof(a_batch), "%u", batch);
	snprintf(a_pace, sizeof(a_pace), "%u", pace_ns);
	snprintf(a_cpu, sizeof(a_cpu), "%d", cpu);
	{
		char *argv[] = {helper, a_thr, a_rounds, a_warm, a_batch, a_pace, a_cpu, NULL};

		rc = run_capture(argv, buf, sizeof(buf));
	}
	if (rc != 0 || !strchr(buf, '{')) {
		*skip = "dft-bench-host-lttng failed";
		rc = -EIO;
		goto destroy;
	}
	out->enabled = field(buf, "enabled") > 0;
	out->d.min = field(buf, "min");
	out->d.median = field(buf, "median");
	out->d.p99 = field(buf, "p99");
	out->spans = (uint64_t)field(buf, "spans");
	out->proc_cpu_ns = (uint64_t)field(buf, "proc_cpu_ns");
	out->wait_cpu_ns = (uint64_t)field(buf, "wait_cpu_ns");
	out->wall_ns = (uint64_t)field(buf, "wall_ns");
	if (!out->enabled) {
		*skip = "the tracepoint was not enabled for the whole run in the helper (registration failed, or the "
			"session daemon went away)";
		rc = -EIO;
		goto destroy;
	}
	/* stop flushes the buffers; the channel statistics then hold the final discarded count */
	if (lttng("stop", session, NULL, NULL, NULL, NULL, NULL, NULL, buf, sizeof(buf))) {
		/* the session daemon is shared by every root user of LTTng on the machine */
		*skip = "the session went away during the run (its session daemon was stopped by someone else?)";
		rc = -EIO;
		goto destroy;
	}
	dft_bench_sleep_us(1100000); /* the monitor timer samples the counters once a second */
	if (lttng("list", session, NULL, NULL, NULL, NULL, NULL, NULL, buf, sizeof(buf)) == 0)
		out->lost_events = parse_discarded(buf, &info->lost_known);
	rc = 0;
destroy:
	lttng("destroy", session, NULL, NULL, NULL, NULL, NULL, NULL, buf, sizeof(buf));
out:
	stop_sessiond(sessiond);
	{
		char *argv[] = {"rm", "-rf", "--", dir, NULL};

		run_capture(argv, NULL, 0);
	}
	return rc;
}
