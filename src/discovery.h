/* SPDX-License-Identifier: MIT */
#ifndef XE_WATCH_DISCOVERY_H
#define XE_WATCH_DISCOVERY_H

/* Workload discovery: which processes hold which DRM files, from procfs. */

#include "clients.h"

typedef void (*xw_client_cb)(void *ctx, const struct xw_client *c);

/**
 * Walk proc_root for DRM files driven by `driver`, calling cb once per
 * (process, client id); skips this process. Returns how many were found, or
 * a negative errno if proc_root cannot be read. Processes that vanish
 * during the walk are skipped.
 */
int xw_discovery_scan(const char *proc_root, const char *driver,
                      xw_client_cb cb, void *ctx);

#endif
