/* SPDX-License-Identifier: MIT */
#include "dispatch.h"
#include "notify.h"
#include "plugin_mock.h"
#include "test-main.h"

START_TEST(vm_err_notification) {
  struct xw_qitem it = {.time = TIME_T_TO_CDTIME_T(1000),
                        .device = 0,
                        .vm_id = 3,
                        .error_code = -ENOMEM,
                        .watch_id = 0};
  xw_notify_vm_err("0000:03:00.0", "/dev/dri/renderD128", &it, NULL,
                   NOTIF_FAILURE, 1, TIME_T_TO_CDTIME_T(60));
  ck_assert_uint_eq(mock_nnotifs, 1);
  const notification_t *n = &mock_notifs[0].n;
  ck_assert_int_eq(n->severity, NOTIF_FAILURE);
  ck_assert_str_eq(n->message,
                   "VM 3 on 0000:03:00.0 failed: ENOMEM (Cannot allocate "
                   "memory)");
  ck_assert_str_eq(n->plugin, "xe_watch");
  ck_assert_str_eq(n->plugin_instance, "0000:03:00.0");
  ck_assert_str_eq(n->host, "mockhost");
  ck_assert_uint_eq(n->time, TIME_T_TO_CDTIME_T(1000));
  ck_assert_uint_eq(mock_meta(n, "vm_id")->nm_value.nm_unsigned_int, 3);
  ck_assert_int_eq(mock_meta(n, "error_code")->nm_value.nm_signed_int, -ENOMEM);
  ck_assert_str_eq(mock_meta(n, "errno")->nm_value.nm_string, "ENOMEM");
  ck_assert_str_eq(mock_meta(n, "device")->nm_value.nm_string,
                   "/dev/dri/renderD128");
}
END_TEST

START_TEST(unnamed_errno) {
  struct xw_qitem it = {.vm_id = 1, .error_code = -4000};
  xw_notify_vm_err("renderD128", "/dev/dri/renderD128", &it, NULL,
                   NOTIF_WARNING, 1, TIME_T_TO_CDTIME_T(60));
  const notification_t *n = &mock_notifs[0].n;
  ck_assert_int_eq(n->severity, NOTIF_WARNING);
  ck_assert_ptr_nonnull(strstr(n->message, "E4000"));
  ck_assert_str_eq(mock_meta(n, "errno")->nm_value.nm_string, "E4000");
}
END_TEST

START_TEST(device_values) {
  struct xw_device *d = xw_device_new("/dev/dri/renderD128", 0);
  atomic_store(&d->ctr.vm_err, 7);
  atomic_store(&d->ctr.lost, 2);
  atomic_store(&d->ctr.by_errno[ENOMEM], 5);
  atomic_store(&d->ctr.by_errno[ENOSPC], 1);
  atomic_store(&d->ctr.by_errno[0], 1);
  xw_dispatch_device_values("renderD128", &d->ctr, 4, true);
  ck_assert_int_eq(
      mock_value_find("renderD128", "errors", "vm_err")->value.derive, 7);
  ck_assert_int_eq(
      mock_value_find("renderD128", "errors", "lost")->value.derive, 2);
  ck_assert_int_eq(
      mock_value_find("renderD128", "errors", "suppressed")->value.derive, 4);
  ck_assert_int_eq(
      mock_value_find("renderD128", "errors", "vm_err-ENOMEM")->value.derive,
      5);
  ck_assert_int_eq(
      mock_value_find("renderD128", "errors", "vm_err-ENOSPC")->value.derive,
      1);
  ck_assert_int_eq(
      mock_value_find("renderD128", "errors", "vm_err-other")->value.derive, 1);
  /* Expected errnos exist from the start; others only once seen. */
  ck_assert_int_eq(
      mock_value_find("renderD128", "errors", "vm_err-ETIME")->value.derive, 0);
  ck_assert_ptr_null(mock_value_find("renderD128", "errors", "vm_err-EIO"));
  ck_assert(mock_value_find("renderD128", "gauge", "listening")->value.gauge ==
            1.0);
  xw_device_free(d);
}
END_TEST

/* doc/pipelines.md names the per-errno series that exist from the start;
 * they must be exactly the ones dispatched at 0. */
START_TEST(documented_errno_series_at_zero) {
  const char *src = getenv("XW_SRCDIR");
  if (src == NULL)
    return; /* run outside make check: no source tree to read */
  char path[512], doc[16384];
  snprintf(path, sizeof(path), "%s/doc/pipelines.md", src);
  FILE *f = fopen(path, "re");
  ck_assert_ptr_nonnull(f);
  size_t n = fread(doc, 1, sizeof(doc) - 1, f);
  fclose(f);
  doc[n] = '\0';
  /* "... exist from the start at 0:\n`ENOMEM`, `EFAULT`, ... ." */
  char *p = strstr(doc, "exist from the start at 0:");
  ck_assert_msg(p != NULL, "doc/pipelines.md no longer lists them");
  char *end = strchr(p, '.');
  ck_assert_ptr_nonnull(end);
  *end = '\0';
  char documented[256] = "";
  for (char *q = strchr(p, '`'); q != NULL; q = strchr(q, '`')) {
    char *close = strchr(q + 1, '`');
    ck_assert_ptr_nonnull(close);
    strncat(documented, q + 1, (size_t)(close - q - 1));
    strncat(documented, " ", 2);
    q = close + 1;
  }

  struct xw_counters c = {0};
  xw_dispatch_device_values("renderD128", &c, 0, true);
  char dispatched[256] = "";
  for (size_t i = 0; i < mock_nvalues; i++)
    if (strncmp(mock_values[i].type_instance, "vm_err-", 7) == 0) {
      strncat(dispatched, mock_values[i].type_instance + 7, 32);
      strncat(dispatched, " ", 2);
    }
  ck_assert_str_eq(documented, dispatched);
}
END_TEST

/* ---- the dispatcher, driven without its thread ---------------------------
 */

static struct xw_config cfg;
static struct xw_device *devs[2];
static struct xw_queue q;
static struct xw_dispatcher *disp;

static void disp_setup(void) {
  mock_reset();
  xw_config_init(&cfg);
  cfg.uapi = xw_uapi_find("v1"); /* whatever the build's default */
  cfg.notify_limit = 3;
  cfg.notify_window = TIME_T_TO_CDTIME_T(60);
  devs[0] = xw_device_new("/dev/dri/renderD128", 0);
  devs[1] = xw_device_new("/dev/dri/renderD129", 1);
  ck_assert_int_eq(xw_queue_init(&q, 64), 0);
  ck_assert_int_eq(xw_dispatcher_create(&disp, &cfg, devs, 2, &q, -1), 0);
}

static void disp_teardown(void) {
  xw_dispatcher_destroy(disp);
  xw_queue_destroy(&q);
  xw_device_free(devs[0]);
  xw_device_free(devs[1]);
  mock_check_no_unexpected_errors();
  mock_reset();
}

static void push(uint32_t dev, int32_t err, uint32_t vm) {
  struct xw_qitem it = {.device = dev, .error_code = err, .vm_id = vm};
  ck_assert(xw_queue_push(&q, &it));
}

static size_t count_type(const char *type_instance, int severity) {
  size_t n = 0;
  for (size_t i = 0; i < mock_nnotifs; i++)
    if (strcmp(mock_notifs[i].n.type_instance, type_instance) == 0 &&
        mock_notifs[i].n.severity == severity)
      n++;
  return n;
}

START_TEST(rate_limited_per_device_and_errno) {
  cdtime_t t0 = TIME_T_TO_CDTIME_T(5000);
  for (uint32_t i = 0; i < 10; i++)
    push(0, -ENOMEM, i);
  push(0, -ENOSPC, 99);
  push(1, -ENOMEM, 1);
  cdtime_t next = xw_dispatcher_run_once(disp, t0);
  /* 3 ENOMEM on dev 0, 1 ENOSPC on dev 0, 1 ENOMEM on dev 1. */
  ck_assert_uint_eq(count_type("vm_err", NOTIF_FAILURE), 5);
  ck_assert_uint_eq(xw_dispatcher_suppressed(disp, 0), 7);
  ck_assert_uint_eq(xw_dispatcher_suppressed(disp, 1), 0);
  ck_assert_uint_eq(next, t0 + cfg.notify_window);

  /* Nothing more before the window ends... */
  mock_reset();
  xw_dispatcher_run_once(disp, t0 + cfg.notify_window - 1);
  ck_assert_uint_eq(mock_nnotifs, 0);
  /* ...then one summary with the exact count. */
  xw_dispatcher_run_once(disp, t0 + cfg.notify_window);
  ck_assert_uint_eq(mock_nnotifs, 1);
  ck_assert_str_eq(mock_notifs[0].n.message,
                   "7 more VM errors (ENOMEM) on renderD128 suppressed in "
                   "the last 60 s; the errors-vm_err counters are exact");
  ck_assert_uint_eq(
      mock_meta(&mock_notifs[0].n, "suppressed")->nm_value.nm_unsigned_int, 7);
}
END_TEST

/* A storm that goes on past its window: the next error arrives before any
 * pass flushed the window, and the summary still goes out first. */
START_TEST(summary_survives_next_storm) {
  cdtime_t t0 = TIME_T_TO_CDTIME_T(5000);
  for (uint32_t i = 0; i < 10; i++)
    push(0, -ENOMEM, i);
  xw_dispatcher_run_once(disp, t0);
  ck_assert_uint_eq(count_type("vm_err", NOTIF_FAILURE), 3);

  mock_reset();
  push(0, -ENOMEM, 10);
  xw_dispatcher_run_once(disp, t0 + cfg.notify_window + 1);
  ck_assert_uint_eq(mock_nnotifs, 2);
  ck_assert_str_eq(mock_notifs[0].n.message,
                   "7 more VM errors (ENOMEM) on renderD128 suppressed in "
                   "the last 60 s; the errors-vm_err counters are exact");
  ck_assert_uint_eq(
      mock_meta(&mock_notifs[1].n, "vm_id")->nm_value.nm_unsigned_int, 10);
}
END_TEST

START_TEST(state_changes_notify_once) {
  xw_device_set_state(devs[0], XW_DEV_RETRYING);
  snprintf(devs[0]->cause, sizeof(devs[0]->cause), "no such device node");
  snprintf(devs[0]->cause_code, sizeof(devs[0]->cause_code), "ENOENT");
  xw_dispatcher_run_once(disp, TIME_T_TO_CDTIME_T(1));
  xw_dispatcher_run_once(disp, TIME_T_TO_CDTIME_T(2));
  ck_assert_uint_eq(mock_nnotifs, 1);
  const notification_t *n = &mock_notifs[0].n;
  ck_assert_int_eq(n->severity, NOTIF_FAILURE);
  ck_assert_str_eq(n->type_instance, "listening");
  ck_assert_str_eq(mock_meta(n, "cause_code")->nm_value.nm_string, "ENOENT");
  ck_assert_str_eq(n->message, "Not listening on renderD128 "
                               "(/dev/dri/renderD128): no such device node");

  /* Told again once a window while it lasts, not more often. */
  cdtime_t next = xw_dispatcher_run_once(disp, TIME_T_TO_CDTIME_T(30));
  ck_assert_uint_eq(mock_nnotifs, 1);
  ck_assert_uint_eq(next, TIME_T_TO_CDTIME_T(1) + cfg.notify_window);
  xw_dispatcher_run_once(disp, next);
  ck_assert_uint_eq(mock_nnotifs, 2);
  ck_assert_int_eq(mock_notifs[1].n.severity, NOTIF_FAILURE);

  xw_device_set_state(devs[0], XW_DEV_LISTENING);
  xw_dispatcher_run_once(disp, TIME_T_TO_CDTIME_T(100));
  ck_assert_uint_eq(mock_nnotifs, 3);
  ck_assert_int_eq(mock_notifs[2].n.severity, NOTIF_OKAY);
  /* Listening: nothing repeats. */
  xw_dispatcher_run_once(disp, TIME_T_TO_CDTIME_T(1000));
  ck_assert_uint_eq(mock_nnotifs, 3);
}
END_TEST

START_TEST(loss_warned_once_per_window) {
  atomic_store(&devs[1]->ctr.lost, 3);
  cdtime_t t0 = TIME_T_TO_CDTIME_T(100);
  xw_dispatcher_run_once(disp, t0);
  ck_assert_uint_eq(count_type("lost", NOTIF_WARNING), 1);
  ck_assert_ptr_nonnull(strstr(mock_notifs[0].n.message, "3 loss record(s)"));
  ck_assert_int_ge(mock_log_find(LOG_WARNING, "Raise QueueSize"), 0);

  atomic_store(&devs[1]->ctr.lost, 5);
  cdtime_t next = xw_dispatcher_run_once(disp, t0 + 1);
  ck_assert_uint_eq(count_type("lost", NOTIF_WARNING), 1); /* held back */
  ck_assert_uint_eq(next, t0 + cfg.notify_window);
  xw_dispatcher_run_once(disp, next);
  ck_assert_uint_eq(count_type("lost", NOTIF_WARNING), 2);
  ck_assert_ptr_nonnull(strstr(mock_notifs[1].n.message, "2 loss record(s)"));
}
END_TEST

START_TEST(send_notification_off) {
  cfg.send_notification = false;
  atomic_store(&devs[0]->ctr.lost, 1);
  xw_device_set_state(devs[0], XW_DEV_RETRYING);
  xw_dispatcher_run_once(disp, TIME_T_TO_CDTIME_T(1));
  ck_assert_uint_eq(mock_nnotifs, 0);
  ck_assert_int_ge(mock_log_find(LOG_WARNING, "loss record"), 0);
}
END_TEST

static uint64_t meta_u(size_t i, const char *name) {
  const notification_meta_t *m = mock_meta(&mock_notifs[i].n, name);
  ck_assert_msg(m != NULL, "no meta %s", name);
  return m->nm_value.nm_unsigned_int;
}

/* A VM that fails again and again (v2: paused, restarted, failing again) is
 * recognisable: each notification carries how often this VM of this DRM
 * file failed in the window, suppressed failures included; vm_id stays out
 * of every value. Severity follows the errno: v2's restartable ENOMEM is a
 * WARNING, EFAULT a FAILURE, and the summary keeps the errno's severity. */
START_TEST(repeats_and_severity_per_errno) {
  cfg.uapi = xw_uapi_find("v2");
  cdtime_t t0 = TIME_T_TO_CDTIME_T(5000);
  for (int i = 0; i < 5; i++) {
    struct xw_qitem it = {.device = 0,
                          .error_code = -ENOMEM,
                          .vm_id = 3,
                          .time = t0 + TIME_T_TO_CDTIME_T(i)};
    ck_assert(xw_queue_push(&q, &it));
  }
  struct xw_qitem other = {
      .device = 1, .error_code = -ENOMEM, .vm_id = 3, .time = t0};
  struct xw_qitem fault = {.device = 0,
                           .error_code = -EFAULT,
                           .vm_id = 3,
                           .time = t0 + TIME_T_TO_CDTIME_T(6)};
  ck_assert(xw_queue_push(&q, &other));
  ck_assert(xw_queue_push(&q, &fault));
  xw_dispatcher_run_once(disp, t0 + TIME_T_TO_CDTIME_T(6));

  ck_assert_uint_eq(mock_nnotifs, 5); /* 3 ENOMEM, 1 on dev 1, 1 EFAULT */
  for (size_t i = 0; i < 3; i++) {
    ck_assert_int_eq(mock_notifs[i].n.severity, NOTIF_WARNING);
    ck_assert_uint_eq(meta_u(i, "vm_failures_in_window"), i + 1);
  }
  ck_assert_str_eq(mock_notifs[2].n.message,
                   "VM 3 on renderD128 failed: ENOMEM (Cannot allocate "
                   "memory); failure 3 of this VM in 60 s");
  ck_assert_str_eq(mock_notifs[3].n.plugin_instance, "renderD129");
  ck_assert_uint_eq(meta_u(3, "vm_failures_in_window"), 1);
  ck_assert_int_eq(mock_notifs[4].n.severity, NOTIF_FAILURE);
  ck_assert_uint_eq(meta_u(4, "vm_failures_in_window"), 6);

  /* After the window: the summary of 2 suppressed ENOMEMs is a WARNING,
   * and the VM's count starts again. */
  mock_reset();
  xw_dispatcher_run_once(disp, t0 + TIME_T_TO_CDTIME_T(6) + cfg.notify_window);
  ck_assert_uint_eq(count_type("vm_err", NOTIF_WARNING), 1);
  ck_assert_ptr_nonnull(strstr(mock_notifs[0].n.message, "2 more VM errors"));
  struct xw_qitem later = {.device = 0,
                           .error_code = -ENOMEM,
                           .vm_id = 3,
                           .time = t0 + cfg.notify_window + 1};
  ck_assert(xw_queue_push(&q, &later));
  mock_reset();
  xw_dispatcher_run_once(disp, t0 + TIME_T_TO_CDTIME_T(7) + cfg.notify_window);
  ck_assert_uint_eq(mock_nnotifs, 1);
  ck_assert_uint_eq(meta_u(0, "vm_failures_in_window"), 1);
  ck_assert_str_eq(mock_notifs[0].n.message,
                   "VM 3 on renderD128 failed: ENOMEM (Cannot allocate "
                   "memory)");
}
END_TEST

static Suite *notify_suite(void) {
  Suite *s = suite_create("notify");
  TCase *tc = xw_tcase("mapping");
  tcase_add_test(tc, vm_err_notification);
  tcase_add_test(tc, unnamed_errno);
  tcase_add_test(tc, device_values);
  tcase_add_test(tc, documented_errno_series_at_zero);
  suite_add_tcase(s, tc);
  tc = tcase_create("dispatcher");
  tcase_add_checked_fixture(tc, disp_setup, disp_teardown);
  tcase_add_test(tc, rate_limited_per_device_and_errno);
  tcase_add_test(tc, summary_survives_next_storm);
  tcase_add_test(tc, state_changes_notify_once);
  tcase_add_test(tc, loss_warned_once_per_window);
  tcase_add_test(tc, send_notification_off);
  tcase_add_test(tc, repeats_and_severity_per_errno);
  suite_add_tcase(s, tc);
  return s;
}
XW_SUITE(notify_suite)
