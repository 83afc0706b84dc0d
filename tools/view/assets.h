/* SPDX-License-Identifier: MIT */
/* The page assets, embedded at build time from tools/view/assets/ (embed.cmake). */
#ifndef DFT_VIEW_ASSETS_H
#define DFT_VIEW_ASSETS_H

#include <stddef.h>

extern const char dft_asset_view_css[];
extern const char dft_asset_guard_js[];
extern const char dft_asset_view_js[];

#endif /* DFT_VIEW_ASSETS_H */
