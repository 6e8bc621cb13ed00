/* SPDX-License-Identifier: MIT */
#include "options.h"
#include "plugin_mock.h"
#include "test-main.h"

static struct xw_config cfg;

static int parse(oconfig_item_t *ci) {
  xw_config_init(&cfg);
  int r = xw_config_parse(&cfg, ci);
  if (r == 0)
    r = xw_config_validate(&cfg);
  mock_ci_free(ci);
  return r;
}

START_TEST(defaults_and_devices) {
  oconfig_item_t *ci = mock_ci_block("Plugin");
  mock_ci_add_string(ci, "Device", "/dev/dri/renderD128");
  mock_ci_add_string(ci, "Device", "/dev/dri/by-path/pci-0000:03:00.0-render");
  ck_assert_int_eq(parse(ci), 0);
  ck_assert_uint_eq(cfg.ndevices, 2);
  ck_assert_str_eq(cfg.devices[1], "/dev/dri/by-path/pci-0000:03:00.0-render");
  ck_assert_int_eq(cfg.queue_size, XW_DEFAULT_QUEUE_SIZE);
  ck_assert_int_eq(cfg.severity, NOTIF_FAILURE);
  ck_assert(cfg.send_notification && cfg.dispatch_values);
  ck_assert_uint_eq(cfg.notify_limit, XW_DEFAULT_NOTIFY_LIMIT);
  ck_assert(cfg.watch_clients); /* on by default */
  ck_assert_int_eq(cfg.max_per_process, 16);
  ck_assert_int_eq(cfg.max_per_cgroup, 64);
  xw_config_free(&cfg);
}
END_TEST

START_TEST(every_option) {
  oconfig_item_t *ci = mock_ci_block("Plugin");
  mock_ci_add_string(ci, "Device", "/dev/dri/renderD128");
  mock_ci_add_number(ci, "QueueSize", 512);
  mock_ci_add_string(ci, "Severity", "Warning");
  mock_ci_add_boolean(ci, "SendNotification", false);
  mock_ci_add_boolean(ci, "DispatchValues", true);
  mock_ci_add_number(ci, "RetryInterval", 0.5);
  mock_ci_add_number(ci, "MaxRetryInterval", 30);
  mock_ci_add_number(ci, "NotificationLimit", 0);
  mock_ci_add_number(ci, "NotificationWindow", 120);
  mock_ci_add_number(ci, "NotificationQueueLength", 100);
  mock_ci_add_boolean(ci, "WatchClients", true);
  mock_ci_add_string(ci, "ProcRoot", "/proc");
  mock_ci_add_number(ci, "ClientScanInterval", 2.5);
  mock_ci_add_string(ci, "ClientProcessMatch", "^(llama|vllm)");
  mock_ci_add_string(ci, "ClientCgroupMatch", "kubepods");
  mock_ci_add_number(ci, "MaxClientsPerProcess", 4);
  mock_ci_add_number(ci, "MaxClientsPerCgroup", 0);
  ck_assert_int_eq(parse(ci), 0);
  ck_assert_int_eq(cfg.max_per_process, 4);
  ck_assert_int_eq(cfg.max_per_cgroup, 0);
  ck_assert(cfg.watch_clients);
  ck_assert_str_eq(cfg.proc_root, "/proc");
  ck_assert_uint_eq(cfg.client_scan, DOUBLE_TO_CDTIME_T(2.5));
  ck_assert_str_eq(cfg.client_process, "^(llama|vllm)");
  ck_assert_str_eq(cfg.client_cgroup, "kubepods");
  ck_assert_int_eq(cfg.queue_size, 512);
  ck_assert_int_eq(cfg.severity, NOTIF_WARNING);
  ck_assert(!cfg.send_notification);
  ck_assert_uint_eq(cfg.retry_interval, DOUBLE_TO_CDTIME_T(0.5));
  ck_assert_uint_eq(cfg.retry_max, TIME_T_TO_CDTIME_T(30));
  ck_assert_uint_eq(cfg.notify_limit, 0);
  ck_assert_uint_eq(cfg.notify_window, TIME_T_TO_CDTIME_T(120));
  ck_assert_uint_eq(cfg.notify_queue, 100);
  xw_config_free(&cfg);
}
END_TEST

/* Each bad config is rejected with a message naming what to fix. */
static const struct {
  const char *key;
  int kind; /* 0 string, 1 number, 2 boolean */
  const char *s;
  double n;
  const char *says;
} bad[] = {
    {"QueueSize", 1, NULL, 0, "QueueSize 0 is out of range; use 1 to 512"},
    {"QueueSize", 1, NULL, 513, "QueueSize 513 is out of range; use 1 to 512"},
    {"QueueSize", 0, "big", 0, "QueueSize"},
    {"Severity", 0, "okay", 0, "use \"failure\" or \"warning\""},
    {"Device", 0, "renderD128", 0, "not an absolute path"},
    {"Device", 1, NULL, 128, "Device needs one string"},
    {"Frobnicate", 1, NULL, 1, "unknown option \"Frobnicate\""},
    {"RetryInterval", 1, NULL, 0, "RetryInterval must be a positive"},
    {"NotificationQueueLength", 1, NULL, 2, "use 16 to"},
    {"SendNotification", 0, "yes", 0, "SendNotification"},
    {"ProcRoot", 0, "host/proc", 0,
     "ProcRoot \"host/proc\" is not an absolute"},
    {"ClientProcessMatch", 0, "(llama", 0, "is not a valid extended regular"},
    {"ClientCgroupMatch", 0, "[", 0, "ClientCgroupMatch \"[\" is not a valid"},
    {"ClientScanInterval", 1, NULL, 0, "ClientScanInterval must be a positive"},
    /* What was written, not what an int or a cdtime_t made of it. */
    {"QueueSize", 1, NULL, 99999999999.0,
     "QueueSize 99999999999 is out of range; use 1 to 512"},
    {"QueueSize", 1, NULL, 2.7, "QueueSize 2.7 is not a whole number"},
    {"NotificationLimit", 1, NULL, 1.5, "NotificationLimit 1.5 is not a whole"},
    {"NotificationWindow", 1, NULL, 99999999999.0,
     "NotificationWindow 99999999999 is out of range; use 0.001 to 86400"},
    {"RetryInterval", 1, NULL, 90000, "RetryInterval 90000 is out of range"},
    {"MaxRetryInterval", 1, NULL, 1e12,
     "MaxRetryInterval 1000000000000 is out of"},
    {"ClientScanInterval", 1, NULL, 0.0001,
     "ClientScanInterval 0.0001 is out of range"},
    {"ProcRoot", 0, "/nonexistent/proc", 0,
     "ProcRoot \"/nonexistent/proc\" does not exist"},
    {"SysfsRoot", 0, "/nonexistent/sys", 0,
     "SysfsRoot \"/nonexistent/sys\" does not exist"},
    {"MaxClientsPerProcess", 1, NULL, 256, "use 0 to 255"},
    {"MaxClientsPerCgroup", 1, NULL, -1, "MaxClientsPerCgroup -1 is out of"},
};

START_TEST(bad_values_are_rejected) {
  mock_expect_errors();
  oconfig_item_t *ci = mock_ci_block("Plugin");
  mock_ci_add_string(ci, "Device", "/dev/dri/renderD128");
  if (bad[_i].kind == 0)
    mock_ci_add_string(ci, bad[_i].key, bad[_i].s);
  else if (bad[_i].kind == 1)
    mock_ci_add_number(ci, bad[_i].key, bad[_i].n);
  ck_assert_int_eq(parse(ci), -1);
  ck_assert_msg(mock_log_find(LOG_ERR, bad[_i].says) >= 0,
                "no error log saying \"%s\"", bad[_i].says);
  xw_config_free(&cfg);
}
END_TEST

/* Options that only matter with WatchClients are accepted, with a warning
 * that names what is missing. */
START_TEST(client_options_without_watch_clients) {
  oconfig_item_t *ci = mock_ci_block("Plugin");
  mock_ci_add_string(ci, "Device", "/dev/dri/renderD128");
  mock_ci_add_boolean(ci, "WatchClients", false);
  mock_ci_add_string(ci, "ClientProcessMatch", "^llama");
  mock_ci_add_string(ci, "ClientCgroupMatch", "kubepods");
  mock_ci_add_string(ci, "ProcRoot", "/proc");
  ck_assert_int_eq(parse(ci), 0);
  ck_assert_int_ge(mock_log_find(LOG_WARNING,
                                 "ClientProcessMatch does "
                                 "nothing with WatchClients false"),
                   0);
  ck_assert_int_ge(mock_log_find(LOG_WARNING, "ClientCgroupMatch does"), 0);
  ck_assert_int_ge(mock_log_find(LOG_WARNING, "ProcRoot does"), 0);
  xw_config_free(&cfg);
}
END_TEST

/* What a Device is can be told without opening it: said at configuration
 * time, as warnings (the listener retries whatever it finds). */
START_TEST(devices_checked_without_opening) {
  oconfig_item_t *ci = mock_ci_block("Plugin");
  mock_ci_add_string(ci, "Device", "/dev/null");
  mock_ci_add_string(ci, "Device", "/etc/passwd");
  mock_ci_add_string(ci, "Device", "/dev/dri/renderD250");
  ck_assert_int_eq(parse(ci), 0);
  ck_assert_int_ge(mock_log_find(LOG_WARNING, "Device \"/dev/null\" is not "
                                              "a DRM node (device 1:3"),
                   0);
  ck_assert_int_ge(mock_log_find(LOG_WARNING, "Device \"/etc/passwd\" is "
                                              "not a device node"),
                   0);
  ck_assert_int_lt(mock_log_find(-1, "renderD250"), 0);
  xw_config_free(&cfg);
}
END_TEST

START_TEST(no_device) {
  mock_expect_errors();
  oconfig_item_t *ci = mock_ci_block("Plugin");
  mock_ci_add_number(ci, "QueueSize", 64);
  ck_assert_int_eq(parse(ci), -1);
  ck_assert_int_ge(mock_log_find(LOG_ERR, "no Device configured"), 0);
  xw_config_free(&cfg);
}
END_TEST

START_TEST(auto_discover_needs_no_device) {
  oconfig_item_t *ci = mock_ci_block("Plugin");
  mock_ci_add_boolean(ci, "AutoDiscover", true);
  mock_ci_add_boolean(ci, "WatchUevents", false);
  ck_assert_int_eq(parse(ci), 0);
  ck_assert(cfg.auto_discover);
  ck_assert(!cfg.watch_uevents);
  ck_assert_uint_eq(cfg.ndevices, 0);
  xw_config_free(&cfg);
}
END_TEST

START_TEST(duplicate_device) {
  mock_expect_errors();
  oconfig_item_t *ci = mock_ci_block("Plugin");
  mock_ci_add_string(ci, "Device", "/dev/dri/renderD128");
  mock_ci_add_string(ci, "Device", "/dev/dri/renderD128");
  ck_assert_int_eq(parse(ci), -1);
  ck_assert_int_ge(mock_log_find(LOG_ERR, "listed twice"), 0);
  xw_config_free(&cfg);
}
END_TEST

START_TEST(retry_cap_below_interval) {
  mock_expect_errors();
  oconfig_item_t *ci = mock_ci_block("Plugin");
  mock_ci_add_string(ci, "Device", "/dev/dri/renderD128");
  mock_ci_add_number(ci, "RetryInterval", 10);
  mock_ci_add_number(ci, "MaxRetryInterval", 5);
  ck_assert_int_eq(parse(ci), -1);
  ck_assert_int_ge(mock_log_find(LOG_ERR, "raise MaxRetryInterval"), 0);
  xw_config_free(&cfg);
}
END_TEST

START_TEST(nothing_to_report) {
  mock_expect_errors();
  oconfig_item_t *ci = mock_ci_block("Plugin");
  mock_ci_add_string(ci, "Device", "/dev/dri/renderD128");
  mock_ci_add_boolean(ci, "SendNotification", false);
  mock_ci_add_boolean(ci, "DispatchValues", false);
  ck_assert_int_eq(parse(ci), -1);
  ck_assert_int_ge(mock_log_find(LOG_ERR, "nothing would be reported"), 0);
  xw_config_free(&cfg);
}
END_TEST

/* SeverityByErrno "NAME" "severity": a second string on the last child. */
static void add_errno_severity(oconfig_item_t *ci, const char *err,
                               const char *sev) {
  mock_ci_add_string(ci, "SeverityByErrno", err);
  oconfig_item_t *c = &ci->children[ci->children_num - 1];
  c->values = realloc(c->values, 2 * sizeof(*c->values));
  ck_assert_ptr_nonnull(c->values);
  c->values[1].type = OCONFIG_TYPE_STRING;
  c->values[1].value.string = strdup(sev);
  c->values_num = 2;
}

START_TEST(uapi_revision_option) {
  oconfig_item_t *ci = mock_ci_block("Plugin");
  mock_ci_add_string(ci, "Device", "/dev/dri/renderD128");
  ck_assert_int_eq(parse(ci), 0);
  ck_assert_ptr_eq(cfg.uapi, xw_uapi_default());
  xw_config_free(&cfg);

  ci = mock_ci_block("Plugin");
  mock_ci_add_string(ci, "Device", "/dev/dri/renderD128");
  mock_ci_add_string(ci, "UAPIRevision", "V2");
  ck_assert_int_eq(parse(ci), 0);
  ck_assert_str_eq(cfg.uapi->name, "v2");
  ck_assert_uint_eq(cfg.uapi->ioctl, 0x40106451);
  xw_config_free(&cfg);

  mock_expect_errors();
  ci = mock_ci_block("Plugin");
  mock_ci_add_string(ci, "Device", "/dev/dri/renderD128");
  mock_ci_add_string(ci, "UAPIRevision", "v3");
  ck_assert_int_eq(parse(ci), -1);
  ck_assert_int_ge(mock_log_find(LOG_ERR, "UAPIRevision \"v3\" is not "
                                          "known; this build knows "),
                   0);
  ck_assert_int_ge(mock_log_find(LOG_ERR, "\"v1\", \"v2\""), 0);
  xw_config_free(&cfg);
}
END_TEST

/* Built-in defaults: v1 kills a failed VM, so every errno is Severity
 * (FAILURE); v2 pauses a restartable VM after ENOMEM/ENOSPC, so those two
 * are WARNING. SeverityByErrno wins over both, Severity sets the rest. */
START_TEST(severity_per_errno) {
  oconfig_item_t *ci = mock_ci_block("Plugin");
  mock_ci_add_string(ci, "Device", "/dev/dri/renderD128");
  mock_ci_add_string(ci, "UAPIRevision", "v1");
  ck_assert_int_eq(parse(ci), 0);
  ck_assert_int_eq(xw_config_severity(&cfg, -ENOMEM), NOTIF_FAILURE);
  ck_assert_int_eq(xw_config_severity(&cfg, -ENOSPC), NOTIF_FAILURE);
  ck_assert_int_eq(xw_config_severity(&cfg, -EFAULT), NOTIF_FAILURE);
  xw_config_free(&cfg);

  ci = mock_ci_block("Plugin");
  mock_ci_add_string(ci, "Device", "/dev/dri/renderD128");
  mock_ci_add_string(ci, "UAPIRevision", "v2");
  ck_assert_int_eq(parse(ci), 0);
  ck_assert_int_eq(xw_config_severity(&cfg, -ENOMEM), NOTIF_WARNING);
  ck_assert_int_eq(xw_config_severity(&cfg, -ENOSPC), NOTIF_WARNING);
  ck_assert_int_eq(xw_config_severity(&cfg, -ETIME), NOTIF_FAILURE);
  ck_assert_int_eq(xw_config_severity(&cfg, -EFAULT), NOTIF_FAILURE);
  ck_assert_int_eq(xw_config_severity(&cfg, 0), NOTIF_FAILURE);
  xw_config_free(&cfg);

  ci = mock_ci_block("Plugin");
  mock_ci_add_string(ci, "Device", "/dev/dri/renderD128");
  add_errno_severity(ci, "ENOSPC", "failure");
  add_errno_severity(ci, "efault", "Warning");
  add_errno_severity(ci, "-62", "warning"); /* ETIME by number */
  mock_ci_add_string(ci, "Severity", "warning");
  add_errno_severity(ci, "EFAULT", "failure");  /* a later line wins */
  mock_ci_add_string(ci, "UAPIRevision", "v2"); /* order does not matter */
  ck_assert_int_eq(parse(ci), 0);
  ck_assert_int_eq(xw_config_severity(&cfg, -ENOSPC), NOTIF_FAILURE);
  ck_assert_int_eq(xw_config_severity(&cfg, -ENOMEM), NOTIF_WARNING);
  ck_assert_int_eq(xw_config_severity(&cfg, -EFAULT), NOTIF_FAILURE);
  ck_assert_int_eq(xw_config_severity(&cfg, -ETIME), NOTIF_WARNING);
  ck_assert_int_eq(xw_config_severity(&cfg, -EIO), NOTIF_WARNING);
  xw_config_free(&cfg);
}
END_TEST

START_TEST(severity_per_errno_rejects) {
  mock_expect_errors();
  oconfig_item_t *ci = mock_ci_block("Plugin");
  mock_ci_add_string(ci, "Device", "/dev/dri/renderD128");
  add_errno_severity(ci, "ENOTANERRNO", "warning");
  ck_assert_int_eq(parse(ci), -1);
  ck_assert_int_ge(mock_log_find(LOG_ERR, "\"ENOTANERRNO\" is not an errno"),
                   0);
  xw_config_free(&cfg);

  ci = mock_ci_block("Plugin");
  mock_ci_add_string(ci, "Device", "/dev/dri/renderD128");
  add_errno_severity(ci, "ENOMEM", "okay");
  ck_assert_int_eq(parse(ci), -1);
  ck_assert_int_ge(mock_log_find(LOG_ERR, "severity \"okay\" is not known"), 0);
  xw_config_free(&cfg);

  ci = mock_ci_block("Plugin");
  mock_ci_add_string(ci, "Device", "/dev/dri/renderD128");
  mock_ci_add_string(ci, "SeverityByErrno", "ENOMEM");
  ck_assert_int_eq(parse(ci), -1);
  ck_assert_int_ge(mock_log_find(LOG_ERR, "SeverityByErrno needs two strings"),
                   0);
  xw_config_free(&cfg);
}
END_TEST

static Suite *config_suite(void) {
  Suite *s = suite_create("config");
  TCase *tc = xw_tcase("parse");
  tcase_add_test(tc, defaults_and_devices);
  tcase_add_test(tc, every_option);
  tcase_add_test(tc, uapi_revision_option);
  tcase_add_test(tc, severity_per_errno);
  tcase_add_test(tc, severity_per_errno_rejects);
  tcase_add_loop_test(tc, bad_values_are_rejected, 0,
                      (int)(sizeof(bad) / sizeof(bad[0])));
  tcase_add_test(tc, no_device);
  tcase_add_test(tc, client_options_without_watch_clients);
  tcase_add_test(tc, devices_checked_without_opening);
  tcase_add_test(tc, duplicate_device);
  tcase_add_test(tc, auto_discover_needs_no_device);
  tcase_add_test(tc, retry_cap_below_interval);
  tcase_add_test(tc, nothing_to_report);
  suite_add_tcase(s, tc);
  return s;
}
XW_SUITE(config_suite)
