/* SPDX-License-Identifier: MIT */
/* The table of watch-queue uAPI revisions, built from include/xe_watch_uapi.h
 * (and the system's header when configure found one). */
#include "uapi.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "xe_watch_uapi.h"

static const struct xw_uapi revisions[] = {
    {
        .name = "v1",
        .what = "RFC v1 as posted, March 2026",
        .ioctl = DRM_IOCTL_XE_WATCH_QUEUE_AT(XW_UAPI_V1_WATCH_QUEUE),
        .xe_type = XW_UAPI_V1_TYPE_XE,
        .vm_err_subtype = XW_UAPI_V1_SUBTYPE_VM_ERR,
        .restartable_vms = false,
    },
    {
        .name = "v2",
        .what = "RFC v2, June 2026; ioctl number inferred",
        .ioctl = DRM_IOCTL_XE_WATCH_QUEUE_AT(XW_UAPI_V2_WATCH_QUEUE),
        .xe_type = XW_UAPI_V2_TYPE_XE,
        .vm_err_subtype = XW_UAPI_V2_SUBTYPE_VM_ERR,
        .restartable_vms = true,
    },
#ifdef XW_SYSTEM_WATCH_IOCTL
    {
        .name = "system",
        .what = "the system's <drm/xe_drm.h> at build time",
        .ioctl = XW_SYSTEM_WATCH_IOCTL,
        .xe_type = XW_SYSTEM_TYPE_XE,
        .vm_err_subtype = XW_SYSTEM_SUBTYPE_VM_ERR,
        /* A header newer than v1 means the series moved on; v1 alone kills
         * failed VMs. */
        .restartable_vms = XW_SYSTEM_WATCH_IOCTL !=
                           DRM_IOCTL_XE_WATCH_QUEUE_AT(XW_UAPI_V1_WATCH_QUEUE),
    },
#endif
};

#define NREV (sizeof(revisions) / sizeof(revisions[0]))

const struct xw_uapi *xw_uapi_find(const char *name) {
  for (size_t i = 0; i < NREV; i++)
    if (strcasecmp(revisions[i].name, name) == 0)
      return &revisions[i];
  return NULL;
}

const struct xw_uapi *xw_uapi_default(void) {
  /* The system's header, when there is one, is the table's last entry. */
#ifdef XW_SYSTEM_WATCH_IOCTL
  return &revisions[NREV - 1];
#else
  return &revisions[0];
#endif
}

const char *xw_uapi_names(char *buf, size_t len) {
  size_t n = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < NREV && n < len; i++)
    n += (size_t)snprintf(buf + n, len - n, "%s\"%s\"", i ? ", " : "",
                          revisions[i].name);
  return buf;
}

const char *xw_uapi_alternatives(const struct xw_uapi *cur, char *buf,
                                 size_t len) {
  size_t n = 0;
  unsigned found = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < NREV && n < len; i++) {
    bool seen = revisions[i].ioctl == cur->ioctl;
    for (size_t j = 0; j < i && !seen; j++)
      seen = revisions[j].ioctl == revisions[i].ioctl;
    if (seen)
      continue; /* one name per number is enough advice */
    n +=
        (size_t)snprintf(buf + n, len - n, "%s\"%s\"",
                         found++ ? " or " : "UAPIRevision ", revisions[i].name);
  }
  return buf;
}

bool xw_uapi_not_this_number(int err) {
  if (err < 0)
    err = -err;
  return err == EINVAL || err == ENOTTY || err == ENOENT || err == EFAULT ||
         err == ENOSYS || err == EOPNOTSUPP;
}

const char *xw_uapi_subscribe_text(const struct xw_uapi *u, int err, char *buf,
                                   size_t len) {
  char alt[64], nb[16];
  int e = err < 0 ? -err : err;
  const char *en = strerrorname_np(e);
  if (en == NULL) {
    snprintf(nb, sizeof(nb), "E%d", e);
    en = nb;
  }
  if (xw_uapi_not_this_number(e)) {
    xw_uapi_alternatives(u, alt, sizeof(alt));
    if (alt[0] != '\0')
      snprintf(buf, len,
               "the kernel does not implement the watch ioctl at 0x%08lx "
               "(uAPI revision %s; it answered %s): if it carries another "
               "revision of the Xe watch-queue series, set %s; otherwise it "
               "lacks the series",
               u->ioctl, u->name, en, alt);
    else
      snprintf(buf, len,
               "the kernel does not implement the watch ioctl at 0x%08lx "
               "(uAPI revision %s; it answered %s): it lacks the Xe "
               "watch-queue series or carries a revision this build does "
               "not know",
               u->ioctl, u->name, en);
  } else if (e == ENODEV) {
    snprintf(buf, len, "the device is gone (ENODEV); waiting for it");
  } else {
    snprintf(buf, len,
             "the watch ioctl 0x%08lx (uAPI revision %s) failed: %s (%s)",
             u->ioctl, u->name, en, strerror(e));
  }
  return buf;
}
