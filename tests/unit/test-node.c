/* SPDX-License-Identifier: MIT */
/* Primary node -> render node, through a sysfs tree made in a temporary
 * directory (the node itself is /dev/null, a character device any user can
 * stat: the tree decides what it is). */
#include "node.h"
#include "test-main.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static char root[PATH_MAX];
static char chardir[PATH_MAX + 32];

static void mkdirs(const char *rel) {
  char p[PATH_MAX * 2];
  snprintf(p, sizeof(p), "%s/%s", root, rel);
  for (char *s = p + strlen(root) + 1; (s = strchr(s, '/')) != NULL; s++) {
    *s = '\0';
    mkdir(p, 0755);
    *s = '/';
  }
  mkdir(p, 0755);
}

static void setup(void) {
  snprintf(root, sizeof(root), "/tmp/xw-node-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(root));
  struct stat st;
  ck_assert_int_eq(stat("/dev/null", &st), 0);
  mkdirs("dev/char");
  snprintf(chardir, sizeof(chardir), "%s/dev/char/%u:%u", root,
           major(st.st_rdev), minor(st.st_rdev));
}

static void teardown(void) {
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
  ck_assert_int_eq(system(cmd), 0);
}

/* /sys/dev/char/M:m -> ../../devices/pci0000:00/0000:03:00.0/drm/<name>,
 * with device -> the PCI function, whose drm/ holds card0 and renders. */
static void gpu(const char *name, const char *render) {
  mkdirs("devices/pci0000:00/0000:03:00.0/drm");
  char p[PATH_MAX * 2];
  snprintf(p, sizeof(p), "devices/pci0000:00/0000:03:00.0/drm/%s", name);
  mkdirs(p);
  if (render != NULL) {
    snprintf(p, sizeof(p), "devices/pci0000:00/0000:03:00.0/drm/%s", render);
    mkdirs(p);
  }
  snprintf(p, sizeof(p), "%s/devices/pci0000:00/0000:03:00.0/drm/%s/device",
           root, name);
  ck_assert_int_eq(symlink("../../../0000:03:00.0", p), 0);
  snprintf(p, sizeof(p), "../../devices/pci0000:00/0000:03:00.0/drm/%s", name);
  ck_assert_int_eq(symlink(p, chardir), 0);
}

START_TEST(primary_goes_through_render_node) {
  gpu("card0", "renderD128");
  char out[PATH_MAX];
  ck_assert_int_eq(xw_node_render_of("/dev/null", root, out, sizeof(out)), 1);
  ck_assert_str_eq(out, "/dev/renderD128");
}
END_TEST

START_TEST(render_node_is_used_as_is) {
  gpu("renderD128", NULL);
  char out[PATH_MAX] = "";
  ck_assert_int_eq(xw_node_render_of("/dev/null", root, out, sizeof(out)), 0);
}
END_TEST

/* A primary node whose GPU shows no render node must not be opened. */
START_TEST(primary_without_render_node_is_refused) {
  gpu("card1", NULL);
  char out[PATH_MAX];
  ck_assert_int_eq(xw_node_render_of("/dev/null", root, out, sizeof(out)),
                   -ENOENT);
}
END_TEST

/* Nothing in sysfs for a device that is not DRM's: open it as configured
 * (xw_device_open then says what it is). */
START_TEST(unknown_or_missing_nodes_pass_through) {
  char out[PATH_MAX];
  ck_assert_int_eq(xw_node_render_of("/dev/null", root, out, sizeof(out)), 0);
  ck_assert_int_eq(
      xw_node_render_of("/nonexistent/renderD128", root, out, sizeof(out)), 0);
}
END_TEST

static Suite *node_suite(void) {
  Suite *s = suite_create("node");
  TCase *tc = tcase_create("primary");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, primary_goes_through_render_node);
  tcase_add_test(tc, render_node_is_used_as_is);
  tcase_add_test(tc, primary_without_render_node_is_refused);
  tcase_add_test(tc, unknown_or_missing_nodes_pass_through);
  suite_add_tcase(s, tc);
  return s;
}
XW_SUITE(node_suite)
