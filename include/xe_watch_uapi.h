/* SPDX-License-Identifier: MIT */
/*
 * xe_watch_uapi.h - the subset of the Linux watch-queue uAPI and of the Xe
 * watch-queue RFC ("Xe driver asynchronous notification mechanism", v1 March
 * 2026, v2 June 2026) that xe_watch uses.
 *
 * This is the project's only copy of these numbers. <linux/watch_queue.h>
 * includes <linux/fcntl.h>, which redefines struct flock against glibc's
 * <fcntl.h>; carrying the definitions here keeps both usable in one file.
 * The watch ioctl's number and the record numbers differ between revisions
 * of the RFC: each known revision is described below (XW_UAPI_V1_*,
 * XW_UAPI_V2_*), src/uapi.c turns them into the table the UAPIRevision
 * option selects from, and configure adds the system's <drm/xe_drm.h> as
 * revision "system" when it defines the ioctl (XW_SYSTEM_* below).
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
  /* Added by the Xe RFC; the number per revision is XW_UAPI_V*_TYPE_XE. */
  WATCH_TYPE_DRM_XE_NOTIFY = 2,
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

/** Subscribe a notification pipe to the DRM file the ioctl is issued on.
 *  The same 16 bytes in every known revision. */
struct drm_xe_watch_queue {
  __u32 fd;       /* notification pipe */
  __u32 watch_id; /* 0..255, returned in WATCH_INFO_ID of each record */
  __u32 flags;    /* must be 0 */
  __u32 pad;      /* must be 0 */
};

/** The watch ioctl's request number for a driver ioctl number nr. */
#define DRM_IOCTL_XE_WATCH_QUEUE_AT(nr)                                        \
  _IOW(DRM_IOCTL_BASE, DRM_COMMAND_BASE + (nr), struct drm_xe_watch_queue)

/*
 * Revision v1, as posted (March 2026): ioctl 0x0f = 0x4010644f on x86-64;
 * records of type 2 (appended after WATCH_TYPE_KEY_NOTIFY by the series'
 * first patch), subtype 0 = VM_ERR. A failed VM is killed.
 */
#define XW_UAPI_V1_WATCH_QUEUE 0x0f
#define XW_UAPI_V1_TYPE_XE 2
#define XW_UAPI_V1_SUBTYPE_VM_ERR 0

/*
 * Revision v2 (June 2026), INFERRED: no v2 header was found. drm-next gave
 * 0x0f to DRM_XE_VM_GET_PROPERTY (April 2026), v2 puts
 * DRM_XE_VM_RESTART at 0x10, and xe keeps its ioctl numbers without holes,
 * so the watch ioctl most likely moved to 0x11 = 0x40106451. Nothing known
 * about v2 renumbers the records: type 2, subtype 0 as in v1. What v2
 * changes is the meaning: a VM created restartable is paused (not killed)
 * after -ENOMEM/-ENOSPC until DRM_IOCTL_XE_VM_RESTART, so one VM can fail
 * again after each restart, and no record says it recovered.
 */
#define XW_UAPI_V2_WATCH_QUEUE 0x11
#define XW_UAPI_V2_TYPE_XE 2
#define XW_UAPI_V2_SUBTYPE_VM_ERR 0

/* The bundled default: the revision the plugin uses when neither the
 * system's header nor UAPIRevision says otherwise. */
#define DRM_XE_WATCH_QUEUE XW_UAPI_V1_WATCH_QUEUE
#define DRM_IOCTL_XE_WATCH_QUEUE DRM_IOCTL_XE_WATCH_QUEUE_AT(DRM_XE_WATCH_QUEUE)

/*
 * configure defines these from the system's <drm/xe_drm.h> (and
 * <linux/watch_queue.h>) when it defines DRM_IOCTL_XE_WATCH_QUEUE: a kernel
 * carrying the merged series ships them, and they then win over the bundled
 * default. XW_SYSTEM_WATCH_IOCTL is the full request number.
 */
#ifdef XW_SYSTEM_WATCH_IOCTL
#ifndef XW_SYSTEM_TYPE_XE
#define XW_SYSTEM_TYPE_XE XW_UAPI_V1_TYPE_XE
#endif
#ifndef XW_SYSTEM_SUBTYPE_VM_ERR
#define XW_SYSTEM_SUBTYPE_VM_ERR XW_UAPI_V1_SUBTYPE_VM_ERR
#endif
#endif

/** Highest watch_id a subscription can carry. */
#define DRM_XE_WATCH_ID_MAX 255

/** Subtypes of WATCH_TYPE_DRM_XE_NOTIFY (bundled default revision). */
enum drm_xe_watch_event {
  DRM_XE_WATCH_EVENT_VM_ERR = XW_UAPI_V1_SUBTYPE_VM_ERR,
};

/** A compute-mode VM's rebind worker failed; error_code is a negative errno. */
struct drm_xe_watch_notification_vm_err {
  struct watch_notification base;
  __u32 vm_id;
  __s32 error_code;
};

_Static_assert(sizeof(struct watch_notification) == 8, "record header");
_Static_assert(DRM_IOCTL_XE_WATCH_QUEUE_AT(XW_UAPI_V1_WATCH_QUEUE) ==
                   0x4010644f,
               "v1 watch ioctl");
_Static_assert(DRM_IOCTL_XE_WATCH_QUEUE_AT(XW_UAPI_V2_WATCH_QUEUE) ==
                   0x40106451,
               "v2 watch ioctl");
_Static_assert(sizeof(struct drm_xe_watch_queue) == 16, "ioctl argument");
_Static_assert(sizeof(struct drm_xe_watch_notification_vm_err) == 16,
               "VM_ERR record");

#endif /* XE_WATCH_UAPI_H */
