/* SPDX-License-Identifier: MIT */
/* udev events for GPUs: wedged, coredump, node add/remove. */
#ifndef XE_WATCH_UEVENTS_H
#define XE_WATCH_UEVENTS_H

#include <stddef.h>
#include <stdint.h>

/* Device-wide signals from udev: a DRM card reporting itself wedged
 * (WEDGED= on a "change" uevent, Linux 6.15+) and a device coredump being
 * created. They concern the whole GPU, whichever file is watched. */

/** Recovery methods a WEDGED= value lists (drm-uapi "Device wedging"). */
enum xw_wedge_method {
  XW_WEDGE_NONE = 1u << 0,
  XW_WEDGE_REBIND = 1u << 1,
  XW_WEDGE_BUS_RESET = 1u << 2,
  XW_WEDGE_VENDOR = 1u << 3,
  XW_WEDGE_UNKNOWN = 1u << 4,
};

enum xw_uevent_kind {
  XW_UEVENT_OTHER,
  XW_UEVENT_WEDGED,
  XW_UEVENT_COREDUMP,
  XW_UEVENT_ADDED,   /* a DRM node appeared: a device may be back */
  XW_UEVENT_REMOVED, /* a DRM node went: its GPU was unplugged or unbound */
};

/** What one uevent says, with the names to match it to a device by. */
struct xw_uevent {
  enum xw_uevent_kind kind;
  unsigned methods;  /* XW_WEDGE_*, for XW_UEVENT_WEDGED */
  char pci_slot[32]; /* the GPU's PCI slot, "" if not on PCI */
  char devnode[64];  /* /dev/dri/cardN, "" if none */
  char sysname[32];  /* cardN / devcdN */
  char driver[32];   /* the PCI parent's driver ("xe"), for XW_UEVENT_ADDED */
};

/** Parse a WEDGED= value ("rebind,bus-reset") into XW_WEDGE_* bits;
 *  names not known here count as XW_WEDGE_UNKNOWN. Pure. */
unsigned xw_wedge_methods(const char *value);

/** Operator text for a method set: what to do. Returns buf. */
const char *xw_wedge_advice(unsigned methods, char *buf, size_t len);

/**
 * Every render node (renderD*) of a GPU the xe driver is bound to, as udev
 * knows them now: calls cb(ctx, "/dev/dri/renderD128") for each. Returns
 * how many, or a negative errno if udev cannot be asked.
 */
int xw_discover_xe_nodes(void (*cb)(void *ctx, const char *node), void *ctx);

struct xw_uevents;

/** Listen to drm and devcoredump uevents. Returns 0 or a negative errno. */
int xw_uevents_open(struct xw_uevents **out);
/** A pollable fd, readable when an event is waiting. */
int xw_uevents_fd(const struct xw_uevents *u);
/** Take one event; returns 1 with *ev filled, 0 if none is waiting. */
int xw_uevents_next(struct xw_uevents *u, struct xw_uevent *ev);
void xw_uevents_close(struct xw_uevents *u);

#endif
