/* SPDX-License-Identifier: MIT */
#ifndef XW_TEST_MAIN_H
#define XW_TEST_MAIN_H

#include <check.h>

/** Register a suite from a constructor; the shared main runs them all. */
void xw_register_suite(Suite *(*make)(void));

/** A test case whose tests start from a clean mock and fail on any ERROR
 *  log they did not announce with mock_expect_errors(). */
TCase *xw_tcase(const char *name);

#define XW_SUITE(fn)                                                           \
  static void __attribute__((constructor)) register_##fn(void) {               \
    xw_register_suite(fn);                                                     \
  }

#endif
