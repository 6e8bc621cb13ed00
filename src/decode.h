/* SPDX-License-Identifier: MIT */
/* Record decoder: one read()'s bytes -> typed events. */
#ifndef XE_WATCH_DECODE_H
#define XE_WATCH_DECODE_H

#include <stddef.h>
#include <stdint.h>

/** What one record of a notification pipe turned out to be. */
enum xw_event_kind {
  XW_EV_VM_ERR,    /* DRM_XE_WATCH_EVENT_VM_ERR */
  XW_EV_LOSS,      /* kernel dropped records: the ring was full */
  XW_EV_REMOVAL,   /* the watched DRM file was released */
  XW_EV_UNKNOWN,   /* well-formed, but a type/subtype we do not know */
  XW_EV_MALFORMED, /* cannot be trusted; see xw_malformed_reason */
};

enum xw_malformed_reason {
  XW_BAD_NONE = 0,
  XW_BAD_SHORT_HEADER, /* fewer than 8 bytes left after the last record */
  XW_BAD_LENGTH,       /* length field below 8 (0 included) */
  XW_BAD_OVERRUN,      /* length field past the bytes read */
  XW_BAD_SHORT_VM_ERR, /* VM_ERR record shorter than 16 bytes */
  XW_BAD_ERROR_CODE,   /* VM_ERR whose error_code is not a negative errno */
};

/** One decoded record. Fields not meaningful for a kind are zero. */
struct xw_event {
  enum xw_event_kind kind;
  uint8_t watch_id;
  uint8_t subtype;
  uint16_t length;
  uint32_t type;
  uint32_t vm_id;
  int32_t error_code;
  enum xw_malformed_reason reason;
};

/**
 * Decode the record at *offset in the bytes of one read().
 *
 * Returns 1 and fills *ev when a record (good or malformed) was consumed,
 * 0 when the buffer is exhausted. A record whose length cannot be trusted
 * (below 8, or past the end) ends the walk: it is reported once as
 * XW_EV_MALFORMED and *offset jumps to len, since nothing after it can be
 * framed. Pure: no I/O, no allocation, never reads outside buf[0..len).
 */
int xw_decode_next(const void *buf, size_t len, size_t *offset,
                   struct xw_event *ev);

/** xw_decode_next for a uAPI revision whose xe records are of type xe_type
 *  and VM_ERR is subtype vm_err_subtype (xw_decode_next: the bundled
 *  default's numbers). Anything else of type xe_type is XW_EV_UNKNOWN. */
int xw_decode_next_as(const void *buf, size_t len, size_t *offset,
                      struct xw_event *ev, uint32_t xe_type,
                      uint8_t vm_err_subtype);

/** Short operator-facing text for a malformed reason. */
const char *xw_malformed_reason_str(enum xw_malformed_reason reason);

#endif
