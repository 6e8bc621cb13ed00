/* SPDX-License-Identifier: MIT */
/* The listener and dispatcher threads together, against the simulated
 * kernel, with a third thread doing what collectd's read callback does:
 * the test ThreadSanitizer is aimed at (contrib/check-sanitizers.sh), and a
 * plain one everywhere else.
 *
 * Run as a fake-* test (tests/run-test preloads the simulated kernel). It
 * writes its own device table and re-runs itself with it, in a child with
 * the fake back in LD_PRELOAD after any sanitizer runtime already there. */
#include "dispatch.h"
#include "listener.h"
#include "notify.h"
#include "options.h"
#include "queue.h"

#include "plugin_mock.h"

#include "utils/common/common.h"

#include <check.h>
#include <dlfcn.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#define NDEV 3
static const char *const nodes[NDEV] = {
    "/dev/dri/renderD128", /* storms, loss, malformed records */
    "/dev/dri/renderD129", /* storms, removed and restored */
    "/dev/dri/renderD130", /* absent at start, appears later */
};

/* ---- control socket: one connection per thread --------------------------- */

static int ctl_open(void) {
  const char *path = getenv("XE_FAKE_CTL");
  ck_assert_ptr_nonnull(path);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(s, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  sstrncpy(a.sun_path, path, sizeof(a.sun_path));
  ck_assert_int_eq(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
  return s;
}

/* One command, one reply line (without the newline) in reply. */
static void ctl(int s, char *reply, size_t len, const char *fmt, ...) {
  char cmd[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(cmd, sizeof(cmd) - 1, fmt, ap);
  va_end(ap);
  cmd[n++] = '\n';
  ck_assert_int_eq(write(s, cmd, (size_t)n), n);
  size_t got = 0;
  while (got < len - 1) {
    ssize_t r = read(s, reply + got, 1);
    ck_assert_int_eq(r, 1);
    if (reply[got] == '\n')
      break;
    got++;
  }
  reply[got] = '\0';
}

static unsigned vm_err(int s, const char *node, unsigned vm, int err,
                       unsigned count) {
  char cmd[200], reply[128];
  snprintf(cmd, sizeof(cmd), "vm_err %s %u %d %u", node, vm, err, count);
  ctl(s, reply, sizeof(reply), "%s", cmd);
  unsigned q = 0, lost = 0;
  ck_assert_msg(sscanf(reply, "ok %u %u", &q, &lost) == 2, "'%s': '%s'", cmd,
                reply);
  return q;
}

static unsigned raw(int s, const char *node, const char *hex) {
  char reply[128];
  ctl(s, reply, sizeof(reply), "raw %s %s", node, hex);
  unsigned q = 0, lost = 0;
  ck_assert_msg(sscanf(reply, "ok %u %u", &q, &lost) == 2, "raw: '%s'", reply);
  return q;
}

static void simple(int s, const char *cmd, const char *node) {
  char reply[128];
  ctl(s, reply, sizeof(reply), "%s %s", cmd, node);
  ck_assert_msg(strncmp(reply, "ok", 2) == 0, "%s %s: '%s'", cmd, node, reply);
}

/* ---- the plugin, assembled as xe_watch.c's init does ----------------------
 */

static struct xw_config cfg;
static struct xw_device *devs[NDEV];
static struct xw_queue queue;
static struct xw_listener *listener;
static struct xw_dispatcher *dispatcher;

static void plugin_start(unsigned queue_len) {
  xw_config_init(&cfg);
  cfg.queue_size = 32; /* a small ring: storms overflow it */
  cfg.notify_limit = 5;
  cfg.notify_window = MS_TO_CDTIME_T(200);
  cfg.notify_queue = queue_len;
  cfg.retry_interval = MS_TO_CDTIME_T(20);
  cfg.retry_max = MS_TO_CDTIME_T(100);
  for (unsigned i = 0; i < NDEV; i++) {
    devs[i] = xw_device_new(nodes[i], i);
    ck_assert_ptr_nonnull(devs[i]);
  }
  ck_assert_int_eq(xw_queue_init(&queue, cfg.notify_queue), 0);
  struct xw_listener_config lc = {.queue_notes = cfg.queue_size,
                                  .retry_min = cfg.retry_interval,
                                  .retry_max = cfg.retry_max,
                                  .queue_vm_errs = true,
                                  .device_check = MS_TO_CDTIME_T(20)};
  ck_assert_int_eq(xw_listener_create(&listener, devs, NDEV, &queue, &lc), 0);
  ck_assert_int_eq(xw_dispatcher_create(&dispatcher, &cfg, devs, NDEV, &queue,
                                        xw_listener_wake_fd(listener)),
                   0);
  ck_assert_int_eq(xw_dispatcher_start(dispatcher), 0);
  ck_assert_int_eq(xw_listener_start(listener), 0);
}

/* collectd's order: the read callback's user data is freed (dispatcher
 * stops), then the shutdown callback tears everything down. */
static void plugin_stop(void) {
  xw_dispatcher_stop(dispatcher);
  xw_listener_destroy(listener);
  listener = NULL;
  xw_dispatcher_destroy(dispatcher);
  dispatcher = NULL;
  xw_queue_destroy(&queue);
  for (unsigned i = 0; i < NDEV; i++) {
    xw_device_free(devs[i]);
    devs[i] = NULL;
  }
  xw_config_free(&cfg);
}

/* What xw_read does, from its own thread, until told to stop. */
static atomic_bool reader_stop;
static atomic_uint reader_rounds;
static void *reader_main(void *arg) {
  (void)arg;
  char name[XW_NAME_LEN];
  while (!atomic_load(&reader_stop)) {
    for (unsigned i = 0; i < NDEV; i++) {
      xw_device_snapshot(devs[i], name, sizeof(name), NULL, 0);
      xw_dispatch_device_values(
          name, &devs[i]->ctr, xw_dispatcher_suppressed(dispatcher, i),
          atomic_load(&devs[i]->state) == XW_DEV_LISTENING);
    }
    atomic_fetch_add(&reader_rounds, 1);
    usleep(1000);
  }
  return NULL;
}

static uint64_t ld(_Atomic uint64_t *c) { return atomic_load(c); }

static bool queue_empty(void) {
  return atomic_load(&queue.head) == atomic_load(&queue.tail);
}

/* Wait until cond holds, up to 20 s (sanitizers are slow). */
#define WAIT_FOR(cond)                                                         \
  do {                                                                         \
    for (int w_ = 0; w_ < 2000 && !(cond); w_++)                               \
      usleep(10000);                                                           \
    ck_assert_msg((cond), "timed out waiting for " #cond);                     \
  } while (0)

static bool all_listening(void) {
  for (unsigned i = 0; i < NDEV; i++)
    if (atomic_load(&devs[i]->state) != XW_DEV_LISTENING)
      return false;
  return true;
}

static bool has_meta(const notification_t *n, const char *name) {
  return mock_meta(n, name) != NULL;
}

/* Every count the plugin keeps, across three threads, stays exact while
 * records, loss, malformed records, removals and arrivals interleave. */
START_TEST(storm_across_threads) {
  mock_expect_errors(); /* removals and the absent node are logged */
  int s = ctl_open();
  simple(s, "state", "/dev/dri/renderD130 absent");
  plugin_start(16); /* small: the dispatch queue may overflow too */
  pthread_t reader;
  atomic_store(&reader_stop, false);
  ck_assert_int_eq(pthread_create(&reader, NULL, reader_main, NULL), 0);

  char reply[64];
  ctl(s, reply, sizeof(reply), "wait_watches /dev/dri/renderD128 1 10000");
  ck_assert_str_eq(reply, "ok 1");
  ctl(s, reply, sizeof(reply), "wait_watches /dev/dri/renderD129 1 10000");
  ck_assert_str_eq(reply, "ok 1");

  uint64_t want_vm[NDEV] = {0}, want_bad[NDEV] = {0};
  static const int errs[] = {-ENOMEM, -ENOSPC, -ETIME};
  for (unsigned round = 0; round < 40; round++) {
    for (unsigned d = 0; d < NDEV; d++)
      want_vm[d] += vm_err(s, nodes[d], round, errs[round % 3], 50);
    want_bad[0] += raw(s, nodes[0], "0200000004000000"); /* length 4 */
    if (round % 10 == 3)
      simple(s, "remove", nodes[1]);
    if (round % 10 == 6)
      simple(s, "restore", nodes[1]);
    if (round == 5)
      simple(s, "state", "/dev/dri/renderD130 present");
    usleep(10000); /* 40 rounds span a few rate-limit windows */
  }
  WAIT_FOR(all_listening());
  for (unsigned d = 0; d < NDEV; d++) /* once more, all listening */
    want_vm[d] += vm_err(s, nodes[d], 99, -EIO, 3);

  for (unsigned d = 0; d < NDEV; d++)
    WAIT_FOR(ld(&devs[d]->ctr.vm_err) == want_vm[d]);
  WAIT_FOR(queue_empty());
  WAIT_FOR(ld(&devs[0]->ctr.malformed) == want_bad[0]);
  usleep(50000); /* let the dispatcher finish the last items */

  atomic_store(&reader_stop, true);
  pthread_join(reader, NULL);
  ck_assert_uint_gt(atomic_load(&reader_rounds), 0);

  /* Snapshot before teardown frees the devices. */
  uint64_t lost0 = ld(&devs[0]->ctr.lost), dropped[NDEV], suppressed[NDEV];
  uint64_t vm[NDEV];
  for (unsigned d = 0; d < NDEV; d++) {
    vm[d] = ld(&devs[d]->ctr.vm_err);
    dropped[d] = ld(&devs[d]->ctr.dropped);
    suppressed[d] = xw_dispatcher_suppressed(dispatcher, d);
  }
  plugin_stop();
  close(s);

  ck_assert_uint_gt(lost0, 0); /* 50 records into a 32-note ring */
  ck_assert_uint_gt(want_vm[2], 0);

  /* Each record read was either notified, rate limited, or dropped. */
  for (unsigned d = 0; d < NDEV; d++) {
    const char *inst = nodes[d] + strlen("/dev/dri/");
    uint64_t notified = 0, summarized = 0;
    for (size_t i = 0; i < mock_nnotifs && i < MOCK_MAX; i++) {
      const notification_t *n = &mock_notifs[i].n;
      if (strcmp(n->plugin_instance, inst) != 0 ||
          strcmp(n->type_instance, "vm_err") != 0)
        continue;
      const notification_meta_t *m = mock_meta(n, "suppressed");
      if (m != NULL)
        summarized += m->nm_value.nm_unsigned_int;
      else
        notified++;
    }
    ck_assert_msg(mock_nnotifs < MOCK_MAX, "mock notification log full");
    ck_assert_msg(notified + suppressed[d] + dropped[d] == vm[d],
                  "%s: %" PRIu64 " notified + %" PRIu64 " suppressed + %" PRIu64
                  " dropped != %" PRIu64 " read",
                  inst, notified, suppressed[d], dropped[d], vm[d]);
    printf("# %s: %" PRIu64 " read = %" PRIu64 " notified + %" PRIu64
           " suppressed (%" PRIu64 " in summaries) + %" PRIu64 " dropped\n",
           inst, vm[d], notified, suppressed[d], summarized, dropped[d]);
    ck_assert_uint_le(summarized, suppressed[d]);
    ck_assert_uint_gt(suppressed[d], 0);
    ck_assert_uint_gt(summarized, 0);
  }
  /* renderD129 went down and up: FAILURE and OKAY state notifications. */
  size_t down = 0, up = 0;
  for (size_t i = 0; i < mock_nnotifs; i++) {
    const notification_t *n = &mock_notifs[i].n;
    if (strcmp(n->plugin_instance, "renderD129") != 0 ||
        strcmp(n->type_instance, "listening") != 0)
      continue;
    if (n->severity == NOTIF_FAILURE && has_meta(n, "cause"))
      down++;
    else if (n->severity == NOTIF_OKAY)
      up++;
  }
  ck_assert_uint_ge(down, 1);
  ck_assert_uint_ge(up, 2);
}
END_TEST

/* Stopping while records pour in: prompt, and nothing is dispatched once
 * the dispatcher's stop has returned. Several cycles. */
static atomic_bool storm_stop;
static void *storm_main(void *arg) {
  (void)arg;
  int s = ctl_open();
  while (!atomic_load(&storm_stop)) {
    vm_err(s, nodes[0], 7, -ENOMEM, 100);
    vm_err(s, nodes[1], 8, -EFAULT, 100);
  }
  close(s);
  return NULL;
}

START_TEST(stop_during_storm) {
  mock_expect_errors();
  int s = ctl_open();
  simple(s, "state", "/dev/dri/renderD130 present");
  char reply[64];
  for (int cycle = 0; cycle < 5; cycle++) {
    plugin_start(4096);
    ctl(s, reply, sizeof(reply), "wait_watches /dev/dri/renderD128 1 10000");
    ck_assert_str_eq(reply, "ok 1");
    pthread_t storm;
    atomic_store(&storm_stop, false);
    ck_assert_int_eq(pthread_create(&storm, NULL, storm_main, NULL), 0);
    usleep(100000 + 20000 * cycle);

    cdtime_t t0 = cdtime();
    xw_dispatcher_stop(dispatcher);
    size_t after_stop = mock_notif_count();
    xw_listener_destroy(listener);
    listener = NULL;
    cdtime_t took = cdtime() - t0;
    ck_assert_uint_gt(ld(&devs[0]->ctr.vm_err), 0);
    usleep(20000);
    ck_assert_uint_eq(mock_notif_count(), after_stop);
    plugin_stop();
    ck_assert_msg(took < TIME_T_TO_CDTIME_T(1), "stop took %.3f s",
                  CDTIME_T_TO_DOUBLE(took));

    atomic_store(&storm_stop, true);
    pthread_join(storm, NULL);
    /* Every watch went with the listener's descriptors. */
    ctl(s, reply, sizeof(reply), "watches /dev/dri/renderD128");
    ck_assert_str_eq(reply, "ok 0");
    mock_reset();
    mock_expect_errors();
  }
  close(s);
}
END_TEST

/* ---- main: the device table, then the suite in a child ------------------- */

static int run_suite(void) {
  /* The simulated kernel answers its socket once it has faked something. */
  int fd = open(nodes[0], O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    perror(nodes[0]);
    return 99;
  }
  close(fd);
  Suite *s = suite_create("threads");
  TCase *tc = tcase_create("listener+dispatcher+read");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, storm_across_threads);
  tcase_add_test(tc, stop_during_storm);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  /* The simulated kernel's control thread lives in this process. */
  srunner_set_fork_status(sr, CK_NOFORK);
  mock_reset();
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  mock_reset();
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* The simulated kernel, as loaded now, or from the build tree. */
static bool find_fake(char *out, size_t len) {
  void *sym = dlsym(RTLD_DEFAULT, "xe_fake_present");
  Dl_info info;
  if (sym != NULL && dladdr(sym, &info) && info.dli_fname != NULL) {
    sstrncpy(out, info.dli_fname, len);
    return true;
  }
  const char *b = getenv("XW_BUILDDIR");
  if (b == NULL)
    return false;
  snprintf(out, len, "%s/tests/fake/.libs/libxefake.so", b);
  return access(out, R_OK) == 0;
}

int main(int argc, char **argv) {
  (void)argc;
  if (getenv("XW_THREADS_INNER") != NULL)
    return run_suite();

  char fake[PATH_MAX];
  if (!find_fake(fake, sizeof(fake))) {
    fprintf(stderr, "SKIP: the simulated kernel is not loaded (run through "
                    "tests/run-test) nor built\n");
    return 77;
  }
  char dir[] = "/tmp/xw-threads.XXXXXX";
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 99;
  }
  char table[PATH_MAX], sock[PATH_MAX];
  snprintf(table, sizeof(table), "%s/devices", dir);
  snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
  FILE *fp = fopen(table, "we");
  if (fp == NULL) {
    perror(table);
    return 99;
  }
  for (unsigned i = 0; i < NDEV; i++)
    fprintf(fp, "%s driver=xe\n", nodes[i]);
  fclose(fp);

  /* The fake took itself out of LD_PRELOAD; a sanitizer runtime stays
   * first, the fake goes after it. */
  const char *cur = getenv("LD_PRELOAD");
  char preload[2 * PATH_MAX + 2];
  snprintf(preload, sizeof(preload), "%s%s%s", cur && *cur ? cur : "",
           cur && *cur ? ":" : "", fake);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("XW_THREADS_INNER", "1", 1);
    setenv("XE_FAKE_DEVICES", table, 1);
    setenv("XE_FAKE_CTL", sock, 1);
    setenv("LD_PRELOAD", preload, 1);
    setenv("CK_FORK", "no", 1);
    char self[PATH_MAX];
    if (strchr(argv[0], '/') == NULL || realpath(argv[0], self) == NULL)
      sstrncpy(self, "/proc/self/exe", sizeof(self));
    execv(self, argv);
    perror("exec");
    _exit(99);
  }
  int status = 0;
  int rc = 99;
  if (pid > 0 && waitpid(pid, &status, 0) == pid) {
    if (WIFEXITED(status))
      rc = WEXITSTATUS(status);
    else
      fprintf(stderr, "test-threads: killed by signal %d\n", WTERMSIG(status));
  }
  unlink(table);
  unlink(sock);
  rmdir(dir);
  return rc;
}
