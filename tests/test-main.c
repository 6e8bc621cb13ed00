/* SPDX-License-Identifier: MIT */
#include "test-main.h"

#include "plugin_mock.h"

#include <stdlib.h>

#define MAX_SUITES 32
static Suite *(*makers[MAX_SUITES])(void);
static int nmakers;

void xw_register_suite(Suite *(*make)(void)) {
  if (nmakers == MAX_SUITES)
    abort();
  makers[nmakers++] = make;
}

static void setup(void) { mock_reset(); }
static void teardown(void) {
  mock_check_no_unexpected_errors();
  mock_reset();
}

TCase *xw_tcase(const char *name) {
  TCase *tc = tcase_create(name);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 30);
  return tc;
}

int main(void) {
  SRunner *sr = srunner_create(NULL);
  for (int i = 0; i < nmakers; i++)
    srunner_add_suite(sr, makers[i]());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
