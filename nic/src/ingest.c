/* SPDX-License-Identifier: MIT */
/* Picking an ingest backend by name and making its instance (ingest.h). */
#include <errno.h>
#include <string.h>

#include "ingest.h"

const struct dft_ingest_ops *dft_ingest_by_name(const char *name)
{
	static const struct dft_ingest_ops *const all[] = {
		&dft_ingest_mmap_ops,
		&dft_ingest_dmadev_ops,
#ifdef DFT_HAVE_RDMA
		&dft_ingest_rdma_read_ops,
#endif
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(all[i]->name, name))
			return all[i];
	return NULL;
}

int dft_ingest_create(const struct dft_ingest_cfg *cfg, struct dft_ingest **out)
{
	const struct dft_ingest_ops *ops = dft_ingest_by_name(cfg->name);

	*out = NULL;
	if (!ops)
		return -ENOENT;
	return ops->create(cfg, out);
}

void dft_ingest_destroy(struct dft_ingest *in)
{
	if (in)
		in->ops->destroy(in);
}
