/* SPDX-License-Identifier: MIT */
/* Record decoder: the bytes of one read() of a notification pipe -> typed
 * events. Pure: no I/O, no allocation; the fuzz target. */
#include "decode.h"

#include <string.h>

#include "xe_watch_uapi.h"

/* Largest errno value a kernel can return to user space (MAX_ERRNO). */
#define XW_MAX_ERRNO 4095

const char *xw_malformed_reason_str(enum xw_malformed_reason reason) {
  switch (reason) {
  case XW_BAD_NONE:
    return "none";
  case XW_BAD_SHORT_HEADER:
    return "truncated record header";
  case XW_BAD_LENGTH:
    return "record length below 8";
  case XW_BAD_OVERRUN:
    return "record length past the bytes read";
  case XW_BAD_SHORT_VM_ERR:
    return "VM_ERR record shorter than 16 bytes";
  case XW_BAD_ERROR_CODE:
    return "VM_ERR error code is not a negative errno";
  }
  return "unknown";
}

static void decode_xe(const unsigned char *rec, struct xw_event *ev,
                      uint8_t vm_err_subtype) {
  if (ev->subtype != vm_err_subtype) {
    ev->kind = XW_EV_UNKNOWN;
    return;
  }
  if (ev->length < sizeof(struct drm_xe_watch_notification_vm_err)) {
    ev->kind = XW_EV_MALFORMED;
    ev->reason = XW_BAD_SHORT_VM_ERR;
    return;
  }
  struct drm_xe_watch_notification_vm_err n;
  memcpy(&n, rec, sizeof(n)); /* records need not be aligned in buf */
  ev->vm_id = n.vm_id;
  ev->error_code = n.error_code;
  if (n.error_code >= 0 || n.error_code < -XW_MAX_ERRNO) {
    ev->kind = XW_EV_MALFORMED;
    ev->reason = XW_BAD_ERROR_CODE;
    return;
  }
  ev->kind = XW_EV_VM_ERR;
}

int xw_decode_next(const void *buf, size_t len, size_t *offset,
                   struct xw_event *ev) {
  return xw_decode_next_as(buf, len, offset, ev, WATCH_TYPE_DRM_XE_NOTIFY,
                           DRM_XE_WATCH_EVENT_VM_ERR);
}

int xw_decode_next_as(const void *buf, size_t len, size_t *offset,
                      struct xw_event *ev, uint32_t xe_type,
                      uint8_t vm_err_subtype) {
  const unsigned char *p = buf;
  size_t off = *offset;

  memset(ev, 0, sizeof(*ev));
  if (off >= len)
    return 0;

  size_t left = len - off;
  if (left < sizeof(struct watch_notification)) {
    ev->kind = XW_EV_MALFORMED;
    ev->reason = XW_BAD_SHORT_HEADER;
    *offset = len;
    return 1;
  }

  struct watch_notification h;
  memcpy(&h, p + off, sizeof(h));
  size_t rlen = h.info & WATCH_INFO_LENGTH;
  ev->type = h.type;
  ev->subtype = h.subtype;
  ev->length = (uint16_t)rlen;
  ev->watch_id = (uint8_t)((h.info & WATCH_INFO_ID) >> WATCH_INFO_ID__SHIFT);

  if (rlen < sizeof(struct watch_notification) || rlen > left) {
    ev->kind = XW_EV_MALFORMED;
    ev->reason = rlen < sizeof(h) ? XW_BAD_LENGTH : XW_BAD_OVERRUN;
    *offset = len;
    return 1;
  }

  if (h.type == WATCH_TYPE_META) {
    if (h.subtype == WATCH_META_LOSS_NOTIFICATION)
      ev->kind = XW_EV_LOSS;
    else if (h.subtype == WATCH_META_REMOVAL_NOTIFICATION)
      ev->kind = XW_EV_REMOVAL;
    else
      ev->kind = XW_EV_UNKNOWN;
  } else if (h.type == xe_type) {
    decode_xe(p + off, ev, vm_err_subtype);
  } else {
    ev->kind = XW_EV_UNKNOWN;
  }

  *offset = off + rlen;
  return 1;
}
