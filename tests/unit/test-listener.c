/* SPDX-License-Identifier: MIT */
/* The listener against the simulated kernel (run with tests/fake preloaded,
 * device table tests/fake-listener.devices). */
#include "listener.h"
#include "listener-internal.h"
#include "plugin_mock.h"
#include "test-main.h"

#include "utils/common/common.h"

#include <ftw.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

/* One command to the simulated kernel's control socket; returns its reply. */
static const char *ctl(const char *fmt, ...) {
  static char reply[256];
  char cmd[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof(cmd) - 1, fmt, ap);
  va_end(ap);
  strcat(cmd, "\n");

  const char *path = getenv("XE_FAKE_CTL");
  ck_assert_ptr_nonnull(path);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  sstrncpy(a.sun_path, path, sizeof(a.sun_path));
  ck_assert_int_eq(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
  ck_assert_int_eq(write(s, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
  size_t n = 0;
  while (n < sizeof(reply) - 1) {
    ssize_t r = read(s, reply + n, sizeof(reply) - 1 - n);
    if (r <= 0)
      break;
    n += (size_t)r;
    if (reply[n - 1] == '\n')
      break;
  }
  close(s);
  reply[n] = '\0';
  return reply;
}

static struct xw_device *devs[3];
static struct xw_queue q;
static struct xw_listener *l;
/* The fake serves v1's numbers unless its table says uapi=2; uapi is set
 * in setup, whatever the build's default revision. */
static struct xw_listener_config lcfg = {
    .queue_notes = 32,
    .retry_min = MS_TO_CDTIME_T(50),
    .retry_max = MS_TO_CDTIME_T(200),
    .queue_vm_errs = true,
};

static void setup(void) {
  mock_reset();
  lcfg.uapi = xw_uapi_find("v1");
  devs[0] = xw_device_new("/dev/dri/renderD128", 0);
  devs[1] = xw_device_new("/dev/dri/renderD129", 1);
  devs[2] = xw_device_new("/dev/dri/renderD130", 2);
  ck_assert_int_eq(xw_queue_init(&q, 4096), 0);
  ck_assert_int_eq(xw_listener_create(&l, devs, 3, &q, &lcfg), 0);
}

static void teardown(void) {
  xw_listener_destroy(l);
  /* Every watch is gone with the listener's fds. */
  ck_assert_str_eq(ctl("watches /dev/dri/renderD128"), "ok 0\n");
  xw_queue_destroy(&q);
  for (int i = 0; i < 3; i++)
    xw_device_free(devs[i]);
  ctl("restore /dev/dri/renderD128");
  mock_check_no_unexpected_errors();
  mock_reset();
}

#define PUMP_UNTIL(cond) XW_STEP_UNTIL(xw_listener_dispatch(l, 10), cond)

static uint64_t ld(_Atomic uint64_t *c) { return atomic_load(c); }

START_TEST(subscribes_and_counts) {
  mock_expect_errors(); /* renderD129 (einval) and renderD130 (i915) fail */
  xw_listener_attempt_due(l);
  ck_assert_int_eq(atomic_load(&devs[0]->state), XW_DEV_LISTENING);
  ck_assert_int_eq(atomic_load(&devs[1]->state), XW_DEV_RETRYING);
  ck_assert_int_eq(atomic_load(&devs[2]->state), XW_DEV_RETRYING);
  ck_assert_int_ge(
      mock_log_find(LOG_ERR, "/dev/dri/renderD129: the kernel does not "
                             "implement the watch ioctl at 0x4010644f (uAPI "
                             "revision v1; it answered EINVAL): if it "
                             "carries another revision of the Xe "
                             "watch-queue series, set UAPIRevision \"v2\""),
      0);
  ck_assert_int_ge(
      mock_log_find(LOG_ERR, "/dev/dri/renderD130: driven by 'i915'"), 0);
  ck_assert_str_eq(ctl("watches /dev/dri/renderD128"), "ok 1\n");

  ctl("vm_err /dev/dri/renderD128 3 -12 5");
  ctl("vm_err /dev/dri/renderD128 4 -28 1");
  PUMP_UNTIL(ld(&devs[0]->ctr.vm_err) == 6);
  ck_assert_uint_eq(ld(&devs[0]->ctr.by_errno[ENOMEM]), 5);
  ck_assert_uint_eq(ld(&devs[0]->ctr.by_errno[ENOSPC]), 1);
  ck_assert_uint_eq(ld(&devs[0]->ctr.lost), 0);
  /* Six records, one read: several records per read(). */
  ck_assert_uint_le(ld(&devs[0]->ctr.reads), 2);

  struct xw_qitem it;
  for (int i = 0; i < 6; i++) {
    ck_assert(xw_queue_pop(&q, &it));
    ck_assert_uint_eq(it.device, 0);
    ck_assert_uint_eq(it.vm_id, i < 5 ? 3 : 4);
  }
  ck_assert(!xw_queue_pop(&q, &it));
}
END_TEST

START_TEST(overflow_counts_loss) {
  mock_expect_errors();
  xw_listener_attempt_due(l);
  /* 32-note ring: most of 100 records are dropped by the kernel. */
  const char *r = ctl("vm_err /dev/dri/renderD128 1 -12 100");
  unsigned queued = 0, lost = 0;
  ck_assert_int_eq(sscanf(r, "ok %u %u", &queued, &lost), 2);
  ck_assert_uint_eq(queued, 32);
  ck_assert_uint_eq(lost, 68);
  PUMP_UNTIL(ld(&devs[0]->ctr.lost) == 1);
  ck_assert_uint_eq(ld(&devs[0]->ctr.vm_err), queued);
}
END_TEST

START_TEST(full_dispatch_queue_counts_drops) {
  mock_expect_errors();
  xw_listener_destroy(l);
  xw_queue_destroy(&q);
  ck_assert_int_eq(xw_queue_init(&q, 4), 0);
  ck_assert_int_eq(xw_listener_create(&l, devs, 3, &q, &lcfg), 0);
  xw_listener_attempt_due(l);
  ctl("vm_err /dev/dri/renderD128 1 -12 10");
  PUMP_UNTIL(ld(&devs[0]->ctr.vm_err) == 10);
  ck_assert_uint_eq(ld(&devs[0]->ctr.dropped), 6);
}
END_TEST

/* An unplug posts no removal record while our own fd holds the file open:
 * without the device check the listener would listen to a dead device. */
START_TEST(unplug_unnoticed_without_check) {
  mock_expect_errors(); /* renderD129 and renderD130 fail by design */
  xw_listener_attempt_due(l);
  ctl("remove /dev/dri/renderD128");
  for (int i = 0; i < 20; i++)
    xw_listener_dispatch(l, 10);
  ck_assert_int_eq(atomic_load(&devs[0]->state), XW_DEV_LISTENING);
  ck_assert_int_ge(devs[0]->drm_fd, 0);
}
END_TEST

START_TEST(removal_then_resubscribe) {
  mock_expect_errors();
  xw_listener_destroy(l);
  struct xw_listener_config c = lcfg;
  c.device_check = MS_TO_CDTIME_T(50);
  ck_assert_int_eq(xw_listener_create(&l, devs, 3, &q, &c), 0);
  xw_listener_attempt_due(l);
  uint64_t seq = xw_state_seq(atomic_load(&devs[0]->state_word));
  ctl("remove /dev/dri/renderD128");
  PUMP_UNTIL(atomic_load(&devs[0]->state) == XW_DEV_RETRYING);
  ck_assert_uint_gt(xw_state_seq(atomic_load(&devs[0]->state_word)), seq);
  ck_assert_int_ge(mock_log_find(LOG_ERR, "unplugged"), 0);
  char cause[256];
  xw_device_snapshot(devs[0], NULL, 0, cause, sizeof(cause));
  ck_assert_ptr_nonnull(strstr(cause, "answers ENODEV"));
  /* The dead device's file is closed, not pinned. */
  ck_assert_int_eq(devs[0]->drm_fd, -1);

  /* Retries fail quietly while the node is absent... */
  for (int i = 0; i < 30; i++)
    xw_listener_dispatch(l, 10);
  ck_assert_int_eq(atomic_load(&devs[0]->state), XW_DEV_RETRYING);
  /* ...and succeed once it is back. */
  ctl("restore /dev/dri/renderD128");
  PUMP_UNTIL(atomic_load(&devs[0]->state) == XW_DEV_LISTENING);
  ck_assert_str_eq(ctl("watches /dev/dri/renderD128"), "ok 1\n");
  ctl("vm_err /dev/dri/renderD128 9 -5 1");
  PUMP_UNTIL(ld(&devs[0]->ctr.vm_err) == 1);
}
END_TEST

/* Unplugged behind a flood that fills the ring: a loss marker arrives and
 * the listener asks at once rather than at the next device check (off
 * here). */
START_TEST(removal_lost_in_full_ring) {
  mock_expect_errors();
  xw_listener_attempt_due(l);
  ck_assert_str_eq(ctl("remove /dev/dri/renderD128 100"), "ok 32 68\n");
  PUMP_UNTIL(atomic_load(&devs[0]->state) == XW_DEV_RETRYING);
  ck_assert_uint_eq(ld(&devs[0]->ctr.vm_err), 32);
  ck_assert_uint_eq(ld(&devs[0]->ctr.lost), 1);
  char cause[256], code[32];
  xw_device_snapshot(devs[0], NULL, 0, cause, sizeof(cause));
  ck_assert_ptr_nonnull(strstr(cause, "answers ENODEV"));
  xw_device_cause_code(devs[0], code, sizeof(code));
  ck_assert_str_eq(code, "removed");
  ctl("restore /dev/dri/renderD128");
  PUMP_UNTIL(atomic_load(&devs[0]->state) == XW_DEV_LISTENING);
}
END_TEST

/* A loss on a device that is still there changes nothing but the count. */
START_TEST(loss_alone_keeps_listening) {
  mock_expect_errors();
  xw_listener_attempt_due(l);
  ctl("vm_err /dev/dri/renderD128 1 -12 100");
  PUMP_UNTIL(ld(&devs[0]->ctr.lost) == 1);
  for (int i = 0; i < 5; i++)
    xw_listener_dispatch(l, 10);
  ck_assert_int_eq(atomic_load(&devs[0]->state), XW_DEV_LISTENING);
  ck_assert_str_eq(ctl("watches /dev/dri/renderD128"), "ok 1\n");
}
END_TEST

START_TEST(malformed_and_unknown) {
  mock_expect_errors();
  xw_listener_attempt_due(l);
  ctl("raw /dev/dri/renderD128 0200000004000000");
  PUMP_UNTIL(ld(&devs[0]->ctr.malformed) == 1);
  ck_assert_int_eq(atomic_load(&devs[0]->last_malformed), 2 /* BAD_LENGTH */);
  ctl("record /dev/dri/renderD128 2 7 0011223344556677");
  PUMP_UNTIL(ld(&devs[0]->ctr.unknown) == 1);
  ck_assert_int_eq(atomic_load(&devs[0]->state), XW_DEV_LISTENING);
}
END_TEST

/* The kernel numbers records in a way this revision does not know: each
 * kind is counted and logged once with both numbers, never filtered away
 * unseen (a kernel filter on type 2 would have rejected type 5 silently). */
/* More kinds than are remembered: the rest only counted, and the record of
 * kinds never written past its end (it overran into the next device once). */
START_TEST(many_unknown_kinds_stay_bounded) {
  mock_expect_errors();
  xw_listener_attempt_due(l);
  for (int k = 1; k <= 3 * XW_UNKNOWN_KINDS; k++) {
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "record /dev/dri/renderD128 2 %d", k);
    ctl(cmd);
    PUMP_UNTIL(ld(&devs[0]->ctr.unknown) == (uint64_t)k);
  }
  ck_assert_uint_le(devs[0]->nunknown_kinds, XW_UNKNOWN_KINDS);
  ck_assert_int_ge(mock_log_find(LOG_WARNING, "more than 16 kinds"), 0);
  ck_assert_str_eq(devs[1]->node, "/dev/dri/renderD129");
}
END_TEST

START_TEST(unknown_kinds_counted_and_logged_once) {
  mock_expect_errors();
  xw_listener_attempt_due(l);
  ck_assert_str_eq(ctl("record /dev/dri/renderD128 5 0 0011223344556677"),
                   "ok 1 0\n");
  ck_assert_str_eq(ctl("record /dev/dri/renderD128 5 0 0011223344556677"),
                   "ok 1 0\n");
  ctl("record /dev/dri/renderD128 2 7 0011223344556677");
  ctl("record /dev/dri/renderD128 2 7");
  ctl("record /dev/dri/renderD128 0 9");
  PUMP_UNTIL(ld(&devs[0]->ctr.unknown) == 5);
  ck_assert_int_eq(atomic_load(&devs[0]->state), XW_DEV_LISTENING);
  const char *kinds[] = {"type 5, subtype 0 unknown to uAPI revision v1 (xe "
                         "records: type 2, VM_ERR subtype 0)",
                         "type 2, subtype 7 unknown", "type 0, subtype 9"};
  for (size_t k = 0; k < 3; k++) {
    int first = mock_log_find(LOG_WARNING, kinds[k]);
    ck_assert_msg(first >= 0, "no log for %s", kinds[k]);
    for (size_t i = (size_t)first + 1; i < mock_nlogs; i++)
      ck_assert_msg(strstr(mock_logs[i].msg, kinds[k]) == NULL,
                    "logged twice: %s", kinds[k]);
  }
  /* VM errors still flow. */
  ctl("vm_err /dev/dri/renderD128 1 -12 1");
  PUMP_UNTIL(ld(&devs[0]->ctr.vm_err) == 1);
}
END_TEST

/* A kernel serving RFC v2's numbers: v1's number reaches another ioctl
 * (ENOENT), which must be named as a revision mismatch with the option to
 * change; the v2 revision subscribes and counts. */
START_TEST(uapi_revision_mismatch_and_match) {
  mock_expect_errors();
  struct xw_device *d = xw_device_new("/dev/dri/renderD131", 0);
  struct xw_listener *l2;
  struct xw_listener_config c = lcfg;
  c.uapi = xw_uapi_find("v1");
  ck_assert_int_eq(xw_listener_create(&l2, &d, 1, &q, &c), 0);
  xw_listener_attempt_due(l2);
  ck_assert_int_eq(atomic_load(&d->state), XW_DEV_RETRYING);
  ck_assert_int_ge(
      mock_log_find(LOG_ERR,
                    "/dev/dri/renderD131: the kernel does not implement the "
                    "watch ioctl at 0x4010644f (uAPI revision v1; it answered "
                    "ENOENT): if it carries another revision of the Xe "
                    "watch-queue series, set UAPIRevision \"v2\""),
      0);
  ck_assert_int_lt(mock_log_find(-1, "permission"), 0);
  ck_assert_int_lt(mock_log_find(-1, "pipe"), 0);
  xw_listener_destroy(l2);

  c.uapi = xw_uapi_find("v2");
  xw_device_free(d);
  d = xw_device_new("/dev/dri/renderD131", 0);
  ck_assert_int_eq(xw_listener_create(&l2, &d, 1, &q, &c), 0);
  xw_listener_attempt_due(l2);
  ck_assert_int_eq(atomic_load(&d->state), XW_DEV_LISTENING);
  ck_assert_int_ge(mock_log_find(LOG_INFO, "notes) with uAPI revision v2, "
                                           "ioctl 0x40106451"),
                   0);
  ctl("vm_err /dev/dri/renderD131 4 -28 2");
  for (int i = 0; i < 200 && ld(&d->ctr.vm_err) < 2; i++)
    xw_listener_dispatch(l2, 10);
  ck_assert_uint_eq(ld(&d->ctr.vm_err), 2);
  xw_listener_destroy(l2);
  xw_device_free(d);
}
END_TEST

START_TEST(thread_stops_promptly) {
  mock_expect_errors();
  ck_assert_int_eq(xw_listener_start(l), 0);
  for (int i = 0; i < 100 && atomic_load(&devs[0]->state) != XW_DEV_LISTENING;
       i++)
    usleep(10000);
  ck_assert_int_eq(atomic_load(&devs[0]->state), XW_DEV_LISTENING);
  ctl("vm_err /dev/dri/renderD128 1 -12 3");
  for (int i = 0; i < 100 && ld(&devs[0]->ctr.vm_err) < 3; i++)
    usleep(10000);
  ck_assert_uint_eq(ld(&devs[0]->ctr.vm_err), 3);
  xw_listener_stop(l); /* joins; teardown checks the watches are gone */
}
END_TEST

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  (void)st, (void)ftw;
  return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* A scan of a host with thousands of processes takes 100 ms and more: the
 * listener scans in slices and reads its pipes between them, so a record
 * posted while a scan runs is counted before the scan completes. */
START_TEST(reads_pipes_while_a_scan_runs) {
  char root[] = "/tmp/xw-test-proc.XXXXXX", p[PATH_MAX];
  ck_assert_ptr_nonnull(mkdtemp(root));
  for (int pid = 1000; pid < 3000; pid++) {
    snprintf(p, sizeof(p), "%s/%d", root, pid);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/%d/fd", root, pid);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/%d/fd/0", root, pid);
    ck_assert_int_eq(symlink("/dev/null", p), 0);
  }
  xw_listener_destroy(l);
  struct xw_listener_config c = lcfg;
  c.proc_root = root;
  c.client_scan = TIME_T_TO_CDTIME_T(3600); /* only the first scan */
  ck_assert_int_eq(xw_listener_create(&l, devs, 3, &q, &c), 0);
  mock_expect_errors();
  xw_listener_attempt_due(l); /* renderD128 is up: a scan follows */
  ck_assert_int_eq(atomic_load(&devs[0]->state), XW_DEV_LISTENING);
  PUMP_UNTIL(xw_listener_scanning(l));

  ctl("vm_err /dev/dri/renderD128 3 -12 1");
  PUMP_UNTIL(ld(&devs[0]->ctr.vm_err) == 1 || !xw_listener_scanning(l));
  ck_assert_uint_eq(ld(&devs[0]->ctr.vm_err), 1);
  ck_assert_msg(xw_listener_scanning(l),
                "the record was read only after the scan completed");
  PUMP_UNTIL(!xw_listener_scanning(l));
  nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
END_TEST

static Suite *listener_suite(void) {
  Suite *s = suite_create("listener");
  TCase *tc = tcase_create("simulated-kernel");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, subscribes_and_counts);
  tcase_add_test(tc, overflow_counts_loss);
  tcase_add_test(tc, full_dispatch_queue_counts_drops);
  tcase_add_test(tc, unplug_unnoticed_without_check);
  tcase_add_test(tc, removal_then_resubscribe);
  tcase_add_test(tc, removal_lost_in_full_ring);
  tcase_add_test(tc, loss_alone_keeps_listening);
  tcase_add_test(tc, malformed_and_unknown);
  tcase_add_test(tc, unknown_kinds_counted_and_logged_once);
  tcase_add_test(tc, many_unknown_kinds_stay_bounded);
  tcase_add_test(tc, uapi_revision_mismatch_and_match);
  tcase_add_test(tc, thread_stops_promptly);
  tcase_add_test(tc, reads_pipes_while_a_scan_runs);
  suite_add_tcase(s, tc);
  return s;
}
XW_SUITE(listener_suite)
