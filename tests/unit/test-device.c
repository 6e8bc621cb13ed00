/* SPDX-License-Identifier: MIT */
#include "device.h"
#include "plugin_mock.h"
#include "test-main.h"

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
  return s;
}
XW_SUITE(device_suite)
