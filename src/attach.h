/* SPDX-License-Identifier: MIT */
/* Client watches: attach a device's pipe to workloads' DRM files. */
#ifndef XE_WATCH_ATTACH_H
#define XE_WATCH_ATTACH_H

/* Client watches: duplicate a workload's DRM file, subscribe a device's
 * pipe through it, and own the watch ids (slots) those watches use. */

#include <regex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "clients.h"

#include "collectd.h"

/* Watch ids on a device's pipe: 0 is the node's own file, the rest go to
 * workloads' files (clients). */
#define XW_WATCH_SLOTS 256
/* Pipes per GPU: when every id of the open ones is taken, attach opens
 * another (ids 1..255 of each), so 8 carry 2,040 workload files. */
#define XW_PIPES_MAX 8
/* A client watch's slot: pipe * XW_WATCH_SLOTS + its watch id on that
 * pipe; slot 0 of each pipe is never a client's. */
#define XW_SLOTS_ALL (XW_PIPES_MAX * XW_WATCH_SLOTS)

/** Who a client watch belongs to, as found at attach time. Immutable once
 *  published; replaced (never edited) when its slot is reused. */
struct xw_client_attr {
  uint32_t serial; /* per device, bumped on every attach */
  bool live;       /* false once its removal record arrived */
  uint64_t client_id;
  pid_t pid;
  char comm[XW_COMM_LEN];
  char cgroup[XW_CGROUP_LEN];
  char container[XW_CONTAINER_LEN];
  char pod_uid[XW_POD_UID_LEN];
};

/** Why a workload's DRM file was seen but not watched. */
enum xw_unwatched {
  XW_UNW_REFUSED = 0, /* the kernel refused: EPERM, ENOSYS, ... */
  XW_UNW_NO_FREE_ID,  /* every watch id of the pipe is taken */
  XW_UNW_QUOTA,       /* its process or cgroup has its share already */
  XW_UNW_MISMATCH,    /* the duplicate was not the file fdinfo described */
  XW_UNW_NR
};

/** The value name of a reason: "refused", "no_free_id", ... */
const char *xw_unwatched_name(enum xw_unwatched why);

#define XW_COUNTED_RING 512

/** A device's client watches. attr[] is written by the listener under the
 *  device's lock and read by others under it; the rest is listener-owned. */
struct xw_watch_slots {
  struct xw_client_attr *attr[XW_SLOTS_ALL]; /* [p * 256] unused */
  unsigned npipes;    /* pipes open: 1 + the extra ones (0 before start) */
  unsigned next;      /* round robin: a freed watch id is reused last */
  _Atomic unsigned n; /* live client watches; read by the read callback */
  /* Files seen but not watched, each counted once per reason: read by the
   * read callback. */
  _Atomic uint64_t unwatched[XW_UNW_NR];
  struct {
    uint64_t client_id;
    unsigned why;
  } counted[XW_COUNTED_RING]; /* which files were counted already */
  unsigned counted_next;
  uint32_t serial; /* last xw_client_attr.serial handed out */
  /* A loss record may have swallowed client removal records: the next
   * scan ends the live client watches whose DRM file it no longer finds. */
  bool recheck;
  /* The scan in progress began with recheck set: a loss heard after it
   * began waits for the next, which sees every process after the loss. */
  bool rechecking;
  bool seen[XW_SLOTS_ALL]; /* during that scan */
  /* Ended by that recheck, not by a removal record: the file may still be
   * alive (held by a mapping, not an fd) and its watch with it, so the id
   * is not handed out again while another is free. */
  bool quarantined[XW_SLOTS_ALL];
};

struct xw_device;

/** Copy the attribution of client watch `watch_id` if it still is the one
 *  with `serial`; false otherwise (slot reused, or not a client watch). */
bool xw_device_client(struct xw_device *dev, unsigned watch_id, uint32_t serial,
                      struct xw_client_attr *out);

/** The slot the next attach gets: a free one of the open pipes, round
 *  robin from the last handed out; else the first of a new pipe while
 *  fewer than XW_PIPES_MAX are open; a quarantined one only when neither
 *  is there; 0 when all are live. */
unsigned xw_watch_slots_pick(const struct xw_watch_slots *ws);

/** Free a device's attributions (at device free). */
void xw_watch_slots_free(struct xw_watch_slots *ws);

/** The serial of the attribution behind watch_id, 0 if none. Listener
 *  thread only (the per-record path: no lock). */
static inline uint32_t xw_watch_serial(const struct xw_watch_slots *ws,
                                       unsigned watch_id) {
  const struct xw_client_attr *a =
      watch_id < XW_SLOTS_ALL ? ws->attr[watch_id] : NULL;
  return a != NULL ? a->serial : 0;
}

struct xw_attach_config {
  const char *proc_root;         /* where /proc is */
  const regex_t *client_process; /* NULL: any */
  const regex_t *client_cgroup;  /* NULL: any */
  unsigned max_per_process;      /* client watches per GPU; 0: no cap */
  unsigned max_per_cgroup;       /* the same per cgroup path */
  unsigned long watch_ioctl;     /* the uAPI revision's request number */
  int queue_notes;               /* an extra pipe's size, like the first */
  int epfd;                      /* the listener's: extra pipes join it */
};

struct xw_attach;

/** Create the attacher for devs[0..ndev) (borrowed). 0 or -ENOMEM. */
int xw_attach_create(struct xw_attach **out, struct xw_device **devs,
                     size_t ndev, const struct xw_attach_config *cfg);
void xw_attach_destroy(struct xw_attach *a);

/** Scan ProcRoot for workloads' DRM files, attach to those of listening
 *  devices not watched yet, and end the watches a recheck finds gone.
 *  Listener thread. */
void xw_attach_scan(struct xw_attach *a);

/** The same scan in slices, so that the listener reads its pipes between
 *  them: begin (false if ProcRoot cannot be read, said in the log), then
 *  step until it returns false (the scan is complete, the recheck done).
 *  A scan begun anew abandons one in progress. Listener thread. */
bool xw_attach_scan_begin(struct xw_attach *a);
bool xw_attach_scan_step(struct xw_attach *a, unsigned max_pids);

/** A removal record for slot watch_id (pipe * 256 + id): ends that client
 *  watch.
 *  false if no live client watch has that id. Listener thread. */
bool xw_attach_removed(struct xw_device *dev, unsigned watch_id);

/** A loss record on dev's pipe: it may have swallowed removal records, so
 *  the next scan rechecks dev's client watches. */
void xw_attach_lost(struct xw_device *dev);

/** dev's pipes were closed: every client watch on them ended silently.
 *  Closes the extra pipes (epfd: the listener's, to leave). */
void xw_attach_pipe_closed(struct xw_device *dev, int epfd);

/** The epoll tag of dev's pipe p: the device index, the pipe above it. */
#define XW_PIPE_TAG(index, p) ((uint64_t)(index) | (uint64_t)(p) << 32)

/**
 * Can attaching work here at all? 0, or -EXDEV (ProcRoot shows another PID
 * namespace than ours) or -ENOSYS (no pidfd_getfd), with `why` saying so
 * and what to change. *no_ptrace is set when collectd lacks
 * CAP_SYS_PTRACE: it then attaches to its own user's workloads at most.
 */
int xw_attach_probe(const char *proc_root, char *why, size_t len,
                    bool *no_ptrace);

#endif
