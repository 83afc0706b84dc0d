/* SPDX-License-Identifier: MIT */
/* Idle back-off of the main loop (main.c). */
#ifndef DFT_NIC_IDLE_H
#define DFT_NIC_IDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dft_idle {
	unsigned empty_rounds;
	unsigned max_us; /* longest sleep; 0 = 100 us */
	bool busy_poll;
};
void dft_idle_wait(struct dft_idle *i, int work);

#endif /* DFT_NIC_IDLE_H */
