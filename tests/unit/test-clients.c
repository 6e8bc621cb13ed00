/* SPDX-License-Identifier: MIT */
#include "clients.h"
#include "plugin_mock.h"
#include "test-main.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char xe_fdinfo[] = "pos:\t0\n"
                                "flags:\t02100002\n"
                                "mnt_id:\t24\n"
                                "ino:\t1057\n"
                                "drm-driver:\txe\n"
                                "drm-client-id:\t42\n"
                                "drm-pdev:\t0000:03:00.0\n"
                                "drm-total-system:\t0\n"
                                "drm-engine-rcs:\t123 ns\n";

START_TEST(fdinfo_xe_client) {
  struct xw_client c;
  ck_assert_int_eq(xw_fdinfo_parse(xe_fdinfo, &c), 1);
  ck_assert_str_eq(c.driver, "xe");
  ck_assert_str_eq(c.pdev, "0000:03:00.0");
  ck_assert_uint_eq(c.client_id, 42);
}
END_TEST

START_TEST(fdinfo_not_a_client) {
  struct xw_client c;
  ck_assert_int_eq(xw_fdinfo_parse("pos:\t0\nflags:\t02\n", &c), 0);
  ck_assert_int_eq(xw_fdinfo_parse("drm-driver:\txe\n", &c), 0); /* no id */
  ck_assert_int_eq(xw_fdinfo_parse("drm-driver:\txe\ndrm-client-id:\tx1\n", &c),
                   0);
  ck_assert_int_eq(xw_fdinfo_parse("", &c), 0);
  /* A key that only starts like ours is not ours. */
  ck_assert_int_eq(
      xw_fdinfo_parse("drm-driver-x:\txe\ndrm-client-id:\t1\n", &c), 0);
}
END_TEST

START_TEST(fdinfo_other_driver) {
  struct xw_client c;
  ck_assert_int_eq(xw_fdinfo_parse("drm-driver: i915\ndrm-client-id: 7\n", &c),
                   1);
  ck_assert_str_eq(c.driver, "i915");
  ck_assert_str_eq(c.pdev, "");
  ck_assert_uint_eq(c.client_id, 7);
}
END_TEST

START_TEST(cgroup_paths) {
  char out[XW_CGROUP_LEN];
  xw_cgroup_path("0::/system.slice/llama.service\n", out, sizeof(out));
  ck_assert_str_eq(out, "/system.slice/llama.service");
  xw_cgroup_path("12:cpu,cpuacct:/user.slice\n0::/user.slice/x.scope\n", out,
                 sizeof(out));
  ck_assert_str_eq(out, "/user.slice/x.scope");
  xw_cgroup_path("5:memory:/docker/abc\n", out, sizeof(out));
  ck_assert_str_eq(out, "/docker/abc");
  xw_cgroup_path("", out, sizeof(out));
  ck_assert_str_eq(out, "");
}
END_TEST

#define ID64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

START_TEST(container_ids) {
  char out[XW_CONTAINER_LEN];
  xw_container_id("/system.slice/docker-" ID64 ".scope", out, sizeof(out));
  ck_assert_str_eq(out, ID64);
  xw_container_id("/kubepods.slice/kubepods-burstable.slice/"
                  "cri-containerd-" ID64 ".scope",
                  out, sizeof(out));
  ck_assert_str_eq(out, ID64);
  xw_container_id("/docker/" ID64, out, sizeof(out));
  ck_assert_str_eq(out, ID64);
  xw_container_id("/system.slice/sshd.service", out, sizeof(out));
  ck_assert_str_eq(out, "");
  /* 63 or 65 hex digits are not a container id. */
  xw_container_id("/docker-" ID64 "a.scope", out, sizeof(out));
  ck_assert_str_eq(out, "");
  char short_id[80];
  snprintf(short_id, sizeof(short_id), "/docker-%.63s.scope", ID64);
  xw_container_id(short_id, out, sizeof(out));
  ck_assert_str_eq(out, "");
}
END_TEST

/* A workload names itself: control characters must not reach a log line,
 * a notification message or meta as such. */
START_TEST(escape_control_characters) {
  char out[XW_COMM_LEN];
  const char evil[] = "job\n[ERROR] xe_watch plugin: fake\x1b[2J\x7f";
  xw_escape_ctl(evil, sizeof(evil) - 1, out, sizeof(out));
  ck_assert_str_eq(out, "job\\x0a[ERROR] xe_watch plugin: fake\\x1b[2J\\x7f");
  /* Plain text, systemd's own \x2d escapes and UTF-8 pass unchanged. */
  const char ok[] = "/system.slice/dev-disk-by\\x2dlabel.swap/caf\xc3\xa9";
  xw_escape_ctl(ok, sizeof(ok) - 1, out, sizeof(out));
  ck_assert_str_eq(out, ok);
  /* n bounds the input; a NUL ends it early. */
  xw_escape_ctl("abc\tdef", 4, out, sizeof(out));
  ck_assert_str_eq(out, "abc\\x09");
  xw_escape_ctl("ab\0cd", 5, out, sizeof(out));
  ck_assert_str_eq(out, "ab");
  /* Too short: never half an escape. */
  char small[6];
  xw_escape_ctl("ab\ncd", 5, small, sizeof(small));
  ck_assert_str_eq(small, "ab");
  xw_escape_ctl("a\nb", 3, small, sizeof(small));
  ck_assert_str_eq(small, "a\\x0a");
}
END_TEST

static Suite *clients_suite(void) {
  Suite *s = suite_create("clients");
  TCase *tc = xw_tcase("parse");
  tcase_add_test(tc, fdinfo_xe_client);
  tcase_add_test(tc, fdinfo_not_a_client);
  tcase_add_test(tc, fdinfo_other_driver);
  tcase_add_test(tc, cgroup_paths);
  tcase_add_test(tc, container_ids);
  tcase_add_test(tc, escape_control_characters);
  suite_add_tcase(s, tc);
  return s;
}

XW_SUITE(clients_suite)
