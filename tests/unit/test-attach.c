/* SPDX-License-Identifier: MIT */
/* Client watches: whether attaching can work here at all. */
#include "attach.h"
#include "plugin_mock.h"
#include "test-main.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];

static void setup(void) {
  snprintf(root, sizeof(root), "%s/xw-ns.XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(root));
}

static void teardown(void) {
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
  ck_assert_int_eq(system(cmd), 0);
}

static void self_link(long pid) {
  char path[512], target[32];
  snprintf(path, sizeof(path), "%s/self", root);
  snprintf(target, sizeof(target), "%ld", pid);
  unlink(path);
  ck_assert_int_eq(symlink(target, path), 0);
}

static void init_ns(const char *ns) {
  char path[512];
  snprintf(path, sizeof(path), "%s/1", root);
  mkdir(path, 0755);
  snprintf(path, sizeof(path), "%s/1/ns", root);
  mkdir(path, 0755);
  snprintf(path, sizeof(path), "%s/1/ns/pid", root);
  unlink(path);
  ck_assert_int_eq(symlink(ns, path), 0);
}

START_TEST(probe_this_namespace) {
  char why[512];
  bool no_ptrace;
  ck_assert_int_eq(xw_attach_probe("/proc", why, sizeof(why), &no_ptrace), 0);
  ck_assert_str_eq(why, "");
  /* A fixture that says nothing about namespaces: no reason to refuse. */
  ck_assert_int_eq(xw_attach_probe(root, why, sizeof(why), &no_ptrace), 0);
  self_link(getpid());
  ck_assert_int_eq(xw_attach_probe(root, why, sizeof(why), &no_ptrace), 0);
  char ours[64];
  ssize_t n = readlink("/proc/self/ns/pid", ours, sizeof(ours) - 1);
  if (n > 0) {
    ours[n] = '\0';
    init_ns(ours);
    ck_assert_int_eq(xw_attach_probe(root, why, sizeof(why), &no_ptrace), 0);
  }
}
END_TEST

/* A host /proc in a container with its own PID namespace: our pid there is
 * not getpid(). */
START_TEST(probe_our_pid_differs) {
  char why[512];
  bool no_ptrace;
  self_link((long)getpid() + 100000);
  ck_assert_int_eq(xw_attach_probe(root, why, sizeof(why), &no_ptrace), -EXDEV);
  ck_assert_ptr_nonnull(strstr(why, "another PID namespace"));
  ck_assert_ptr_nonnull(strstr(why, "hostPID: true"));
  ck_assert_ptr_nonnull(strstr(why, "--pid=host"));
  ck_assert_ptr_nonnull(strstr(why, root));
}
END_TEST

/* ProcRoot's init lives in another PID namespace than ours. */
START_TEST(probe_init_elsewhere) {
  char why[512];
  bool no_ptrace;
  init_ns("pid:[1]");
  ck_assert_int_eq(xw_attach_probe(root, why, sizeof(why), &no_ptrace), -EXDEV);
  ck_assert_ptr_nonnull(strstr(why, "hostPID: true"));
}
END_TEST

static Suite *attach_suite(void) {
  Suite *s = suite_create("attach");
  TCase *tc = xw_tcase("probe");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, probe_this_namespace);
  tcase_add_test(tc, probe_our_pid_differs);
  tcase_add_test(tc, probe_init_elsewhere);
  suite_add_tcase(s, tc);
  return s;
}

XW_SUITE(attach_suite)
