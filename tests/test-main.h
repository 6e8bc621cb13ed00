/* SPDX-License-Identifier: MIT */
#ifndef XW_TEST_MAIN_H
#define XW_TEST_MAIN_H

#include <check.h>

/** Register a suite from a constructor; the shared main runs them all. */
void xw_register_suite(Suite *(*make)(void));

/** A test case whose tests start from a clean mock and fail on any ERROR
 *  log they did not announce with mock_expect_errors(). */
TCase *xw_tcase(const char *name);

/** Run `step` (e.g. one round of an event loop) until cond holds, at most
 *  200 times, then assert cond. */
#define XW_STEP_UNTIL(step, cond)                                              \
  do {                                                                         \
    for (int i_ = 0; i_ < 200 && !(cond); i_++)                                \
      step;                                                                    \
    ck_assert_msg((cond), "timed out waiting for " #cond);                     \
  } while (0)

#define XW_SUITE(fn)                                                           \
  static void __attribute__((constructor)) register_##fn(void) {               \
    xw_register_suite(fn);                                                     \
  }

#endif
