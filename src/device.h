/* SPDX-License-Identifier: MIT */
/* Device identity: open, check and name a DRM node. */
#ifndef XE_WATCH_DEVICE_H
#define XE_WATCH_DEVICE_H

#include <stdbool.h>
#include <stddef.h>

/** Where bringing a device up failed; with an errno it names the cause. */
enum xw_stage {
  XW_STAGE_NONE = 0,
  XW_STAGE_OPEN,      /* open() of the node */
  XW_STAGE_VERSION,   /* DRM_IOCTL_VERSION: is it a DRM device at all */
  XW_STAGE_DRIVER,    /* a DRM device, but not driven by xe */
  XW_STAGE_PIPE,      /* pipe2(O_NOTIFICATION_PIPE) */
  XW_STAGE_SIZE,      /* IOC_WATCH_QUEUE_SET_SIZE */
  XW_STAGE_SUBSCRIBE, /* DRM_IOCTL_XE_WATCH_QUEUE */
  XW_STAGE_READ,      /* read() of the notification pipe failed or hit EOF */
  XW_STAGE_REMOVED,   /* the kernel sent a removal record */
  XW_STAGE_UNPLUGGED, /* udev removed the node, or DRM answers ENODEV */
  XW_STAGE_PRIMARY,   /* a primary node whose render node was not found */
};

#define XW_NAME_LEN 64
#define XW_DRIVER_LEN 32

/** Who a DRM device is: what users see as plugin_instance, and its driver. */
struct xw_identity {
  char name[XW_NAME_LEN];     /* PCI slot "0000:03:00.0", else node name */
  char driver[XW_DRIVER_LEN]; /* as DRM_IOCTL_VERSION reports it */
};

/**
 * Open a DRM node and make sure the xe driver owns it.
 *
 * Returns an O_CLOEXEC fd the caller owns, or a negative errno with *stage
 * saying which step failed (XW_STAGE_DRIVER: id->driver names the driver
 * found). id->name is filled on success.
 */
int xw_device_open(const char *node, struct xw_identity *id,
                   enum xw_stage *stage);

/** Where sysfs is ("/sys" unless SysfsRoot says otherwise, e.g. a
 *  container with the host's /sys mounted elsewhere). Set before any device
 *  is created; the string must outlive the devices. */
void xw_set_sysfs_root(const char *root);
const char *xw_sysfs_root(void);

/**
 * The PCI slot ("0000:03:00.0") of the GPU behind a device node, found in
 * sysfs by the node's device number (<sysfs>/dev/char/MAJ:MIN/device) without
 * opening the node, so it works before the driver answers and never makes
 * the caller DRM master. Symlinks are followed. Returns 0, or a negative
 * errno (-ENOENT: no such node, -ENOTTY: not a character device, -ENODEV:
 * not on PCI).
 */
int xw_node_pci_slot(const char *node, char *out, size_t len);

/** The kernel driver bound to the device behind a node ("xe"), from sysfs
 *  by device number, without opening it. 0 or a negative errno. */
int xw_node_driver(const char *node, char *out, size_t len);

/** The device number of a node (symlinks followed); 0 or a negative errno. */
int xw_node_rdev(const char *node, unsigned long *rdev);

/** The name a device is known by from the start: its PCI slot, else the
 *  node's own name ("renderD128", by-path links followed). */
void xw_node_display_name(const char *node, char *out, size_t len);

/**
 * Whether the DRM device behind an open fd has been unplugged: DRM answers
 * every ioctl on such a file with ENODEV. Used when a kernel loss record
 * may have swallowed the removal record.
 */
bool xw_device_gone(int fd);

/**
 * Describe a failure in an operator's words: what broke and what to do.
 * driver is used for XW_STAGE_DRIVER, notes for XW_STAGE_SIZE (may be 0).
 * Returns buf.
 */
const char *xw_failure_text(enum xw_stage stage, int err, const char *driver,
                            int notes, char *buf, size_t len);

/** errno's symbolic name ("ENOMEM") for a positive or negative errno;
 *  "E<n>" into buf when the C library has no name for it. */
const char *xw_errno_name(int err, char *buf, size_t len);

#endif
