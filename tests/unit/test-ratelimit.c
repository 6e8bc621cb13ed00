/* SPDX-License-Identifier: MIT */
#include "ratelimit.h"
#include "test-main.h"

START_TEST(limit_then_summary) {
  struct xw_window w = {0};
  uint64_t len = 100;
  int sent = 0;
  for (int i = 0; i < 25; i++)
    sent += xw_window_admit(&w, 1000 + (uint64_t)i, len, 10);
  ck_assert_int_eq(sent, 10);
  ck_assert_uint_eq(xw_window_due(&w, len), 1100);
  ck_assert_uint_eq(xw_window_expire(&w, 1099, len), 0); /* still open */
  ck_assert_uint_eq(xw_window_expire(&w, 1100, len), 15);
  ck_assert_uint_eq(xw_window_due(&w, len), 0);
  ck_assert(xw_window_admit(&w, 1200, len, 10)); /* a new window */
}
END_TEST

START_TEST(zero_limit_admits_all) {
  struct xw_window w = {0};
  for (int i = 0; i < 1000; i++)
    ck_assert(xw_window_admit(&w, 5, 10, 0));
  ck_assert_uint_eq(xw_window_expire(&w, 100, 10), 0);
}
END_TEST

START_TEST(quiet_window_has_no_summary) {
  struct xw_window w = {0};
  ck_assert(xw_window_admit(&w, 0, 10, 3));
  ck_assert_uint_eq(xw_window_due(&w, 10), 0);
  ck_assert_uint_eq(xw_window_expire(&w, 50, 10), 0);
}
END_TEST

static Suite *ratelimit_suite(void) {
  Suite *s = suite_create("ratelimit");
  TCase *tc = xw_tcase("window");
  tcase_add_test(tc, limit_then_summary);
  tcase_add_test(tc, zero_limit_admits_all);
  tcase_add_test(tc, quiet_window_has_no_summary);
  suite_add_tcase(s, tc);
  return s;
}
XW_SUITE(ratelimit_suite)
