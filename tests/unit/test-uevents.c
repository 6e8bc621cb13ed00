/* SPDX-License-Identifier: MIT */
/* udev events through umockdev (run under umockdev-wrapper): a wedged card
 * and a devcoredump of the watched GPU become queued events, counters and
 * notifications; other GPUs' events and other changes are ignored. */
#include "dispatch.h"
#include "listener.h"
#include "plugin_mock.h"
#include "test-main.h"
#include "uevents.h"

#include "utils/common/common.h"

#include <umockdev.h>

static UMockdevTestbed *tb;
static char *pci, *card, *other_card;
static struct xw_device *devs[1];
static struct xw_queue q;
static struct xw_listener *l;

static void setup(void) {
  mock_reset();
  ck_assert_msg(getenv("LD_PRELOAD") != NULL &&
                    strstr(getenv("LD_PRELOAD"), "libumockdev-preload"),
                "run under umockdev-wrapper (tests/run-test does)");
  tb = umockdev_testbed_new();
  pci = umockdev_testbed_add_device(tb, "pci", "0000:03:00.0", NULL, "vendor",
                                    "0x8086", NULL, "PCI_SLOT_NAME",
                                    "0000:03:00.0", "DRIVER", "xe", NULL);
  card = umockdev_testbed_add_device(tb, "drm", "card0", pci, NULL, "DEVNAME",
                                     "/dev/dri/card0", NULL);
  char *pci2 = umockdev_testbed_add_device(
      tb, "pci", "0000:04:00.0", NULL, "vendor", "0x8086", NULL,
      "PCI_SLOT_NAME", "0000:04:00.0", NULL);
  other_card = umockdev_testbed_add_device(tb, "drm", "card1", pci2, NULL,
                                           "DEVNAME", "/dev/dri/card1", NULL);
  g_free(pci2);

  mock_expect_errors(); /* card0 is no real DRM device here: it retries */
  devs[0] = xw_device_new("/dev/dri/card0", 0);
  ck_assert_int_eq(xw_queue_init(&q, 64), 0);
  struct xw_listener_config cfg = {.queue_notes = 32,
                                   .retry_min = TIME_T_TO_CDTIME_T(60),
                                   .retry_max = TIME_T_TO_CDTIME_T(60),
                                   .queue_vm_errs = true,
                                   .uevents = true};
  ck_assert_int_eq(xw_listener_create(&l, devs, 1, &q, &cfg), 0);
  xw_listener_attempt_due(l);
}

static void teardown(void) {
  xw_listener_destroy(l);
  xw_queue_destroy(&q);
  xw_device_free(devs[0]);
  g_free(pci);
  g_free(card);
  g_free(other_card);
  g_object_unref(tb);
  mock_reset();
}

#define PUMP_UNTIL(cond) XW_STEP_UNTIL(xw_listener_dispatch(l, 10), cond)

START_TEST(wedged_card_is_reported) {
  umockdev_testbed_set_property(tb, card, "WEDGED", "rebind,bus-reset");
  umockdev_testbed_uevent(tb, card, "change");
  PUMP_UNTIL(atomic_load(&devs[0]->ctr.wedged) == 1);
  ck_assert_int_ge(mock_log_find(LOG_ERR, "/dev/dri/card0 (card0) is wedged; "
                                          "recovery: rebind: unbind and "
                                          "rebind the xe driver"),
                   0);
  struct xw_qitem it;
  ck_assert(xw_queue_pop(&q, &it));
  ck_assert_int_eq(it.kind, XW_Q_WEDGED);
  ck_assert_uint_eq(it.detail, XW_WEDGE_REBIND | XW_WEDGE_BUS_RESET);

  /* The dispatcher turns it into a FAILURE notification. */
  struct xw_config cfg;
  xw_config_init(&cfg);
  struct xw_dispatcher *d;
  ck_assert(xw_queue_push(&q, &it));
  ck_assert_int_eq(xw_dispatcher_create(&d, &cfg, devs, 1, &q, -1), 0);
  xw_dispatcher_run_once(d, cdtime());
  xw_dispatcher_destroy(d);
  int found = -1;
  for (size_t i = 0; i < mock_nnotifs; i++)
    if (strcmp(mock_notifs[i].n.type_instance, "wedged") == 0)
      found = (int)i;
  ck_assert_int_ge(found, 0);
  const notification_t *n = &mock_notifs[found].n;
  ck_assert_int_eq(n->severity, NOTIF_FAILURE);
  ck_assert_str_eq(n->message, "GPU card0 is wedged; recovery: rebind: "
                               "unbind and rebind the xe driver");
  ck_assert_str_eq(mock_meta(n, "recovery")->nm_value.nm_string,
                   "rebind,bus-reset");
}
END_TEST

START_TEST(coredump_is_reported) {
  /* As once the node has been opened and named by its PCI slot (the open
   * itself cannot succeed under umockdev, which has no DRM ioctls). */
  pthread_mutex_lock(&devs[0]->lock);
  sstrncpy(devs[0]->name, "0000:03:00.0", sizeof(devs[0]->name));
  pthread_mutex_unlock(&devs[0]->lock);
  char *cd = umockdev_testbed_add_device(tb, "devcoredump", "devcd3", NULL,
                                         NULL, NULL);
  /* umockdev announced the device before it had its link: take that event
   * (it names no GPU, so nothing counts), then add the link and send the
   * "add" the kernel sends once the device is complete. */
  for (int i = 0; i < 5; i++)
    xw_listener_dispatch(l, 10);
  ck_assert_uint_eq(atomic_load(&devs[0]->ctr.coredumps), 0);
  /* devcdN/failing_device -> the GPU that dumped (relative, as in sysfs) */
  umockdev_testbed_set_attribute_link(tb, cd, "failing_device",
                                      "../0000:03:00.0");
  umockdev_testbed_uevent(tb, cd, "add");
  PUMP_UNTIL(atomic_load(&devs[0]->ctr.coredumps) == 1);
  struct xw_qitem it;
  ck_assert(xw_queue_pop(&q, &it));
  ck_assert_int_eq(it.kind, XW_Q_COREDUMP);
  ck_assert_uint_eq(it.detail, 3);
  ck_assert_int_ge(
      mock_log_find(LOG_WARNING, "/sys/class/devcoredump/devcd3/data"), 0);
  g_free(cd);
}
END_TEST

START_TEST(other_events_are_ignored) {
  umockdev_testbed_set_property(tb, other_card, "WEDGED", "rebind");
  umockdev_testbed_uevent(tb, other_card, "change"); /* another GPU */
  umockdev_testbed_uevent(tb, card, "change");       /* no WEDGED= */
  for (int i = 0; i < 20; i++)
    xw_listener_dispatch(l, 10);
  ck_assert_uint_eq(atomic_load(&devs[0]->ctr.wedged), 0);
  struct xw_qitem it;
  ck_assert(!xw_queue_pop(&q, &it));
}
END_TEST

START_TEST(wedge_methods) {
  ck_assert_uint_eq(xw_wedge_methods("rebind"), XW_WEDGE_REBIND);
  ck_assert_uint_eq(xw_wedge_methods("bus-reset,vendor-specific"),
                    XW_WEDGE_BUS_RESET | XW_WEDGE_VENDOR);
  ck_assert_uint_eq(xw_wedge_methods("none"), XW_WEDGE_NONE);
  ck_assert_uint_eq(xw_wedge_methods("firmware-flash"), XW_WEDGE_UNKNOWN);
  ck_assert_uint_eq(xw_wedge_methods(""), XW_WEDGE_UNKNOWN);
  char b[160];
  ck_assert_ptr_nonnull(
      strstr(xw_wedge_advice(XW_WEDGE_VENDOR, b, sizeof(b)), "firmware"));
  ck_assert_ptr_nonnull(
      strstr(xw_wedge_advice(XW_WEDGE_UNKNOWN, b, sizeof(b)), "reboot"));
}
END_TEST

static void collect_node(void *ctx, const char *node) {
  char *out = ctx;
  if (out[0] != '\0')
    strcat(out, " ");
  strcat(out, node);
}

START_TEST(discovers_xe_render_nodes) {
  /* card0's GPU becomes an xe GPU with a render node; another GPU is i915. */
  umockdev_testbed_set_attribute_link(tb, pci, "driver",
                                      "../../bus/pci/drivers/xe");
  char *r = umockdev_testbed_add_device(tb, "drm", "renderD128", pci, NULL,
                                        "DEVNAME", "/dev/dri/renderD128", NULL);
  char *pci3 = umockdev_testbed_add_device(tb, "pci", "0000:05:00.0", NULL,
                                           "vendor", "0x8086", NULL, NULL);
  umockdev_testbed_set_attribute_link(tb, pci3, "driver",
                                      "../../bus/pci/drivers/i915");
  char *r2 =
      umockdev_testbed_add_device(tb, "drm", "renderD129", pci3, NULL,
                                  "DEVNAME", "/dev/dri/renderD129", NULL);
  char found[256] = "";
  ck_assert_int_eq(xw_discover_xe_nodes(collect_node, found), 1);
  ck_assert_str_eq(found, "/dev/dri/renderD128");
  g_free(r);
  g_free(r2);
  g_free(pci3);
}
END_TEST

START_TEST(added_node_is_retried_at_once) {
  ck_assert_int_eq(atomic_load(&devs[0]->state), XW_DEV_RETRYING);
  cdtime_t before = devs[0]->retry_at;
  usleep(20000);
  umockdev_testbed_uevent(tb, card, "add");
  PUMP_UNTIL(devs[0]->retry_at != before);
  /* A new attempt (still failing here) was made long before the 60 s
   * back-off would have allowed one. */
  ck_assert_uint_gt(devs[0]->retry_at, before);
}
END_TEST

/* udev's "remove" for a node is how an unplug is heard at once: the kernel
 * sends no removal record while our fd holds the file. */
START_TEST(removed_node_is_parsed) {
  struct xw_uevents *u;
  ck_assert_int_eq(xw_uevents_open(&u), 0);
  umockdev_testbed_uevent(tb, card, "remove");
  struct xw_uevent ev = {0};
  int got = 0;
  for (int i = 0; i < 200 && !got; i++) {
    got = xw_uevents_next(u, &ev);
    if (!got)
      usleep(10000);
  }
  ck_assert_int_eq(got, 1);
  ck_assert_int_eq(ev.kind, XW_UEVENT_REMOVED);
  ck_assert_str_eq(ev.devnode, "/dev/dri/card0");
  xw_uevents_close(u);
}
END_TEST

/* AutoDiscover found nothing at start; then the xe driver binds a GPU and
 * its render node appears: it is watched from then on. A render node of a
 * GPU bound to another driver is not. */
START_TEST(gpu_bound_later_is_adopted) {
  struct xw_device *late[2] = {NULL, NULL};
  _Atomic size_t nlate = 0;
  struct xw_listener_config cfg = {.queue_notes = 32,
                                   .retry_min = TIME_T_TO_CDTIME_T(60),
                                   .retry_max = TIME_T_TO_CDTIME_T(60),
                                   .uevents = true,
                                   .max_devices = 2,
                                   .ndev_published = &nlate};
  struct xw_listener *al;
  ck_assert_int_eq(xw_listener_create(&al, late, 0, NULL, &cfg), 0);
  xw_listener_attempt_due(al);

  char *pci5 = umockdev_testbed_add_device(tb, "pci", "0000:05:00.0", NULL,
                                           "vendor", "0x8086", NULL, NULL);
  umockdev_testbed_set_attribute_link(tb, pci5, "driver",
                                      "../../bus/pci/drivers/i915");
  char *other =
      umockdev_testbed_add_device(tb, "drm", "renderD129", pci5, NULL,
                                  "DEVNAME", "/dev/dri/renderD129", NULL);
  umockdev_testbed_set_attribute_link(tb, pci, "driver",
                                      "../../bus/pci/drivers/xe");
  char *r = umockdev_testbed_add_device(tb, "drm", "renderD128", pci, NULL,
                                        "DEVNAME", "/dev/dri/renderD128", NULL);
  umockdev_testbed_uevent(tb, other, "add");
  umockdev_testbed_uevent(tb, r, "add");
  XW_STEP_UNTIL(xw_listener_dispatch(al, 10), atomic_load(&nlate) == 1);
  for (int i = 0; i < 10; i++)
    xw_listener_dispatch(al, 10);
  ck_assert_uint_eq(atomic_load(&nlate), 1);
  ck_assert_str_eq(late[0]->node, "/dev/dri/renderD128");
  ck_assert_int_ge(mock_log_find(LOG_INFO, "AutoDiscover: found "
                                           "/dev/dri/renderD128"),
                   0);
  /* It was tried at once (it cannot open under umockdev: retrying). */
  ck_assert_int_eq(atomic_load(&late[0]->state), XW_DEV_RETRYING);

  xw_listener_destroy(al);
  xw_device_free(late[0]);
  g_free(r);
  g_free(other);
  g_free(pci5);
}
END_TEST

static Suite *uevents_suite(void) {
  Suite *s = suite_create("uevents");
  TCase *tc = tcase_create("umockdev");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, wedged_card_is_reported);
  tcase_add_test(tc, coredump_is_reported);
  tcase_add_test(tc, other_events_are_ignored);
  tcase_add_test(tc, wedge_methods);
  tcase_add_test(tc, discovers_xe_render_nodes);
  tcase_add_test(tc, added_node_is_retried_at_once);
  tcase_add_test(tc, removed_node_is_parsed);
  tcase_add_test(tc, gpu_bound_later_is_adopted);
  suite_add_tcase(s, tc);
  return s;
}
XW_SUITE(uevents_suite)
