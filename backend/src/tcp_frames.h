/* SPDX-License-Identifier: MIT */
/*
 * One readable TCP connection of the collector (tcp_frames.c): the TLS handshake step, then its
 * bytes through the frame reader, each complete frame handled: HELLO answered at once with the
 * sender's durable maximum, BATCH to the ingest core with its ACK held for the commit.
 */
#ifndef DFT_TCP_FRAMES_H
#define DFT_TCP_FRAMES_H

#include <stdint.h>

struct dft_collector;

/* Reads connection slot up to the round's per-connection budget; marks it closing on EOF, an
 * error or a bad frame (counted, logged). */
void dft_tcp_read(struct dft_collector *c, uint32_t slot);

#endif /* DFT_TCP_FRAMES_H */
