/* SPDX-License-Identifier: MIT */
#ifndef XE_WATCH_DISCOVERY_H
#define XE_WATCH_DISCOVERY_H

/* Workload discovery: which processes hold which DRM files, from procfs. */

#include <sys/types.h>

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

/** This process's pid as proc_root names it (its "self" link; getpid()
 *  when it has none). */
pid_t xw_discovery_self(const char *proc_root);

/** Read and parse proc_root/PID/fdinfo/FD into c (driver, pdev,
 *  client_id). 0, -ENOENT if it describes no DRM client, or the negative
 *  errno of reading it. */
int xw_discovery_fdinfo(const char *proc_root, pid_t pid, int fd,
                        struct xw_client *c);

#endif
