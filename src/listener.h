/* SPDX-License-Identifier: MIT */
/* The listener thread and the per-device state it shares. */
#ifndef XE_WATCH_LISTENER_H
#define XE_WATCH_LISTENER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "attach.h"
#include "device.h"
#include "queue.h"
#include "uapi.h"

#include <regex.h>

#include "collectd.h"

#include "utils_complain.h"

/* errno values 1..133 (EHWPOISON) get a slot each; slot 0 takes the rest. */
#define XW_ERRNO_SLOTS 134

/** Per-errno counter slot for a negative or positive errno. */
static inline unsigned xw_errno_slot(int err) {
  if (err < 0)
    err = -err;
  return err > 0 && err < XW_ERRNO_SLOTS ? (unsigned)err : 0;
}

enum xw_dev_state {
  XW_DEV_STARTING = 0, /* not tried yet */
  XW_DEV_LISTENING,    /* subscribed; records flow */
  XW_DEV_RETRYING,     /* failed or lost; next attempt after back-off */
};

/** Exact counts of what the listener read. Written by the listener thread
 *  only; read by anyone with relaxed loads. */
struct xw_counters {
  _Atomic uint64_t vm_err;    /* VM_ERR records read */
  _Atomic uint64_t lost;      /* kernel loss records read */
  _Atomic uint64_t malformed; /* records that could not be trusted */
  _Atomic uint64_t unknown;   /* well-formed records of unknown kind */
  _Atomic uint64_t dropped;   /* VM_ERRs not notified: dispatch queue full */
  _Atomic uint64_t reads;     /* read() calls that returned records */
  _Atomic uint64_t wedged;    /* WEDGED uevents for this GPU */
  _Atomic uint64_t coredumps; /* devcoredumps of this GPU */
  _Atomic uint64_t by_errno[XW_ERRNO_SLOTS];
};

/* Kinds of unknown record logged individually per device. */
#define XW_UNKNOWN_KINDS 16

/** One configured device node and everything known about it. */
struct xw_device {
  char *node; /* as configured */
  unsigned index;

  /* Guarded by lock: written by the listener on transitions, read by the
   * dispatcher and the read callback. */
  pthread_mutex_t lock;
  char name[XW_NAME_LEN]; /* plugin_instance */
  char cause[256];        /* why it is not listening, for notifications */
  char cause_code[24];    /* the same for machines: ENOPKG, removed, ... */
  struct xw_watch_slots watches; /* client watches (attach.h) */

  _Atomic int state; /* enum xw_dev_state, for readers that need no seq */
  /* The state and a transition count in one word (xw_state_word), so a
   * reader never pairs a new state with an old count. */
  _Atomic uint64_t state_word;
  _Atomic int last_malformed; /* enum xw_malformed_reason, for logs */
  struct xw_counters ctr;

  /* Listener-owned. */
  int drm_fd, pipe_rd, pipe_wr;
  /* Extra pipes for workloads' files, [1..watches.npipes); [0] unused. */
  int xpipe_rd[XW_PIPES_MAX], xpipe_wr[XW_PIPES_MAX];
  unsigned watch_id;
  uint32_t node_gen;   /* bumped per subscription of the node's own file */
  char node_real[256]; /* realpath of node, matched against clients' links */
  cdtime_t backoff, retry_at;
  enum xw_stage fail_stage;
  int fail_err;
  c_complain_t complaint;
  /* (type << 8 | subtype) of the unknown records logged so far: each kind
   * is logged once, the rest only counted. */
  uint32_t unknown_kinds[XW_UNKNOWN_KINDS];
  unsigned nunknown_kinds; /* at most XW_UNKNOWN_KINDS */
  bool unknown_kinds_full; /* said that further kinds are only counted */
};

/** state_word's parts: the transition count above, the state in the low
 *  byte. */
#define XW_STATE_BITS 8
static inline int xw_state_of(uint64_t word) {
  return (int)(word & ((1u << XW_STATE_BITS) - 1));
}
static inline uint64_t xw_state_seq(uint64_t word) {
  return word >> XW_STATE_BITS;
}

/** Publish a transition of dev to st (one writer: the listener thread).
 *  Does not wake anyone. */
void xw_device_set_state(struct xw_device *dev, enum xw_dev_state st);

/** Allocate a device for `node` with its fallback name; NULL on ENOMEM. */
struct xw_device *xw_device_new(const char *node, unsigned index);
void xw_device_free(struct xw_device *dev);
/** Copy the device's name (and cause, if cause != NULL) under its lock. */
void xw_device_snapshot(struct xw_device *dev, char *name, size_t name_len,
                        char *cause, size_t cause_len);
/** Copy the device's machine-readable cause code under its lock. */
void xw_device_cause_code(struct xw_device *dev, char *code, size_t len);

struct xw_listener_config {
  int queue_notes;    /* kernel ring size per device, 1..512 */
  cdtime_t retry_min; /* first back-off after a failure */
  cdtime_t retry_max; /* back-off cap */
  bool queue_vm_errs; /* push VM_ERRs to the dispatch queue */
  /* Client attach (WatchClients); proc_root NULL disables it. */
  const char *proc_root;
  cdtime_t client_scan;
  const regex_t *client_process;                          /* NULL: any */
  const regex_t *client_cgroup;                           /* NULL: any */
  unsigned client_max_per_process, client_max_per_cgroup; /* 0: no cap */
  bool uevents;          /* listen to udev for wedged devices and coredumps */
  cdtime_t device_check; /* probe listening devices for ENODEV; 0: never */
  /* AutoDiscover: devs has room for max_devices; the render node of an xe
   * GPU that appears later (udev "add") is appended and the new count
   * published in *ndev_published. 0: the set is fixed. */
  size_t max_devices;
  _Atomic size_t *ndev_published;
  const struct xw_uapi *uapi; /* revision spoken; NULL: the build default */
};

struct xw_listener;

/**
 * Create a listener for devs[0..ndev) (borrowed; must outlive it) pushing
 * VM errors into q (borrowed; may be NULL when nobody notifies).
 * Returns 0 or a negative errno.
 */
int xw_listener_create(struct xw_listener **out, struct xw_device **devs,
                       size_t ndev, struct xw_queue *q,
                       const struct xw_listener_config *cfg);
/** eventfd that becomes readable when the queue or any device's state or
 *  counters changed; the reader resets it with read(). */
int xw_listener_wake_fd(const struct xw_listener *l);
/** Try every device that is due now (all of them on the first call). */
void xw_listener_attempt_due(struct xw_listener *l);
/** One round of the event loop: wait up to timeout_ms (-1: forever) and
 *  handle what is ready. Returns false once a stop was requested. */
bool xw_listener_dispatch(struct xw_listener *l, int timeout_ms);
/** Run the loop on its own thread. Returns 0 or a negative errno. */
int xw_listener_start(struct xw_listener *l);
/** Ask the thread to stop and join it; safe if it never started. */
void xw_listener_stop(struct xw_listener *l);
/** Close every fd and free; stops the thread first if needed. */
void xw_listener_destroy(struct xw_listener *l);

#endif
