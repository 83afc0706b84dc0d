/* SPDX-License-Identifier: MIT */
/*
 * Who may register what (docs/security.md). The kernel tells the daemon who is on the other end of
 * a registration connection (SO_PEERCRED: pid, uid, gid); a rule maps a uid or a gid to the
 * components a process with it may trace as, or to every component ('*'). A peer no rule names is
 * refused at accept; a region whose component, or a span whose component, is not among the ones its
 * peer may use is refused (the span counted as invalid_not_allowed). The rules are fixed at start and
 * read by both lcores.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reg_policy.h"

/* A decimal id, or a user / group name looked up once at start. */
static int parse_id(const char *s, size_t n, bool gid, uint32_t *out)
{
	char buf[64];
	char *end;
	unsigned long v;

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = 0;
	errno = 0;
	v = strtoul(buf, &end, 10);
	if (!errno && *end == 0 && buf[0] != '-' && buf[0] != '+' && v <= UINT32_MAX) {
		*out = (uint32_t)v;
		return 0;
	}
	if (gid) {
		struct group *g = getgrnam(buf);

		if (!g)
			return -ENOENT;
		*out = (uint32_t)g->gr_gid;
	} else {
		struct passwd *p = getpwnam(buf);

		if (!p)
			return -ENOENT;
		*out = (uint32_t)p->pw_uid;
	}
	return 0;
}

int dft_reg_policy_add(struct dft_reg_policy *p, const char *spec, char *why, size_t wl)
{
	struct dft_reg_rule r = {0};
	const char *colon = strchr(spec, ':'), *c;

	if (p->n >= DFT_REG_RULES_MAX) {
		snprintf(why, wl, "more than %u rules", DFT_REG_RULES_MAX);
		return -EINVAL;
	}
	if (!strncmp(spec, "uid=", 4)) {
		r.gid = false;
	} else if (!strncmp(spec, "gid=", 4)) {
		r.gid = true;
	} else {
		snprintf(why, wl, "expected uid=ID:COMPONENTS or gid=ID:COMPONENTS (COMPONENTS: a,b or *)");
		return -EINVAL;
	}
	if (!colon || parse_id(spec + 4, (size_t)(colon - spec - 4), r.gid, &r.id)) {
		snprintf(why, wl, "unknown or missing %s before ':'", r.gid ? "group" : "user");
		return -EINVAL;
	}
	c = colon + 1;
	if (!strcmp(c, "*")) {
		r.any = true;
	} else {
		while (*c) {
			size_t n = strcspn(c, ",");

			if (n == 0 || n > DFT_NAME_MAX || r.n_comps >= DFT_REG_RULE_COMPS) {
				snprintf(why, wl, "component names are 1..%u bytes, at most %u per rule", DFT_NAME_MAX,
					 DFT_REG_RULE_COMPS);
				return -EINVAL;
			}
			memcpy(r.comps[r.n_comps], c, n);
			r.comps[r.n_comps][n] = 0;
			r.n_comps++;
			c += n;
			if (*c == ',')
				c++;
		}
		if (r.n_comps == 0) {
			snprintf(why, wl, "no component after ':' (use * for every component)");
			return -EINVAL;
		}
	}
	p->rule[p->n++] = r;
	return 0;
}

static bool rule_matches(const struct dft_reg_rule *r, uint32_t uid, uint32_t gid)
{
	return r->gid ? r->id == gid : r->id == uid;
}

int dft_reg_policy_check(const struct dft_reg_policy *p, uint32_t uid, uint32_t gid, const char *comp)
{
	bool known = false;

	for (unsigned i = 0; i < p->n; i++) {
		const struct dft_reg_rule *r = &p->rule[i];

		if (!rule_matches(r, uid, gid))
			continue;
		known = true;
		if (r->any)
			return 0;
		if (!comp)
			continue;
		for (unsigned k = 0; k < r->n_comps; k++)
			if (!strcmp(r->comps[k], comp))
				return 0;
	}
	return known && !comp ? 0 : -EACCES;
}

bool dft_reg_policy_any(const struct dft_reg_policy *p, uint32_t uid, uint32_t gid)
{
	for (unsigned i = 0; i < p->n; i++)
		if (rule_matches(&p->rule[i], uid, gid) && p->rule[i].any)
			return true;
	return false;
}
