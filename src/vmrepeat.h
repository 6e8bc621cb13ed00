/* SPDX-License-Identifier: MIT */
/* How often one VM of one DRM file failed in the current window: bounded,
 * allocation-free after init, so a VM that fails again and again (v2's
 * restartable VMs) is recognisable without making vm_id a metric label. */
#ifndef XE_WATCH_VMREPEAT_H
#define XE_WATCH_VMREPEAT_H

#include <stddef.h>
#include <stdint.h>

/** Which VM: vm_id is unique only within one DRM file, named here by the
 *  device, the watch id and the attach serial (0 for the node's own file). */
struct xw_vm_key {
  uint32_t device;
  uint32_t serial;
  uint32_t vm_id;
  uint16_t watch_id;
};

struct xw_vm_slot {
  struct xw_vm_key key;
  uint64_t start; /* first failure of the window; 0: slot free */
  uint64_t last;  /* latest failure, for eviction */
  uint32_t count;
};

struct xw_vm_repeats {
  struct xw_vm_slot *slots;
  size_t mask;
};

/** Allocate room for about `capacity` VMs (rounded up to a power of two).
 *  Returns 0 or -ENOMEM. */
int xw_vm_repeats_init(struct xw_vm_repeats *r, size_t capacity);
void xw_vm_repeats_destroy(struct xw_vm_repeats *r);

/**
 * Record one failure of VM `key` at `now` and return how many failures of
 * that VM fall in its current window (this one included): a window opens
 * at a VM's first failure and lasts `window` (cdtime-compatible units).
 * When every slot a VM may use is taken by VMs still in their window, the
 * one that failed least recently is forgotten: the count of a VM may then
 * restart at 1, never exceed the truth.
 */
uint32_t xw_vm_repeats_hit(struct xw_vm_repeats *r, const struct xw_vm_key *key,
                           uint64_t now, uint64_t window);

#endif
