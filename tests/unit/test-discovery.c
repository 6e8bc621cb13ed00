/* SPDX-License-Identifier: MIT */
/* Workload discovery against a procfs fixture. */
#include "discovery.h"
#include "plugin_mock.h"
#include "test-main.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define ID64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ---- a procfs fixture ----------------------------------------------------
 */

static char root[256];

static void put(const char *rel, const char *text) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", root, rel);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
}

static void dir(const char *rel) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", root, rel);
  ck_assert_int_eq(mkdir(path, 0755), 0);
}

static void link_to(const char *rel, const char *target) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", root, rel);
  ck_assert_int_eq(symlink(target, path), 0);
}

static void proc(int pid, const char *comm, const char *cgroup) {
  char p[64];
  snprintf(p, sizeof(p), "%d", pid);
  dir(p);
  snprintf(p, sizeof(p), "%d/fd", pid);
  dir(p);
  snprintf(p, sizeof(p), "%d/fdinfo", pid);
  dir(p);
  snprintf(p, sizeof(p), "%d/comm", pid);
  put(p, comm);
  snprintf(p, sizeof(p), "%d/cgroup", pid);
  put(p, cgroup);
}

static void fd(int pid, int n, const char *link, const char *fdinfo) {
  char p[64];
  snprintf(p, sizeof(p), "%d/fd/%d", pid, n);
  link_to(p, link);
  snprintf(p, sizeof(p), "%d/fdinfo/%d", pid, n);
  put(p, fdinfo);
}

static void fixture_setup(void) {
  mock_reset();
  snprintf(root, sizeof(root), "%s/xw-proc.XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(root));
}

static void fixture_teardown(void) {
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
  ck_assert_int_eq(system(cmd), 0);
  mock_reset();
}

struct seen {
  struct xw_client c[16];
  int n;
};

static void collect(void *ctx, const struct xw_client *c) {
  struct seen *s = ctx;
  if (s->n < 16)
    s->c[s->n++] = *c;
}

START_TEST(scan_finds_xe_clients_once) {
  proc(100, "llama-server\n", "0::/system.slice/docker-" ID64 ".scope\n");
  fd(100, 0, "/dev/pts/0", "pos:\t0\n");
  fd(100, 5, "/dev/dri/renderD128",
     "drm-driver:\txe\ndrm-client-id:\t7\ndrm-pdev:\t0000:03:00.0\n");
  fd(100, 6, "/dev/dri/renderD128", /* a dup of the same file */
     "drm-driver:\txe\ndrm-client-id:\t7\ndrm-pdev:\t0000:03:00.0\n");
  fd(100, 7, "/dev/dri/card0",
     "drm-driver:\txe\ndrm-client-id:\t8\ndrm-pdev:\t0000:03:00.0\n");
  proc(200, "glxgears\n", "0::/user.slice\n");
  fd(200, 3, "/dev/dri/renderD129", "drm-driver:\ti915\ndrm-client-id:\t9\n");
  proc(300, "cat\n", "0::/\n");
  fd(300, 1, "/tmp/not-drm", "drm-driver:\txe\ndrm-client-id:\t10\n");
  dir("self-is-not-a-pid");

  struct seen s = {0};
  ck_assert_int_eq(xw_discovery_scan(root, "xe", NULL, 0, collect, &s), 2);
  ck_assert_int_eq(s.n, 2);
  uint64_t ids = 0;
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq(s.c[i].pid, 100);
    ck_assert_str_eq(s.c[i].comm, "llama-server");
    ck_assert_str_eq(s.c[i].cgroup, "/system.slice/docker-" ID64 ".scope");
    ck_assert_str_eq(s.c[i].container, ID64);
    ck_assert_str_eq(s.c[i].pdev, "0000:03:00.0");
    ids += s.c[i].client_id;
    if (s.c[i].client_id == 7)
      ck_assert_str_eq(s.c[i].link, "/dev/dri/renderD128");
  }
  ck_assert_uint_eq(ids, 15);
}
END_TEST

START_TEST(scan_skips_this_process) {
  char p[32];
  snprintf(p, sizeof(p), "%d", (int)getpid());
  proc((int)getpid(), "collectd\n", "0::/\n");
  fd((int)getpid(), 4, "/dev/dri/renderD128",
     "drm-driver:\txe\ndrm-client-id:\t1\n");
  struct seen s = {0};
  ck_assert_int_eq(xw_discovery_scan(root, "xe", NULL, 0, collect, &s), 0);
}
END_TEST

START_TEST(scan_of_a_missing_root) {
  struct seen s = {0};
  ck_assert_int_eq(
      xw_discovery_scan("/nonexistent/proc", "xe", NULL, 0, collect, &s),
      -ENOENT);
}
END_TEST

/* comm and cgroup are the workload's: escaped; the container id is
 * still found in the raw path. */
START_TEST(scan_escapes_workload_strings) {
  proc(100, "x\x1b[31mred\nERROR\n", "0::/a\tb/docker-" ID64 ".scope\n");
  fd(100, 5, "/dev/dri/renderD128", "drm-driver:\txe\ndrm-client-id:\t7\n");
  struct seen s = {0};
  ck_assert_int_eq(xw_discovery_scan(root, "xe", NULL, 0, collect, &s), 1);
  ck_assert_str_eq(s.c[0].comm, "x\\x1b[31mred\\x0aERROR");
  ck_assert_str_eq(s.c[0].cgroup, "/a\\x09b/docker-" ID64 ".scope");
  ck_assert_str_eq(s.c[0].container, ID64);
}
END_TEST

START_TEST(fdinfo_of_one_fd) {
  proc(100, "a\n", "0::/\n");
  fd(100, 5, "/dev/dri/renderD128",
     "drm-driver:\txe\ndrm-client-id:\t7\ndrm-pdev:\t0000:03:00.0\n");
  fd(100, 6, "/dev/null", "pos:\t0\n");
  struct xw_client c;
  ck_assert_int_eq(xw_discovery_fdinfo(root, 100, 5, &c), 0);
  ck_assert_uint_eq(c.client_id, 7);
  ck_assert_str_eq(c.driver, "xe");
  ck_assert_int_eq(xw_discovery_fdinfo(root, 100, 6, &c), -ENOENT);
  ck_assert_int_eq(xw_discovery_fdinfo(root, 100, 7, &c), -ENOENT);
  ck_assert_int_eq(xw_discovery_fdinfo(root, 101, 5, &c), -ENOENT);
}
END_TEST

/* Besides /dev/dri/, the configured nodes wherever they are. */
START_TEST(scan_knows_configured_nodes) {
  proc(100, "a\n", "0::/\n");
  fd(100, 5, "/srv/gpu/render0", "drm-driver:\txe\ndrm-client-id:\t7\n");
  struct seen s = {0};
  ck_assert_int_eq(xw_discovery_scan(root, "xe", NULL, 0, collect, &s), 0);
  const char *nodes[] = {"/srv/gpu/card0", "/srv/gpu/render0"};
  ck_assert_int_eq(xw_discovery_scan(root, "xe", nodes, 2, collect, &s), 1);
  ck_assert_str_eq(s.c[0].link, "/srv/gpu/render0");
}
END_TEST

static Suite *discovery_suite(void) {
  Suite *s = suite_create("discovery");
  TCase *tc = tcase_create("scan");
  tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
  tcase_add_test(tc, scan_finds_xe_clients_once);
  tcase_add_test(tc, scan_skips_this_process);
  tcase_add_test(tc, scan_of_a_missing_root);
  tcase_add_test(tc, scan_escapes_workload_strings);
  tcase_add_test(tc, fdinfo_of_one_fd);
  tcase_add_test(tc, scan_knows_configured_nodes);
  suite_add_tcase(s, tc);
  return s;
}

XW_SUITE(discovery_suite)
