/* SPDX-License-Identifier: MIT */
/*
 * xe_watch_uapi.h - the subset of the Linux watch-queue uAPI and of the Xe
 * watch-queue RFC ("Xe driver asynchronous notification mechanism", v1 March
 * 2026, v2 June 2026) that xe_watch uses.
 *
 * This is the project's only copy of these numbers. <linux/watch_queue.h>
 * includes <linux/fcntl.h>, which redefines struct flock against glibc's
 * <fcntl.h>; carrying the definitions here keeps both usable in one file.
 * DRM_XE_WATCH_QUEUE (0x0f) is contested by another xe series and may move in
 * a later revision of the RFC: change it here and nowhere else.
 */
#ifndef XE_WATCH_UAPI_H
#define XE_WATCH_UAPI_H

#include <fcntl.h>
#include <linux/ioctl.h>
#include <linux/types.h>

/* ---- include/uapi/linux/watch_queue.h ---------------------------------- */

/** pipe2() flag selecting a notification pipe (ENOPKG without
 *  CONFIG_WATCH_QUEUE). */
#define O_NOTIFICATION_PIPE O_EXCL

/** Ring size in notes, 1..512 (rounded up to 32-note pages); EBUSY if set
 *  twice. The kernel's header comment says "pages"; the code takes notes. */
#define IOC_WATCH_QUEUE_SET_SIZE _IO('W', 0x60)
/** Install a struct watch_notification_filter. */
#define IOC_WATCH_QUEUE_SET_FILTER _IO('W', 0x61)

/** Maximum number of notes IOC_WATCH_QUEUE_SET_SIZE accepts. */
#define WATCH_QUEUE_MAX_NOTES 512
/** Maximum number of filters in one watch_notification_filter. */
#define WATCH_QUEUE_MAX_FILTERS 16
/** Largest record a notification pipe can return (WATCH_INFO_LENGTH). */
#define WATCH_QUEUE_MAX_RECORD 127

enum watch_notification_type {
  WATCH_TYPE_META = 0,
  WATCH_TYPE_KEY_NOTIFY = 1,
  WATCH_TYPE_DRM_XE_NOTIFY = 2, /* added by the Xe RFC */
};

enum watch_meta_notification_subtype {
  WATCH_META_REMOVAL_NOTIFICATION = 0,
  WATCH_META_LOSS_NOTIFICATION = 1,
};

/** Header of every record; records are walked by (info & WATCH_INFO_LENGTH). */
struct watch_notification {
  __u32 type : 24;
  __u32 subtype : 8;
  __u32 info;
};

#define WATCH_INFO_LENGTH 0x0000007f
#define WATCH_INFO_LENGTH__SHIFT 0
#define WATCH_INFO_ID 0x0000ff00
#define WATCH_INFO_ID__SHIFT 8
#define WATCH_INFO_TYPE_INFO 0xffff0000
#define WATCH_INFO_TYPE_INFO__SHIFT 16

struct watch_notification_type_filter {
  __u32 type;
  __u32 info_filter;
  __u32 info_mask;
  __u32 subtype_filter[8];
};

struct watch_notification_filter {
  __u32 nr_filters;
  __u32 __reserved;
  struct watch_notification_type_filter filters[];
};

/* ---- include/uapi/drm/drm.h ------------------------------------------- */

#ifndef DRM_IOCTL_BASE
#define DRM_IOCTL_BASE 'd'
#endif
#ifndef DRM_COMMAND_BASE
#define DRM_COMMAND_BASE 0x40
#endif

/* ---- include/uapi/drm/xe_drm.h (Xe watch-queue RFC) -------------------- */

#define DRM_XE_WATCH_QUEUE 0x0f

/** Subscribe a notification pipe to the DRM file the ioctl is issued on. */
struct drm_xe_watch_queue {
  __u32 fd;       /* notification pipe */
  __u32 watch_id; /* 0..255, returned in WATCH_INFO_ID of each record */
  __u32 flags;    /* must be 0 */
  __u32 pad;      /* must be 0 */
};

#define DRM_IOCTL_XE_WATCH_QUEUE                                               \
  _IOW(DRM_IOCTL_BASE, DRM_COMMAND_BASE + DRM_XE_WATCH_QUEUE,                  \
       struct drm_xe_watch_queue)

/** Highest watch_id a subscription can carry. */
#define DRM_XE_WATCH_ID_MAX 255

/** Subtypes of WATCH_TYPE_DRM_XE_NOTIFY. */
enum drm_xe_watch_event {
  DRM_XE_WATCH_EVENT_VM_ERR = 0,
};

/** A compute-mode VM's rebind worker failed; error_code is a negative errno. */
struct drm_xe_watch_notification_vm_err {
  struct watch_notification base;
  __u32 vm_id;
  __s32 error_code;
};

_Static_assert(sizeof(struct watch_notification) == 8, "record header");
_Static_assert(sizeof(struct drm_xe_watch_queue) == 16, "ioctl argument");
_Static_assert(sizeof(struct drm_xe_watch_notification_vm_err) == 16,
               "VM_ERR record");

#endif /* XE_WATCH_UAPI_H */
