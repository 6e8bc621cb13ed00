/* SPDX-License-Identifier: MIT */
/* Client watches: duplicating and checking a workload's DRM file. */
#include "attach.h"
#include "plugin_mock.h"
#include "test-main.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

START_TEST(dup_from_a_process) {
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  int d = xw_client_dup(getpid(), p[1]);
  ck_assert_int_ge(d, 0);
  ck_assert_int_eq(write(d, "x", 1), 1); /* the same pipe */
  char c;
  ck_assert_int_eq(read(p[0], &c, 1), 1);
  ck_assert_int_eq(fcntl(d, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  close(d);
  close(p[0]);
  close(p[1]);
  ck_assert_int_eq(xw_client_dup(getpid(), 9999), -EBADF);
  ck_assert_int_eq(xw_client_dup(4194304 + 1, 0), -ESRCH);
}
END_TEST

static Suite *attach_suite(void) {
  Suite *s = suite_create("attach");
  TCase *tc = tcase_create("dup");
  tcase_add_test(tc, dup_from_a_process);
  suite_add_tcase(s, tc);
  return s;
}

XW_SUITE(attach_suite)
