/* SPDX-License-Identifier: MIT */
#include "ratelimit.h"
#include "test-main.h"

#include <string.h>

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

/* One key's storm leaves another key's window untouched. */
START_TEST(keys_are_separate) {
  static struct xw_window_set s;
  uint64_t ek, en;
  memset(&s, 0, sizeof(s));
  for (int i = 0; i < 100; i++)
    xw_window_admit(xw_window_set_get(&s, 7, &ek, &en), 5, 10, 3);
  struct xw_window *a = xw_window_set_get(&s, 7, &ek, &en);
  ck_assert_uint_eq(a->suppressed, 97);
  struct xw_window *b = xw_window_set_get(&s, 8, &ek, &en);
  ck_assert_uint_eq(en, 0);
  ck_assert(b != a);
  ck_assert(xw_window_admit(b, 5, 10, 3)); /* its first is sent */
  ck_assert_ptr_eq(xw_window_set_get(&s, 7, &ek, &en), a);
}
END_TEST

/* Bounded: with every window busy the least recently used one gives way
 * and what it suppressed is handed back for its summary. */
START_TEST(full_set_evicts_the_oldest) {
  static struct xw_window_set s;
  uint64_t ek = 0, en = 0;
  memset(&s, 0, sizeof(s));
  for (uint64_t k = 1; k <= XW_WINDOW_KEYS; k++) {
    struct xw_window *w = xw_window_set_get(&s, k, &ek, &en);
    ck_assert_uint_eq(en, 0);
    for (int i = 0; i < 5; i++)
      xw_window_admit(w, 1, 10, 2); /* 3 suppressed each */
  }
  xw_window_set_get(&s, 1, &ek, &en); /* key 1 is recent now */
  struct xw_window *w = xw_window_set_get(&s, 1000, &ek, &en);
  ck_assert_uint_eq(ek, 2);
  ck_assert_uint_eq(en, 3);
  ck_assert(xw_window_idle(w));
  ck_assert(xw_window_admit(w, 1, 10, 2)); /* key 1000 uses it */
  /* An expired window is idle: reused before anything is evicted. */
  ck_assert_uint_eq(xw_window_expire(&s.e[5].w, 100, 10), 3);
  w = xw_window_set_get(&s, 2000, &ek, &en);
  ck_assert_uint_eq(en, 0);
  ck_assert_ptr_eq(w, &s.e[5].w);
}
END_TEST

static Suite *ratelimit_suite(void) {
  Suite *s = suite_create("ratelimit");
  TCase *tc = xw_tcase("window");
  tcase_add_test(tc, limit_then_summary);
  tcase_add_test(tc, zero_limit_admits_all);
  tcase_add_test(tc, quiet_window_has_no_summary);
  tcase_add_test(tc, keys_are_separate);
  tcase_add_test(tc, full_set_evicts_the_oldest);
  suite_add_tcase(s, tc);
  return s;
}
XW_SUITE(ratelimit_suite)
