/* SPDX-License-Identifier: MIT */
/* Workload discovery: the DRM files processes hold, from procfs. */
#ifndef XE_WATCH_DISCOVERY_H
#define XE_WATCH_DISCOVERY_H

/* Workload discovery: which processes hold which DRM files, from procfs. */

#include <dirent.h>
#include <stdbool.h>
#include <sys/types.h>

#include "clients.h"

typedef void (*xw_client_cb)(void *ctx, const struct xw_client *c);

/**
 * Walk proc_root for DRM files driven by `driver` (fds linking into
 * /dev/dri/, or to one of nodes[0..nnodes)), calling cb once per (process,
 * client id); skips this process. Returns how many were found, or a
 * negative errno if proc_root cannot be read. Processes that vanish during
 * the walk are skipped.
 */
int xw_discovery_scan(const char *proc_root, const char *driver,
                      const char *const *nodes, size_t nnodes, xw_client_cb cb,
                      void *ctx);

/** The same walk in slices, so that the caller's event loop runs between
 *  them: begin, step until it says the walk is complete, and end (also to
 *  abandon it). */
struct xw_discovery_walk {
  DIR *dir;
  pid_t self;
  int found;
};

/** Open proc_root for a walk: 0 or a negative errno. */
int xw_discovery_walk_begin(struct xw_discovery_walk *w, const char *proc_root);

/** Scan up to max_pids more processes as xw_discovery_scan() does; true
 *  while processes remain, false when the walk is complete. */
bool xw_discovery_walk_step(struct xw_discovery_walk *w, const char *proc_root,
                            const char *driver, const char *const *nodes,
                            size_t nnodes, xw_client_cb cb, void *ctx,
                            unsigned max_pids);

/** Close the walk (complete or not); w->found says what it found. */
void xw_discovery_walk_end(struct xw_discovery_walk *w);

/** An inotify fd for xw_discovery_watch_node(): O_CLOEXEC, non-blocking.
 *  The fd, or a negative errno. */
int xw_discovery_open_watch(void);

/** Hear every open() of a device node (IN_OPEN, any process): a workload
 *  about to hold a new DRM file. 0 or a negative errno (no such node). */
int xw_discovery_watch_node(int fd, const char *node);

/** Drain the inotify fd; true if some node was opened meanwhile. */
bool xw_discovery_opened(int fd);

/** This process's pid as proc_root names it (its "self" link; getpid()
 *  when it has none). */
pid_t xw_discovery_self(const char *proc_root);

/** Read and parse proc_root/PID/fdinfo/FD into c (driver, pdev,
 *  client_id). 0, -ENOENT if it describes no DRM client, or the negative
 *  errno of reading it. */
int xw_discovery_fdinfo(const char *proc_root, pid_t pid, int fd,
                        struct xw_client *c);

#endif
