/* SPDX-License-Identifier: MIT */
/* The dispatcher on its own thread: what the wall clock and poll() may do
 * to it. poll() is interposed here to fail on demand. */
#include "dispatch.h"
#include "listener.h"
#include "options.h"
#include "queue.h"

#include "plugin_mock.h"
#include "test-main.h"

#include <dlfcn.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>

/* poll() fails with ENOMEM this many more times, then works. */
static atomic_int poll_failures;

int poll(struct pollfd *fds, nfds_t nfds, int timeout) {
  static int (*real)(struct pollfd *, nfds_t, int);
  int left = atomic_load(&poll_failures);
  while (left > 0)
    if (atomic_compare_exchange_weak(&poll_failures, &left, left - 1)) {
      errno = ENOMEM;
      return -1;
    }
  if (real == NULL)
    real = (int (*)(struct pollfd *, nfds_t, int))dlsym(RTLD_NEXT, "poll");
  return real(fds, nfds, timeout);
}

static struct xw_config cfg;
static struct xw_device *dev;
static struct xw_queue q;
static struct xw_dispatcher *disp;
static int wake_fd = -1;

static void setup(void) {
  xw_config_init(&cfg);
  cfg.notify_limit = 1;
  cfg.notify_window = MS_TO_CDTIME_T(200);
  dev = xw_device_new("/dev/dri/renderD128", 0);
  ck_assert_ptr_nonnull(dev);
  ck_assert_int_eq(xw_queue_init(&q, 64), 0);
  wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ck_assert_int_ge(wake_fd, 0);
  ck_assert_int_eq(xw_dispatcher_create(&disp, &cfg, &dev, 1, &q, wake_fd), 0);
}

static void teardown(void) {
  xw_dispatcher_destroy(disp);
  xw_queue_destroy(&q);
  xw_device_free(dev);
  close(wake_fd);
  atomic_store(&mock_cdtime_offset, 0);
  atomic_store(&poll_failures, 0);
}

static void push_and_wake(int32_t err, uint32_t vm) {
  struct xw_qitem it = {.device = 0, .error_code = err, .vm_id = vm};
  ck_assert(xw_queue_push(&q, &it));
  uint64_t one = 1;
  ck_assert_int_eq(write(wake_fd, &one, sizeof(one)), sizeof(one));
}

/* Waits up to 10 s (a bound, not a measurement) for n notifications. */
static bool wait_notifs(size_t n) {
  for (int i = 0; i < 1000 && mock_notif_count() < n; i++)
    nanosleep(&(struct timespec){0, 10000000}, NULL);
  return mock_notif_count() >= n;
}

/* The wall clock steps back an hour (an NTP fix at boot) while a window is
 * open: the summary still comes when the window ends. On collectd's wall
 * clock it would wait for the hour to pass again. */
START_TEST(wall_clock_step_back) {
  ck_assert_int_eq(xw_dispatcher_start(disp), 0);
  push_and_wake(-ENOMEM, 1);
  push_and_wake(-ENOMEM, 2);
  ck_assert(wait_notifs(1));
  atomic_store(&mock_cdtime_offset, -(int64_t)TIME_T_TO_CDTIME_T(3600));
  ck_assert_msg(wait_notifs(2), "the summary never came");
  ck_assert_ptr_nonnull(strstr(mock_notifs[1].n.message, "1 more VM error"));
  xw_dispatcher_stop(disp);
}
END_TEST

/* poll() failing with something other than EINTR is logged, and the thread
 * goes on notifying. */
START_TEST(survives_poll_errors) {
  mock_expect_errors();
  atomic_store(&poll_failures, 3);
  ck_assert_int_eq(xw_dispatcher_start(disp), 0);
  push_and_wake(-ENOSPC, 7);
  ck_assert_msg(wait_notifs(1), "the dispatcher stopped notifying");
  ck_assert_int_ge(mock_log_find(LOG_ERR, "poll() failed: Cannot allocate"), 0);
  /* Still alive afterwards, not just for what was queued before. */
  push_and_wake(-EFAULT, 8);
  ck_assert(wait_notifs(2));
  xw_dispatcher_stop(disp);
}
END_TEST

static Suite *dispatch_thread_suite(void) {
  Suite *s = suite_create("dispatcher thread");
  TCase *tc = xw_tcase("clock and poll");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, wall_clock_step_back);
  tcase_add_test(tc, survives_poll_errors);
  suite_add_tcase(s, tc);
  return s;
}
XW_SUITE(dispatch_thread_suite)
