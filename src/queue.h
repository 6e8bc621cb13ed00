/* SPDX-License-Identifier: MIT */
/* Bounded SPSC queue from the listener to the dispatcher. */
#ifndef XE_WATCH_QUEUE_H
#define XE_WATCH_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum xw_qkind {
  XW_Q_VM_ERR = 0, /* a VM_ERR record */
  XW_Q_WEDGED,     /* a wedged uevent; detail = XW_WEDGE_* bits */
  XW_Q_COREDUMP,   /* a devcoredump appeared */
};

/** One event on its way from the listener to the dispatcher. */
struct xw_qitem {
  uint64_t time;   /* cdtime_t of the read() that returned it */
  uint32_t device; /* index into the device table */
  uint32_t vm_id;
  int32_t error_code; /* negative errno */
  uint32_t serial;    /* which DRM file: client attribution serial, or the
                         node's subscription count for watch 0 */
  uint32_t detail;
  uint16_t watch_id; /* slot: pipe * 256 + the record's watch id */
  uint8_t kind;      /* enum xw_qkind */
};

/**
 * Bounded single-producer single-consumer ring: the listener thread pushes,
 * the dispatcher thread pops. Lock-free and allocation-free after create,
 * so the per-record path never blocks on collectd's consumers.
 */
struct xw_queue {
  _Alignas(64) _Atomic size_t head; /* next slot to pop (consumer) */
  _Alignas(64) _Atomic size_t tail; /* next slot to push (producer) */
  _Alignas(64) size_t mask;
  struct xw_qitem *items;
};

/** Allocate a ring holding at least `capacity` items (rounded up to a power
 *  of two). Returns 0 or -ENOMEM. */
int xw_queue_init(struct xw_queue *q, size_t capacity);
void xw_queue_destroy(struct xw_queue *q);

/** Producer side; false when full (the caller counts the drop). */
bool xw_queue_push(struct xw_queue *q, const struct xw_qitem *item);
/** Consumer side; false when empty. */
bool xw_queue_pop(struct xw_queue *q, struct xw_qitem *item);
size_t xw_queue_capacity(const struct xw_queue *q);

#endif
