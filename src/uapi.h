/* SPDX-License-Identifier: MIT */
/* The watch-queue uAPI revisions this build knows, as a table to choose from
 * at run time (UAPIRevision): one plugin binary serves a fleet of kernels. */
#ifndef XE_WATCH_UAPI_REV_H
#define XE_WATCH_UAPI_REV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** One revision of the Xe watch-queue uAPI. */
struct xw_uapi {
  const char *name;       /* UAPIRevision value: "v1", "v2", "system" */
  const char *what;       /* where the numbers come from, for the log */
  unsigned long ioctl;    /* DRM_IOCTL_XE_WATCH_QUEUE request number */
  uint32_t xe_type;       /* record type of xe records */
  uint8_t vm_err_subtype; /* subtype of VM_ERR records */
  bool restartable_vms;   /* VMs paused after ENOMEM/ENOSPC, not killed */
};

/** The revision called `name` (case-insensitive), NULL if unknown. */
const struct xw_uapi *xw_uapi_find(const char *name);

/** The build's default: "system" when configure found a system header that
 *  defines the watch ioctl, else the bundled default (v1). */
const struct xw_uapi *xw_uapi_default(void);

/** The revision names this build accepts, quoted and comma separated, for
 *  error messages. Returns buf. */
const char *xw_uapi_names(char *buf, size_t len);

/**
 * The revisions to try when `cur`'s ioctl number is not the watch ioctl:
 * every other known revision with a different number, as
 * `UAPIRevision "v2"` (or `"v1" or "v2"`). Returns buf ("" if none).
 */
const char *xw_uapi_alternatives(const struct xw_uapi *cur, char *buf,
                                 size_t len);

/** Whether a subscription's errno means "no watch ioctl at this number":
 *  DRM's answer to a number the driver lacks (EINVAL), a non-DRM answer
 *  (ENOTTY), or what another ioctl living at the number answers to our 16
 *  bytes (ENOENT for a VM id it does not know, EFAULT, ...). The plugin's
 *  own arguments are always valid, so EINVAL cannot be ours. */
bool xw_uapi_not_this_number(int err);

/** Describe a failed subscription (negative or positive errno) for the log
 *  and notifications, naming the revision, the ioctl number and, when the
 *  number is wrong, the UAPIRevision values to try. Returns buf. */
const char *xw_uapi_subscribe_text(const struct xw_uapi *u, int err, char *buf,
                                   size_t len);

/** The driver ioctl number (0x0f) inside a DRM request number. */
static inline unsigned xw_uapi_nr(const struct xw_uapi *u) {
  return (unsigned)(u->ioctl & 0xff) - 0x40u;
}

#endif
