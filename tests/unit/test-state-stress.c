/* SPDX-License-Identifier: MIT */
/* Millions of listener state transitions against a dispatcher running on
 * another thread: every state the dispatcher sees is told, none is lost. */
#include "dispatch.h"
#include "listener.h"
#include "options.h"

#include "plugin_mock.h"
#include "test-main.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

/* ThreadSanitizer makes every atomic access cost some 10-20 times more. */
#if defined(__SANITIZE_THREAD__)
#define XW_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define XW_TSAN 1
#endif
#endif
#ifndef XW_TSAN
#define XW_TSAN 0
#endif

/* What the notification consumer saw: a FAILURE after a FAILURE (or an OKAY
 * after an OKAY) means the transition between them was never told. */
static int last_severity;
static uint64_t told, lost;

static void consumer(const notification_t *n) {
  if (strcmp(n->type_instance, "listening") != 0)
    return;
  if (last_severity != 0 && n->severity == last_severity)
    lost++;
  last_severity = n->severity;
  told++;
}

static struct xw_device *dev;
static atomic_ulong passes;
static atomic_bool writer_done;

/* The listener's side: one transition each time the dispatcher starts a new
 * pass, so that the transition and the dispatcher's read of the state meet
 * as often as the two threads can make them. */
static void *writer(void *arg) {
  unsigned long n = *(unsigned long *)arg;
  unsigned long seen = atomic_load(&passes);
  for (unsigned long i = 0; i < n; i++) {
    unsigned long p;
    while ((p = atomic_load(&passes)) == seen)
      sched_yield();
    seen = p;
    xw_device_set_state(dev, i % 2 == 0 ? XW_DEV_LISTENING : XW_DEV_RETRYING);
  }
  atomic_store(&writer_done, true);
  return NULL;
}

START_TEST(no_transition_lost) {
  /* valgrind runs one thread at a time: every transition would cost two
   * context switches there, so it gets fewer (tests/run-test sets
   * XW_VALGRIND). */
  const char *vg = getenv("XW_VALGRIND");
  bool serial = vg != NULL && strcmp(vg, "1") == 0;
  unsigned long n = serial ? 20000 : XW_TSAN ? 200000 : 2000000;
  const char *env = getenv("XW_STRESS_TRANSITIONS");
  if (env != NULL)
    n = strtoul(env, NULL, 10);

  struct xw_config cfg;
  xw_config_init(&cfg);
  /* No "still not listening" repeats: every notification is a transition. */
  cfg.notify_window = TIME_T_TO_CDTIME_T(86400);
  dev = xw_device_new("/dev/dri/renderD128", 0);
  ck_assert_ptr_nonnull(dev);
  struct xw_dispatcher *d;
  ck_assert_int_eq(xw_dispatcher_create(&d, &cfg, &dev, 1, NULL, -1), 0);
  /* Starting: nothing told yet. The first told may be either, as the
   * dispatcher may see the device only once it failed again. */
  last_severity = 0;
  told = lost = 0;
  mock_notif_hook = consumer;

  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, writer, &n), 0);
  cdtime_t now = TIME_T_TO_CDTIME_T(1);
  while (!atomic_load(&writer_done)) {
    xw_dispatcher_run_once(d, now);
    atomic_fetch_add(&passes, 1);
    if (serial)
      sched_yield(); /* let the writer run: only one thread runs at once */
  }
  pthread_join(t, NULL);
  xw_dispatcher_run_once(d, now);
  mock_notif_hook = NULL;

  int final = atomic_load(&dev->state);
  fprintf(stderr,
          "# %lu transitions, %" PRIu64 " told, %" PRIu64 " lost, %lu "
          "dispatcher passes\n",
          n, told, lost, atomic_load(&passes));
  ck_assert_uint_eq(lost, 0);
  /* The last state told is the state the device is in. */
  ck_assert_int_eq(last_severity,
                   final == XW_DEV_LISTENING ? NOTIF_OKAY : NOTIF_FAILURE);
  ck_assert_uint_gt(told, 0);

  xw_dispatcher_destroy(d);
  xw_device_free(dev);
  xw_config_free(&cfg);
}
END_TEST

static Suite *stress_suite(void) {
  Suite *s = suite_create("state-stress");
  TCase *tc = xw_tcase("transitions");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, no_transition_lost);
  suite_add_tcase(s, tc);
  return s;
}
XW_SUITE(stress_suite)
