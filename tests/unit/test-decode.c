/* SPDX-License-Identifier: MIT */
#include "decode.h"
#include "test-main.h"
#include "xe_watch_uapi.h"

#include <string.h>

static size_t put_hdr(unsigned char *b, unsigned type, unsigned subtype,
                      unsigned len, unsigned id) {
  struct watch_notification h = {.type = type, .subtype = subtype};
  h.info = (len & WATCH_INFO_LENGTH) | (id << WATCH_INFO_ID__SHIFT);
  memcpy(b, &h, sizeof(h));
  return sizeof(h);
}

static size_t put_vm_err(unsigned char *b, unsigned id, uint32_t vm,
                         int32_t err) {
  struct drm_xe_watch_notification_vm_err r = {0};
  r.base.type = WATCH_TYPE_DRM_XE_NOTIFY;
  r.base.subtype = DRM_XE_WATCH_EVENT_VM_ERR;
  r.base.info = 16 | (id << WATCH_INFO_ID__SHIFT);
  r.vm_id = vm;
  r.error_code = err;
  memcpy(b, &r, sizeof(r));
  return sizeof(r);
}

START_TEST(vm_err_record) {
  unsigned char b[16];
  size_t n = put_vm_err(b, 7, 3, -12), off = 0;
  struct xw_event ev;
  ck_assert_int_eq(xw_decode_next(b, n, &off, &ev), 1);
  ck_assert_int_eq(ev.kind, XW_EV_VM_ERR);
  ck_assert_uint_eq(ev.watch_id, 7);
  ck_assert_uint_eq(ev.vm_id, 3);
  ck_assert_int_eq(ev.error_code, -12);
  ck_assert_uint_eq(off, 16);
  ck_assert_int_eq(xw_decode_next(b, n, &off, &ev), 0);
}
END_TEST

START_TEST(several_records_in_one_read) {
  unsigned char b[128];
  size_t n = 0;
  n += put_vm_err(b + n, 0, 1, -12);
  n += put_hdr(b + n, WATCH_TYPE_META, WATCH_META_LOSS_NOTIFICATION, 8, 0);
  n += put_vm_err(b + n, 0, 2, -28);
  n += put_hdr(b + n, WATCH_TYPE_META, WATCH_META_REMOVAL_NOTIFICATION, 8, 5);
  enum xw_event_kind want[] = {XW_EV_VM_ERR, XW_EV_LOSS, XW_EV_VM_ERR,
                               XW_EV_REMOVAL};
  size_t off = 0, i = 0;
  struct xw_event ev;
  while (xw_decode_next(b, n, &off, &ev)) {
    ck_assert_uint_lt(i, 4);
    ck_assert_int_eq(ev.kind, want[i]);
    i++;
  }
  ck_assert_uint_eq(i, 4);
  ck_assert_uint_eq(ev.watch_id, 0); /* cleared on exhaustion */
}
END_TEST

START_TEST(removal_carries_watch_id) {
  unsigned char b[8];
  size_t off = 0;
  struct xw_event ev;
  put_hdr(b, WATCH_TYPE_META, WATCH_META_REMOVAL_NOTIFICATION, 8, 255);
  ck_assert_int_eq(xw_decode_next(b, 8, &off, &ev), 1);
  ck_assert_int_eq(ev.kind, XW_EV_REMOVAL);
  ck_assert_uint_eq(ev.watch_id, 255);
}
END_TEST

START_TEST(unknown_kinds_are_skipped_by_length) {
  unsigned char b[64];
  size_t n = 0;
  n += put_hdr(b + n, WATCH_TYPE_DRM_XE_NOTIFY, 9, 24, 0); /* new subtype */
  memset(b + 8, 0xab, 16);
  n += 16;
  n += put_hdr(b + n, WATCH_TYPE_KEY_NOTIFY, 0, 8, 0);
  n += put_hdr(b + n, WATCH_TYPE_META, 7, 8, 0);
  n += put_vm_err(b + n, 0, 4, -5);
  size_t off = 0;
  struct xw_event ev;
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(xw_decode_next(b, n, &off, &ev), 1);
    ck_assert_int_eq(ev.kind, XW_EV_UNKNOWN);
  }
  ck_assert_int_eq(xw_decode_next(b, n, &off, &ev), 1);
  ck_assert_int_eq(ev.kind, XW_EV_VM_ERR);
  ck_assert_uint_eq(ev.vm_id, 4);
}
END_TEST

START_TEST(zero_length_stops_the_walk) {
  unsigned char b[32];
  put_hdr(b, WATCH_TYPE_DRM_XE_NOTIFY, 0, 0, 0);
  put_vm_err(b + 8, 0, 1, -12);
  size_t off = 0;
  struct xw_event ev;
  ck_assert_int_eq(xw_decode_next(b, 24, &off, &ev), 1);
  ck_assert_int_eq(ev.kind, XW_EV_MALFORMED);
  ck_assert_int_eq(ev.reason, XW_BAD_LENGTH);
  ck_assert_uint_eq(off, 24);
  ck_assert_int_eq(xw_decode_next(b, 24, &off, &ev), 0);
}
END_TEST

START_TEST(length_below_header) {
  for (unsigned len = 1; len < 8; len++) {
    unsigned char b[16] = {0};
    put_hdr(b, WATCH_TYPE_META, WATCH_META_LOSS_NOTIFICATION, len, 0);
    size_t off = 0;
    struct xw_event ev;
    ck_assert_int_eq(xw_decode_next(b, 16, &off, &ev), 1);
    ck_assert_int_eq(ev.kind, XW_EV_MALFORMED);
    ck_assert_int_eq(ev.reason, XW_BAD_LENGTH);
  }
}
END_TEST

START_TEST(length_past_the_bytes_read) {
  unsigned char b[16];
  put_vm_err(b, 0, 1, -12);
  size_t off = 0;
  struct xw_event ev;
  ck_assert_int_eq(xw_decode_next(b, 12, &off, &ev), 1);
  ck_assert_int_eq(ev.kind, XW_EV_MALFORMED);
  ck_assert_int_eq(ev.reason, XW_BAD_OVERRUN);
  ck_assert_uint_eq(off, 12);
}
END_TEST

START_TEST(truncated_header) {
  unsigned char b[24];
  size_t n = put_vm_err(b, 0, 1, -12);
  memset(b + n, 0, 5);
  size_t off = 0;
  struct xw_event ev;
  ck_assert_int_eq(xw_decode_next(b, n + 5, &off, &ev), 1);
  ck_assert_int_eq(ev.kind, XW_EV_VM_ERR);
  ck_assert_int_eq(xw_decode_next(b, n + 5, &off, &ev), 1);
  ck_assert_int_eq(ev.kind, XW_EV_MALFORMED);
  ck_assert_int_eq(ev.reason, XW_BAD_SHORT_HEADER);
  ck_assert_int_eq(xw_decode_next(b, n + 5, &off, &ev), 0);
}
END_TEST

START_TEST(short_vm_err_is_skipped_by_its_length) {
  unsigned char b[32];
  size_t n =
      put_hdr(b, WATCH_TYPE_DRM_XE_NOTIFY, DRM_XE_WATCH_EVENT_VM_ERR, 12, 0);
  memset(b + n, 0, 4);
  n += 4;
  n += put_vm_err(b + n, 0, 9, -28);
  size_t off = 0;
  struct xw_event ev;
  ck_assert_int_eq(xw_decode_next(b, n, &off, &ev), 1);
  ck_assert_int_eq(ev.kind, XW_EV_MALFORMED);
  ck_assert_int_eq(ev.reason, XW_BAD_SHORT_VM_ERR);
  ck_assert_int_eq(xw_decode_next(b, n, &off, &ev), 1);
  ck_assert_int_eq(ev.kind, XW_EV_VM_ERR);
  ck_assert_uint_eq(ev.vm_id, 9);
}
END_TEST

START_TEST(error_code_must_be_a_negative_errno) {
  int32_t bad[] = {0, 12, -4096, INT32_MIN};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    unsigned char b[16];
    put_vm_err(b, 0, 1, bad[i]);
    size_t off = 0;
    struct xw_event ev;
    ck_assert_int_eq(xw_decode_next(b, 16, &off, &ev), 1);
    ck_assert_int_eq(ev.kind, XW_EV_MALFORMED);
    ck_assert_int_eq(ev.reason, XW_BAD_ERROR_CODE);
    ck_assert_uint_eq(off, 16);
  }
  unsigned char b[16];
  put_vm_err(b, 0, 1, -4095);
  size_t off = 0;
  struct xw_event ev;
  xw_decode_next(b, 16, &off, &ev);
  ck_assert_int_eq(ev.kind, XW_EV_VM_ERR);
}
END_TEST

START_TEST(longer_vm_err_is_accepted) {
  /* A later revision may append fields: the first 16 bytes still count. */
  unsigned char b[24] = {0};
  put_vm_err(b, 1, 2, -12);
  struct watch_notification h;
  memcpy(&h, b, sizeof(h));
  h.info = 24 | (1 << WATCH_INFO_ID__SHIFT);
  memcpy(b, &h, sizeof(h));
  size_t off = 0;
  struct xw_event ev;
  ck_assert_int_eq(xw_decode_next(b, 24, &off, &ev), 1);
  ck_assert_int_eq(ev.kind, XW_EV_VM_ERR);
  ck_assert_uint_eq(off, 24);
}
END_TEST

START_TEST(unaligned_buffer) {
  unsigned char raw[40];
  size_t n = put_vm_err(raw + 1, 3, 77, -62);
  size_t off = 0;
  struct xw_event ev;
  ck_assert_int_eq(xw_decode_next(raw + 1, n, &off, &ev), 1);
  ck_assert_uint_eq(ev.vm_id, 77);
  ck_assert_int_eq(ev.error_code, -62);
}
END_TEST

START_TEST(every_byte_string_terminates) {
  /* Exhaustive over short inputs: the walk always ends within len. */
  unsigned char b[10];
  for (unsigned v = 0; v < 65536; v++) {
    for (size_t i = 0; i < sizeof(b); i++)
      b[i] = (unsigned char)(v >> (i % 2 ? 8 : 0)) ^ (unsigned char)i;
    size_t off = 0, steps = 0;
    struct xw_event ev;
    while (xw_decode_next(b, sizeof(b), &off, &ev)) {
      ck_assert_uint_le(off, sizeof(b));
      ck_assert_uint_lt(++steps, 3);
    }
  }
}
END_TEST

START_TEST(reason_strings) {
  for (int r = XW_BAD_NONE; r <= XW_BAD_ERROR_CODE; r++)
    ck_assert_str_ne(xw_malformed_reason_str(r), "unknown");
}
END_TEST

static Suite *decode_suite(void) {
  Suite *s = suite_create("decode");
  TCase *tc = xw_tcase("records");
  tcase_add_test(tc, vm_err_record);
  tcase_add_test(tc, several_records_in_one_read);
  tcase_add_test(tc, removal_carries_watch_id);
  tcase_add_test(tc, unknown_kinds_are_skipped_by_length);
  tcase_add_test(tc, longer_vm_err_is_accepted);
  tcase_add_test(tc, unaligned_buffer);
  suite_add_tcase(s, tc);
  tc = xw_tcase("malformed");
  tcase_add_test(tc, zero_length_stops_the_walk);
  tcase_add_test(tc, length_below_header);
  tcase_add_test(tc, length_past_the_bytes_read);
  tcase_add_test(tc, truncated_header);
  tcase_add_test(tc, short_vm_err_is_skipped_by_its_length);
  tcase_add_test(tc, error_code_must_be_a_negative_errno);
  tcase_add_test(tc, every_byte_string_terminates);
  tcase_add_test(tc, reason_strings);
  suite_add_tcase(s, tc);
  return s;
}
XW_SUITE(decode_suite)
