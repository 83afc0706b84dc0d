/* SPDX-License-Identifier: MIT */
/* Which peer may register which components (reg_policy.c). */
#ifndef DFT_NIC_REG_POLICY_H
#define DFT_NIC_REG_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dft/abi.h"

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

#endif /* DFT_NIC_REG_POLICY_H */
