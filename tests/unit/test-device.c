/* SPDX-License-Identifier: MIT */
#include "device.h"
#include "dispatch.h"
#include "listener.h"
#include "options.h"
#include "plugin_mock.h"
#include "test-main.h"

#include "utils/common/common.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

START_TEST(missing_node) {
  struct xw_identity id;
  enum xw_stage st;
  ck_assert_int_eq(xw_device_open("/nonexistent/renderD200", &id, &st),
                   -ENOENT);
  ck_assert_int_eq(st, XW_STAGE_OPEN);
}
END_TEST

START_TEST(not_a_drm_device) {
  struct xw_identity id;
  enum xw_stage st;
  int r = xw_device_open("/dev/null", &id, &st);
  ck_assert_int_eq(r, -ENOTTY);
  ck_assert_int_eq(st, XW_STAGE_VERSION);
}
END_TEST

/* Only ENODEV means unplugged: any other failure (here ENOTTY from a file
 * that is no DRM device) must not end a working watch. */
START_TEST(gone_only_on_enodev) {
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  ck_assert(!xw_device_gone(fd));
  close(fd);
}
END_TEST

static const struct {
  enum xw_stage stage;
  int err;
  const char *says;
} texts[] = {
    {XW_STAGE_OPEN, -ENOENT, "no such device node (ENOENT)"},
    {XW_STAGE_OPEN, -EACCES, "permission denied"},
    {XW_STAGE_VERSION, -ENOTTY, "not a DRM device"},
    {XW_STAGE_DRIVER, -ENODEV, "driven by 'i915', not 'xe'"},
    {XW_STAGE_PIPE, -ENOPKG, "CONFIG_WATCH_QUEUE"},
    {XW_STAGE_PIPE, -EMFILE, "EMFILE"},
    {XW_STAGE_SIZE, -EPERM, "pipe-user-pages-soft"},
    {XW_STAGE_SUBSCRIBE, -EINVAL, "no watch queue ioctl"},
    {XW_STAGE_SUBSCRIBE, -ENODEV, "the device is gone"},
    {XW_STAGE_READ, 0, "end of file"},
    {XW_STAGE_REMOVED, 0, "removal record"},
    {XW_STAGE_UNPLUGGED, 0, "udev removed the node"},
    {XW_STAGE_UNPLUGGED, -ENODEV, "answers ENODEV"},
};

START_TEST(failure_texts) {
  char buf[256];
  xw_failure_text(texts[_i].stage, texts[_i].err, "i915", 256, buf,
                  sizeof(buf));
  ck_assert_msg(strstr(buf, texts[_i].says) != NULL, "\"%s\" lacks \"%s\"", buf,
                texts[_i].says);
}
END_TEST

START_TEST(errno_names) {
  char b[16];
  ck_assert_str_eq(xw_errno_name(-ENOMEM, b, sizeof(b)), "ENOMEM");
  ck_assert_str_eq(xw_errno_name(ENOSPC, b, sizeof(b)), "ENOSPC");
  ck_assert_str_eq(xw_errno_name(-4000, b, sizeof(b)), "E4000");
}
END_TEST

/* ---- naming from sysfs, without opening the node ------------------------
 * A sysfs tree in a temporary directory: /dev/null (1:3) and /dev/zero (1:5)
 * are nodes of the PCI GPU 0000:03:00.0, /dev/full (1:7) a platform device. */

static char root[64], link_null[96];

static void mkpath(const char *rel) {
  char cmd[256];
  snprintf(cmd, sizeof(cmd), "mkdir -p '%s/%s'", root, rel);
  ck_assert_int_eq(system(cmd), 0);
}

static void mklink(const char *target, const char *rel) {
  char path[256];
  snprintf(path, sizeof(path), "%s/%s", root, rel);
  ck_assert_int_eq(symlink(target, path), 0);
}

static void sysfs_setup(void) {
  sstrncpy(root, "/tmp/xw-sysfs.XXXXXX", sizeof(root));
  ck_assert_ptr_nonnull(mkdtemp(root));
  const char *gpu = "devices/pci0000:00/0000:03:00.0";
  char p[128];
  snprintf(p, sizeof(p), "%s/drm/renderD128", gpu);
  mkpath(p);
  snprintf(p, sizeof(p), "%s/drm/card0", gpu);
  mkpath(p);
  mkpath("bus/pci");
  mkpath("bus/platform");
  mkpath("devices/platform/vkms/drm/card1");
  mkpath("dev/char");
  snprintf(p, sizeof(p), "%s/subsystem", gpu);
  mklink("../../../bus/pci", p);
  snprintf(p, sizeof(p), "%s/drm/renderD128/device", gpu);
  mklink("../../../0000:03:00.0", p);
  snprintf(p, sizeof(p), "%s/drm/card0/device", gpu);
  mklink("../../../0000:03:00.0", p);
  mklink("../../../bus/platform", "devices/platform/vkms/subsystem");
  mklink("../../../vkms", "devices/platform/vkms/drm/card1/device");
  mklink("../../devices/pci0000:00/0000:03:00.0/drm/renderD128",
         "dev/char/1:3");
  mklink("../../devices/pci0000:00/0000:03:00.0/drm/card0", "dev/char/1:5");
  mklink("../../devices/platform/vkms/drm/card1", "dev/char/1:7");
  snprintf(link_null, sizeof(link_null), "%s/by-path-link", root);
  ck_assert_int_eq(symlink("/dev/null", link_null), 0);
  xw_set_sysfs_root(root);
}

static void sysfs_teardown(void) {
  xw_set_sysfs_root(NULL);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
  ck_assert_int_eq(system(cmd), 0);
}

START_TEST(pci_slot_by_device_number) {
  char slot[XW_NAME_LEN];
  ck_assert_int_eq(xw_node_pci_slot("/dev/null", slot, sizeof(slot)), 0);
  ck_assert_str_eq(slot, "0000:03:00.0");
  ck_assert_int_eq(xw_node_pci_slot(link_null, slot, sizeof(slot)), 0);
  ck_assert_str_eq(slot, "0000:03:00.0");
  ck_assert_int_eq(xw_node_pci_slot("/dev/full", slot, sizeof(slot)), -ENODEV);
  ck_assert_int_eq(xw_node_pci_slot(root, slot, sizeof(slot)), -ENOTTY);
  ck_assert_int_eq(
      xw_node_pci_slot("/nonexistent/renderD128", slot, sizeof(slot)), -ENOENT);
}
END_TEST

/* A device that cannot be opened at start is already named by its GPU: the
 * FAILURE, and the OKAY once it comes up, name the same plugin_instance. */
START_TEST(failed_device_named_by_gpu) {
  struct xw_device *dev = xw_device_new("/dev/null", 0);
  ck_assert_ptr_nonnull(dev);
  struct xw_config cfg;
  xw_config_init(&cfg);
  struct xw_dispatcher *d;
  ck_assert_int_eq(xw_dispatcher_create(&d, &cfg, &dev, 1, NULL, -1), 0);
  xw_device_set_state(dev, XW_DEV_RETRYING);
  xw_dispatcher_run_once(d, TIME_T_TO_CDTIME_T(1));
  xw_device_set_state(dev, XW_DEV_LISTENING);
  xw_dispatcher_run_once(d, TIME_T_TO_CDTIME_T(2));
  ck_assert_uint_eq(mock_nnotifs, 2);
  ck_assert_str_eq(mock_notifs[0].n.plugin_instance, "0000:03:00.0");
  ck_assert_str_eq(mock_notifs[1].n.plugin_instance, "0000:03:00.0");
  xw_dispatcher_destroy(d);
  xw_device_free(dev);
  /* Not on PCI: the node's own name, as before. */
  dev = xw_device_new("/dev/full", 0);
  ck_assert_str_eq(dev->name, "full");
  xw_device_free(dev);
}
END_TEST

/* One GPU listed several ways is watched once; the render node is kept. */
/* A by-path link that dangles at start (driver not bound yet) still names
 * its GPU by slot, so the later OKAY resolves the same alert. */
START_TEST(dangling_by_path_named_by_slot) {
  char name[XW_NAME_LEN];
  xw_node_display_name("/nonexistent/by-path/pci-0000:00:02.0-render", name,
                       sizeof(name));
  ck_assert_str_eq(name, "0000:00:02.0");
  xw_node_display_name("/nonexistent/by-path/pci-0000:0a:1f.7-card", name,
                       sizeof(name));
  ck_assert_str_eq(name, "0000:0a:1f.7");
  xw_node_display_name("/nonexistent/by-path/pci-0000:00:02.0-renderx", name,
                       sizeof(name));
  ck_assert_str_eq(name, "pci-0000:00:02.0-renderx");
  xw_node_display_name("/nonexistent/renderD129", name, sizeof(name));
  ck_assert_str_eq(name, "renderD129");
}
END_TEST

START_TEST(same_gpu_listed_twice) {
  struct xw_config cfg;
  xw_config_init(&cfg);
  const char *nodes[] = {"/dev/null",
                         "/dev//null",
                         link_null,
                         "/dev/zero",
                         "/dev/full",
                         "/dev/./full",
                         "/nonexistent/renderD130"};
  for (size_t i = 0; i < STATIC_ARRAY_SIZE(nodes); i++)
    ck_assert_int_eq(xw_config_add_device(&cfg, nodes[i]), 0);
  xw_config_dedupe(&cfg);
  ck_assert_uint_eq(cfg.ndevices, 3);
  /* /dev/zero (1:5) plays the card node of /dev/null's GPU; neither minor
   * is a render node's (>= 128), so the first listed stays. */
  ck_assert_str_eq(cfg.devices[0], "/dev/null");
  ck_assert_str_eq(cfg.devices[1], "/dev/full");
  ck_assert_str_eq(cfg.devices[2], "/nonexistent/renderD130");
  ck_assert_int_ge(mock_log_find(LOG_WARNING,
                                 "Device \"/dev/zero\" dropped: it is "
                                 "another node of the same GPU (PCI "
                                 "0000:03:00.0) as Device \"/dev/null\""),
                   0);
  ck_assert_int_ge(mock_log_find(LOG_WARNING,
                                 "Device \"/dev//null\" dropped: it is the "
                                 "same device node"),
                   0);
  ck_assert_int_ge(mock_log_find(LOG_WARNING, "Device \"/dev/./full\" "
                                              "dropped: it is the same "
                                              "device node (1:7)"),
                   0);
  xw_config_free(&cfg);
}
END_TEST

/* Of a GPU's card and render node, the render node is kept whatever the
 * order: opening a card node first makes the opener DRM master. */
START_TEST(render_node_kept_over_card) {
  char card[128], render[128];
  snprintf(card, sizeof(card), "%s/card0", root);
  snprintf(render, sizeof(render), "%s/renderD128", root);
  if (mknod(card, S_IFCHR | 0600, makedev(226, 0)) != 0 ||
      mknod(render, S_IFCHR | 0600, makedev(226, 128)) != 0)
    return; /* not root: nothing to test with */
  mklink("../../devices/pci0000:00/0000:03:00.0/drm/card0", "dev/char/226:0");
  mklink("../../devices/pci0000:00/0000:03:00.0/drm/renderD128",
         "dev/char/226:128");
  struct xw_config cfg;
  xw_config_init(&cfg);
  ck_assert_int_eq(xw_config_add_device(&cfg, card), 0);
  ck_assert_int_eq(xw_config_add_device(&cfg, render), 0);
  xw_config_dedupe(&cfg);
  ck_assert_uint_eq(cfg.ndevices, 1);
  ck_assert_str_eq(cfg.devices[0], render);
  char says[512];
  snprintf(says, sizeof(says),
           "Device \"%s\" dropped: it is another node of "
           "the same GPU (PCI 0000:03:00.0) as Device \"%s\"",
           card, render);
  ck_assert_int_ge(mock_log_find(LOG_WARNING, says), 0);
  xw_config_free(&cfg);
}
END_TEST

static Suite *device_suite(void) {
  Suite *s = suite_create("device");
  TCase *tc = xw_tcase("identity");
  tcase_add_test(tc, missing_node);
  tcase_add_test(tc, not_a_drm_device);
  tcase_add_test(tc, gone_only_on_enodev);
  tcase_add_loop_test(tc, failure_texts, 0,
                      (int)(sizeof(texts) / sizeof(texts[0])));
  tcase_add_test(tc, errno_names);
  suite_add_tcase(s, tc);
  tc = xw_tcase("sysfs");
  tcase_add_checked_fixture(tc, sysfs_setup, sysfs_teardown);
  tcase_add_test(tc, pci_slot_by_device_number);
  tcase_add_test(tc, failed_device_named_by_gpu);
  tcase_add_test(tc, dangling_by_path_named_by_slot);
  tcase_add_test(tc, same_gpu_listed_twice);
  tcase_add_test(tc, render_node_kept_over_card);
  suite_add_tcase(s, tc);
  return s;
}
XW_SUITE(device_suite)
