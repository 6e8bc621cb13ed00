/* SPDX-License-Identifier: MIT */
/* The uAPI revision table, the subscription failure texts, and decoding
 * with another revision's record numbers. */
#include "decode.h"
#include "plugin_mock.h"
#include "test-main.h"
#include "uapi.h"

#include "xe_watch_uapi.h"

START_TEST(known_revisions) {
  const struct xw_uapi *v1 = xw_uapi_find("v1"), *v2 = xw_uapi_find("V2");
  ck_assert_ptr_nonnull(v1);
  ck_assert_ptr_nonnull(v2);
  ck_assert_uint_eq(v1->ioctl, 0x4010644f);
  ck_assert_uint_eq(xw_uapi_nr(v1), 0x0f);
  ck_assert_uint_eq(v2->ioctl, 0x40106451);
  ck_assert_uint_eq(xw_uapi_nr(v2), 0x11);
  ck_assert_uint_eq(v1->xe_type, 2);
  ck_assert_uint_eq(v1->vm_err_subtype, 0);
  ck_assert(!v1->restartable_vms);
  ck_assert(v2->restartable_vms);
  ck_assert_ptr_nonnull(strstr(v2->what, "inferred"));
  ck_assert_ptr_null(xw_uapi_find("v3"));
  /* Without a system header the bundled default is v1. */
#ifndef XW_SYSTEM_WATCH_IOCTL
  ck_assert_ptr_eq(xw_uapi_default(), v1);
#else
  ck_assert_str_eq(xw_uapi_default()->name, "system");
#endif
}
END_TEST

/* "Not this number" answers name the number and the option value to try;
 * other errnos keep their own meaning. */
START_TEST(subscribe_texts) {
  const struct xw_uapi *v1 = xw_uapi_find("v1"), *v2 = xw_uapi_find("v2");
  char buf[256];
  const int wrong[] = {-EINVAL, -ENOTTY, -ENOENT, -EFAULT};
  for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
    ck_assert(xw_uapi_not_this_number(wrong[i]));
    xw_uapi_subscribe_text(v1, wrong[i], buf, sizeof(buf));
    ck_assert_msg(strstr(buf,
                         "does not implement the watch ioctl at "
                         "0x4010644f (uAPI revision v1; it answered ") != NULL,
                  "%s", buf);
    ck_assert_msg(strstr(buf, "set UAPIRevision \"v2\"") != NULL, "%s", buf);
    ck_assert_msg(strstr(buf, "pipe") == NULL, "%s", buf);
    ck_assert_msg(strstr(buf, "ermission") == NULL, "%s", buf);
  }
  xw_uapi_subscribe_text(v2, -ENOENT, buf, sizeof(buf));
  ck_assert_str_eq(buf, "the kernel does not implement the watch ioctl at "
                        "0x40106451 (uAPI revision v2; it answered ENOENT): "
                        "if it carries another revision of the Xe "
                        "watch-queue series, set UAPIRevision \"v1\"; "
                        "otherwise it lacks the series");
  ck_assert(!xw_uapi_not_this_number(-EBADF));
  ck_assert(!xw_uapi_not_this_number(-EPERM));
  xw_uapi_subscribe_text(v1, -EBADF, buf, sizeof(buf));
  ck_assert_str_eq(buf, "the watch ioctl 0x4010644f (uAPI revision v1) "
                        "failed: EBADF (Bad file descriptor)");
  xw_uapi_subscribe_text(v1, -EPERM, buf, sizeof(buf));
  ck_assert_ptr_nonnull(strstr(buf, "failed: EPERM"));
  xw_uapi_subscribe_text(v1, -ENODEV, buf, sizeof(buf));
  ck_assert_ptr_nonnull(strstr(buf, "the device is gone"));
}
END_TEST

static size_t put(unsigned char *b, uint32_t type, uint8_t subtype, uint32_t vm,
                  int32_t err) {
  struct drm_xe_watch_notification_vm_err r = {0};
  r.base.type = type;
  r.base.subtype = subtype;
  r.base.info = sizeof(r);
  r.vm_id = vm;
  r.error_code = err;
  memcpy(b, &r, sizeof(r));
  return sizeof(r);
}

/* A revision that numbers xe records 4, VM_ERR 1: those decode as VM_ERR,
 * the default's numbers as unknown. */
START_TEST(decode_with_other_numbers) {
  unsigned char b[64];
  size_t n = put(b, 4, 1, 7, -ENOMEM);
  n += put(b + n, 2, 0, 8, -ENOSPC);
  n += put(b + n, 4, 0, 9, -ENOSPC);
  size_t off = 0;
  struct xw_event ev;
  ck_assert(xw_decode_next_as(b, n, &off, &ev, 4, 1));
  ck_assert_int_eq(ev.kind, XW_EV_VM_ERR);
  ck_assert_uint_eq(ev.vm_id, 7);
  ck_assert(xw_decode_next_as(b, n, &off, &ev, 4, 1));
  ck_assert_int_eq(ev.kind, XW_EV_UNKNOWN);
  ck_assert_uint_eq(ev.type, 2);
  ck_assert(xw_decode_next_as(b, n, &off, &ev, 4, 1));
  ck_assert_int_eq(ev.kind, XW_EV_UNKNOWN);
  ck_assert_uint_eq(ev.type, 4);
  ck_assert_uint_eq(ev.subtype, 0);
  ck_assert(!xw_decode_next_as(b, n, &off, &ev, 4, 1));
}
END_TEST

static Suite *uapi_suite(void) {
  Suite *s = suite_create("uapi");
  TCase *tc = xw_tcase("revisions");
  tcase_add_test(tc, known_revisions);
  tcase_add_test(tc, subscribe_texts);
  tcase_add_test(tc, decode_with_other_numbers);
  suite_add_tcase(s, tc);
  return s;
}
XW_SUITE(uapi_suite)
