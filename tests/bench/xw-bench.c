/* SPDX-License-Identifier: MIT */
/*
 * xw-bench: what xe_watch costs, side by side with a baseline reader built
 * the way the RFC's igt listener works (bench-baseline.c), both against the
 * simulated xe kernel (tests/fake). A benchmark, not a test: it prints
 * figures and marks the targets; only a broken run fails.
 *
 *   xw-bench --fake PATH/libxefake.so [--records N] [--devices N]
 *            [--idle-seconds S] [--queue-size NOTES] [--storm-rate R]
 *            [--phases a,b,...] [--smoke]
 *
 * The parent writes a device table into a temporary directory and runs each
 * phase in a fresh child process (execve of itself with the fake
 * preloaded and its own control socket), so that one phase's heap and
 * threads never inflate another's RSS. Children print "key=value" lines;
 * the parent prints the table (Markdown) on stdout, progress on stderr.
 *
 * The plugin is driven through its own modules exactly as xe_watch.c wires
 * them (listener thread, SPSC queue, dispatcher thread); bench-mock.c stands
 * in for collectd and timestamps each notification on arrival at the
 * consumer. NotificationLimit is 0 (unlimited) so that, like the baseline,
 * every VM error becomes a notification; one run uses the shipped limit.
 *
 * Every phase also checks that its counts add up (what the simulated kernel
 * queued, lost and handed out against what the reader counted, what the
 * consumer received); a failed check fails the phase. --smoke runs every
 * phase briefly (small counts, 4 devices, 2 s idle) for CI: the figures
 * then mean little, the checks as much as ever.
 */
#include "collectd.h"

#include "plugin.h"
#include "utils/common/common.h"

#include "bench.h"

#include <dirent.h>
#include <ftw.h>
#include <sched.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "device.h"
#include "discovery.h"
#include "dispatch.h"
#include "listener-internal.h"
#include "listener.h"
#include "notify.h"
#include "options.h"
#include "queue.h"
#include "transport.h"
#include "xe_watch_uapi.h"

#define BENCH_ERRNO (-ENOMEM)
#define MAX_THREADS_SNAP 512

static struct {
  const char *fake;       /* libxefake.so */
  const char *dir;        /* temporary directory: device table, sockets */
  uint64_t records;       /* records per throughput run */
  unsigned ndev;          /* devices for the scale and idle phases */
  unsigned idle_s;        /* idle measurement */
  int notes;              /* QueueSize of every pipe; also the burst size */
  unsigned storm_rate;    /* records/s offered in the storm runs */
  const char *only;       /* comma-separated phases, NULL: all */
  bool smoke;             /* every phase briefly: run and check, not measure */
  bool real_kernel;       /* in a guest with the xe test driver, no fake */
  const char *rk_results; /* the guest's key=value results, for the table */
  const char *rk_why;     /* why there are none */
} opt = {.records = 1000000,
         .ndev = 64,
         .idle_s = 10,
         .notes = 256,
         .storm_rate = 500000};

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt,
                                                                ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "xw-bench: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

static void result(const char *key, double v) {
  printf("%s=%.17g\n", key, v);
  fflush(stdout);
}

/* ---- sanity: the counts of a run must add up ---------------------------- */

static unsigned nchecks, nchecks_failed;

/* A figure from a run whose counts do not add up would be a lie: say which
 * and fail the phase (the run goes on, so one report shows every failure). */
__attribute__((format(printf, 2, 3))) static void sane(bool ok, const char *fmt,
                                                       ...) {
  nchecks++;
  if (ok)
    return;
  nchecks_failed++;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "\nxw-bench: sanity check failed: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
}

/* Smoke runs scale the phases' fixed counts down by this much. */
static unsigned scaled(unsigned n) {
  return opt.smoke ? (n / 10 > 0 ? n / 10 : 1) : n;
}

static void node_path(char *buf, size_t sz, const char *kind, unsigned i) {
  /* The real kernel has one render node per GPU; each reader opens its
   * own DRM file on it. */
  if (opt.real_kernel)
    snprintf(buf, sz, "/dev/dri/renderD%u", 128 + i);
  else
    snprintf(buf, sz, "%s/%s%u", opt.dir, kind, i);
}

static double secs(uint64_t ns) { return (double)ns / 1e9; }

static void sleep_until(uint64_t t) {
  struct timespec ts = {.tv_sec = (time_t)(t / 1000000000u),
                        .tv_nsec = (long)(t % 1000000000u)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

/* ---- the simulated kernel's control socket ----------------------------- */

/* One persistent connection; commands may be pipelined (the fake answers
 * them in order, one line each). */
static struct {
  int fd;
  size_t len;
  char buf[8192];
} ctl = {.fd = -1};

static void ctl_open(void) {
  const char *path = getenv("XE_FAKE_CTL");
  if (path == NULL)
    die("XE_FAKE_CTL is not set");
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  sstrncpy(a.sun_path, path, sizeof(a.sun_path));
  /* Bound by the fake's constructor; retried only in case it is not. */
  for (int i = 0; i < 500; i++) {
    ctl.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ctl.fd >= 0 && connect(ctl.fd, (struct sockaddr *)&a, sizeof(a)) == 0)
      return;
    close(ctl.fd);
    usleep(10000);
  }
  die("cannot connect to the simulated kernel at %s: %s", path, STRERRNO);
}

static void ctl_write(const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(ctl.fd, s, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      die("control socket write: %s", STRERRNO);
    s += w;
    n -= (size_t)w;
  }
}

static void ctl_line(char *out, size_t sz) {
  for (;;) {
    char *nl = memchr(ctl.buf, '\n', ctl.len);
    if (nl != NULL) {
      size_t n = (size_t)(nl - ctl.buf);
      snprintf(out, sz, "%.*s", (int)n, ctl.buf);
      ctl.len -= n + 1;
      memmove(ctl.buf, nl + 1, ctl.len);
      return;
    }
    if (ctl.len == sizeof(ctl.buf))
      die("control socket: reply too long");
    ssize_t r = read(ctl.fd, ctl.buf + ctl.len, sizeof(ctl.buf) - ctl.len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      die("control socket closed: %s", r < 0 ? STRERRNO : "EOF");
    ctl.len += (size_t)r;
  }
}

/* Read the replies of n pipelined vm_err commands; sums QUEUED and LOST. */
static void ctl_vm_err_replies(size_t n, uint64_t *queued, uint64_t *lost) {
  char line[256];
  for (size_t i = 0; i < n; i++) {
    unsigned long long q, l;
    ctl_line(line, sizeof(line));
    if (sscanf(line, "ok %llu %llu", &q, &l) != 2)
      die("simulated kernel says: %s", line);
    *queued += q;
    *lost += l;
  }
}

struct fake_stats {
  unsigned long long posted, queued, lost, reads, records_read;
};

static void ctl_stats(struct fake_stats *s) {
  char line[256];
  ctl_write("stats\n", 6);
  ctl_line(line, sizeof(line));
  if (sscanf(line,
             "ok posted=%llu queued=%llu lost=%llu reads=%llu "
             "records_read=%llu",
             &s->posted, &s->queued, &s->lost, &s->reads,
             &s->records_read) != 5)
    die("unexpected stats reply: %s", line);
}

/* Threads of this process the benchmark did not start: the simulated
 * kernel's control thread, which does all the posting. */
static uint64_t fake_run_ns(void) {
  DIR *d = opendir("/proc/self/task");
  if (d == NULL)
    return 0;
  uint64_t sum = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    pid_t tid = (pid_t)atoi(e->d_name);
    struct bench_task t;
    if (tid > 0 && !bench_tid_known(tid) && bench_task_read(tid, &t) == 0)
      sum += t.run_ns;
  }
  closedir(d);
  return sum;
}

/* ---- the two readers behind one interface ------------------------------ */

struct reader {
  bool xw;
  size_t n;
  char **nodes;
  /* xe_watch, wired as xe_watch.c does it */
  struct xw_config cfg;
  struct xw_device **devs;
  struct xw_queue q;
  struct xw_listener *l;
  struct xw_dispatcher *d;
  struct bench_thread *listener, *dispatcher; /* this reader's threads */
  /* baseline */
  struct bl_reader *bl;
};

static size_t count_threads(const char *name) {
  struct bench_thread *t[MAX_THREADS_SNAP];
  return bench_threads_find(name, t, MAX_THREADS_SNAP);
}

/* The thread named `name` that registered after `before` others of that
 * name had: the one just started. It registers as its first act, but may
 * not have run yet. */
static struct bench_thread *new_thread(const char *name, size_t before) {
  struct bench_thread *t[MAX_THREADS_SNAP];
  uint64_t deadline = bench_now_ns() + 5000000000u;
  size_t n;
  while ((n = bench_threads_find(name, t, MAX_THREADS_SNAP)) <= before) {
    if (bench_now_ns() > deadline)
      die("thread %s did not start", name);
    usleep(1000);
  }
  return t[n - 1];
}

/* ProcRoot of the readers that watch clients: a phase may point it at a
 * procfs fixture. */
static const char *reader_proc_root = "/proc";

/* notify_limit: xe_watch's NotificationLimit (0: every VM error is
 * notified, as the baseline does; the shipped default is 10).
 * client_scan: 0, or WatchClients true scanning /proc at that interval. */
static void reader_up(struct reader *r, bool xw, const char *kind, size_t n,
                      bool time_reads, unsigned notify_limit,
                      cdtime_t client_scan) {
  memset(r, 0, sizeof(*r));
  r->xw = xw;
  r->n = n;
  r->nodes = calloc(n, sizeof(*r->nodes));
  if (r->nodes == NULL)
    die("out of memory");
  for (size_t i = 0; i < n; i++) {
    char p[PATH_MAX];
    node_path(p, sizeof(p), kind, (unsigned)i);
    if ((r->nodes[i] = strdup(p)) == NULL)
      die("out of memory");
  }
  if (!xw) {
    int err = bl_create(&r->bl, r->nodes, n, opt.notes, time_reads);
    if (err == 0)
      err = bl_start(r->bl);
    if (err != 0)
      die("baseline: cannot start: %s", STRERROR(-err));
    return;
  }
  xw_config_init(&r->cfg);
  r->cfg.queue_size = opt.notes;
  r->cfg.notify_limit = notify_limit;
  /* WatchClients is on by default; the rows without a scan interval
   * measure the pipes alone, as before. */
  r->cfg.watch_clients = false;
  if (client_scan != 0) {
    r->cfg.watch_clients = true;
    r->cfg.client_scan = client_scan;
  }
  r->devs = calloc(n, sizeof(*r->devs));
  if (r->devs == NULL)
    die("out of memory");
  for (size_t i = 0; i < n; i++)
    if ((r->devs[i] = xw_device_new(r->nodes[i], (unsigned)i)) == NULL)
      die("out of memory");
  /* As xe_watch.c builds it from a configuration that sets only Device,
   * QueueSize, NotificationLimit and maybe WatchClients: udev on. */
  struct xw_listener_config lc = {
      .queue_notes = r->cfg.queue_size,
      .retry_min = r->cfg.retry_interval,
      .retry_max = r->cfg.retry_max,
      .queue_vm_errs = r->cfg.send_notification,
      .proc_root = r->cfg.watch_clients ? reader_proc_root : NULL,
      .client_scan = r->cfg.client_scan,
      .uevents = r->cfg.watch_uevents,
  };
  int err = xw_queue_init(&r->q, r->cfg.notify_queue);
  if (err == 0)
    err = xw_listener_create(&r->l, r->devs, n, &r->q, &lc);
  if (err == 0)
    err = xw_dispatcher_create(&r->d, &r->cfg, r->devs, n, &r->q,
                               xw_listener_wake_fd(r->l));
  bench_time_plugin_reads(time_reads);
  size_t nl = count_threads("xe_watch listen");
  size_t nd = count_threads("xe_watch notify");
  if (err == 0)
    err = xw_dispatcher_start(r->d);
  if (err == 0)
    err = xw_listener_start(r->l);
  if (err != 0)
    die("xe_watch: cannot start: %s", STRERROR(-err));
  uint64_t deadline = bench_now_ns() + 5000000000u;
  for (size_t i = 0; i < n; i++)
    while (atomic_load(&r->devs[i]->state) != XW_DEV_LISTENING) {
      if (bench_now_ns() > deadline)
        die("xe_watch: %s is not listening after 5 s", r->nodes[i]);
      usleep(1000);
    }
  r->listener = new_thread("xe_watch listen", nl);
  r->dispatcher = new_thread("xe_watch notify", nd);
}

static void reader_down(struct reader *r) {
  bench_consumer_set_delay(0);
  if (r->xw) {
    xw_dispatcher_stop(r->d);
    xw_listener_destroy(r->l);
    xw_dispatcher_destroy(r->d);
    xw_queue_destroy(&r->q);
    for (size_t i = 0; i < r->n; i++)
      xw_device_free(r->devs[i]);
    free(r->devs);
  } else {
    bl_destroy(r->bl);
  }
  for (size_t i = 0; i < r->n; i++)
    free(r->nodes[i]);
  free(r->nodes);
}

static uint64_t xw_sum(const struct reader *r, size_t off) {
  uint64_t s = 0;
  for (size_t i = 0; i < r->n; i++)
    s += atomic_load_explicit(
        (const _Atomic uint64_t *)((const char *)&r->devs[i]->ctr + off),
        memory_order_relaxed);
  return s;
}
#define XW_SUM(r, f) xw_sum((r), offsetof(struct xw_counters, f))

/* VM_ERR records the reader has read and decoded. */
static uint64_t reader_records(const struct reader *r) {
  return r->xw ? XW_SUM(r, vm_err) : BL_SUM(r->bl, vm_err);
}

/* xe_watch: VM errors not queued for notification (queue full). */
static uint64_t reader_dropped(const struct reader *r) {
  return r->xw ? XW_SUM(r, dropped) : 0;
}

/* The threads that read: the listener, or every baseline thread. */
static size_t reader_threads(const struct reader *r, struct bench_thread **out,
                             size_t max) {
  if (r->xw) {
    out[0] = r->listener;
    return 1;
  }
  return bench_threads_find("baseline", out, max);
}

struct snap {
  uint64_t t;
  uint64_t records, reads, lost, dropped;
  uint64_t run_ns, vol, nonvol;                /* reader threads */
  uint64_t read_cpu_ns, read_calls;            /* inside read() */
  uint64_t write_calls;                        /* xe_watch: dispatcher wakes */
  uint64_t wakeups;                            /* epoll_wait or poll returns */
  uint64_t disp_run_ns, disp_vol, disp_nonvol; /* xe_watch's dispatcher */
  uint64_t fake_ns;
  struct fake_stats fs;
  bool with_fake;
};

static void snap_take(const struct reader *r, struct snap *s, bool with_fake) {
  memset(s, 0, sizeof(*s));
  struct bench_thread *th[MAX_THREADS_SNAP];
  size_t n = reader_threads(r, th, MAX_THREADS_SNAP);
  for (size_t i = 0; i < n; i++) {
    struct bench_task t;
    if (bench_task_read(th[i]->tid, &t) == 0) {
      s->run_ns += t.run_ns;
      s->vol += t.vol;
      s->nonvol += t.nonvol;
    }
    s->read_cpu_ns += atomic_load(&th[i]->read_ns);
    s->read_calls += atomic_load(&th[i]->read_calls);
    s->write_calls += atomic_load(&th[i]->write_calls);
    s->wakeups += atomic_load(&th[i]->epoll_returns);
  }
  if (r->xw) {
    struct bench_task t;
    if (bench_task_read(r->dispatcher->tid, &t) == 0) {
      s->disp_run_ns = t.run_ns;
      s->disp_vol = t.vol;
      s->disp_nonvol = t.nonvol;
    }
    s->records = XW_SUM(r, vm_err);
    s->reads = XW_SUM(r, reads);
    s->lost = XW_SUM(r, lost);
    s->dropped = XW_SUM(r, dropped);
  } else {
    s->records = BL_SUM(r->bl, vm_err);
    s->reads = BL_SUM(r->bl, reads);
    s->lost = BL_SUM(r->bl, lost);
    s->wakeups = BL_SUM(r->bl, polls);
  }
  s->with_fake = with_fake;
  if (with_fake) {
    s->fake_ns = fake_run_ns();
    ctl_stats(&s->fs);
  }
  s->t = bench_now_ns();
}

/* A snapshot once the reader has counted every read the fake handed out
 * (a read in flight shows in the fake's stats first), or after 2 s. */
static void snap_settled(const struct reader *r, const struct snap *a,
                         struct snap *s) {
  uint64_t deadline = bench_now_ns() + 2000000000u;
  do {
    snap_take(r, s, true);
    if (s->fs.reads - a->fs.reads == s->reads - a->reads &&
        s->fs.records_read - a->fs.records_read ==
            s->records - a->records + s->lost - a->lost)
      return;
    usleep(1000);
  } while (bench_now_ns() < deadline);
}

static void wait_records(const struct reader *r, uint64_t target,
                         const char *what) {
  uint64_t deadline = bench_now_ns() + 20000000000u;
  for (unsigned spin = 0; reader_records(r) < target; spin++) {
    if ((spin & 255) == 0 && bench_now_ns() > deadline)
      die("%s: the reader read %" PRIu64 " of %" PRIu64 " records in 20 s",
          what, reader_records(r), target);
    /* Spinning politely: a sleep's timer slack would add its own gaps. */
    sched_yield();
  }
}

/* Wait until the consumer has seen n VM errors, or stops moving for
 * stall_ns (records dropped on the way never arrive). */
static void wait_consumed(uint64_t n, uint64_t stall_ns) {
  uint64_t last = bench_consumer_vm_errs(), since = bench_now_ns();
  while (bench_consumer_vm_errs() < n) {
    usleep(1000);
    uint64_t c = bench_consumer_vm_errs();
    if (c != last) {
      last = c;
      since = bench_now_ns();
    } else if (bench_now_ns() - since > stall_ns) {
      return;
    }
  }
}

/* Closed loop: every round posts `per_cmd` records `cmds` times to each of
 * the reader's devices (commands pipelined on the control socket), then
 * waits until the reader has read all the fake queued. Posting and reading
 * overlap within a round only as far as the fake's lock lets them. */
static void closed_loop(const struct reader *r, uint64_t total,
                        unsigned per_cmd, unsigned cmds, uint64_t *lost) {
  size_t cap = r->n * cmds * (strlen(r->nodes[0]) + 40);
  char *buf = malloc(cap);
  if (buf == NULL)
    die("out of memory");
  uint64_t target = reader_records(r), posted = 0;
  while (posted < total) {
    size_t len = 0;
    for (unsigned c = 0; c < cmds; c++)
      for (size_t i = 0; i < r->n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "vm_err %s 0 %d %u\n",
                                r->nodes[i], BENCH_ERRNO, per_cmd);
    ctl_write(buf, len);
    uint64_t q = 0;
    ctl_vm_err_replies(r->n * cmds, &q, lost);
    target += q;
    posted += (uint64_t)r->n * cmds * per_cmd;
    wait_records(r, target, "closed loop");
  }
  free(buf);
}

/* A storm at a fixed offered rate on device 0: a burst of QueueSize
 * records every notes/rate seconds for `ns`, never waiting for the reader
 * (a late burst is sent at once). What does not fit the kernel ring is
 * lost there. Open loop at full speed would measure nothing useful: posting
 * into a full ring costs the fake almost nothing, so the offered rate (and
 * the loss) would only say how fast the fake can refuse records. */
static void storm(const struct reader *r, uint64_t ns, uint64_t *posted,
                  uint64_t *queued, uint64_t *lost) {
  char cmd[PATH_MAX + 64];
  int len = snprintf(cmd, sizeof(cmd), "vm_err %s 0 %d %d\n", r->nodes[0],
                     BENCH_ERRNO, opt.notes);
  uint64_t interval = (uint64_t)opt.notes * 1000000000u / opt.storm_rate;
  uint64_t start = bench_now_ns();
  for (uint64_t k = 0; k * interval < ns; k++) {
    sleep_until(start + k * interval);
    ctl_write(cmd, (size_t)len);
    ctl_vm_err_replies(1, queued, lost);
    *posted += (uint64_t)opt.notes;
  }
}

/* ---- latency ----------------------------------------------------------- */

static uint32_t next_seq = 1;

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void percentiles(const char *prefix, const char *what, const uint64_t *s,
                        size_t n) {
  char key[96];
  uint64_t *v = malloc(n * sizeof(*v));
  if (v == NULL)
    die("out of memory");
  memcpy(v, s, n * sizeof(*v));
  qsort(v, n, sizeof(*v), cmp_u64);
  size_t i99 = (size_t)((double)n * 0.99);
  if (i99 >= n)
    i99 = n - 1;
  snprintf(key, sizeof(key), "%s_%sp50", prefix, what);
  result(key, (double)v[n / 2]);
  snprintf(key, sizeof(key), "%s_%sp99", prefix, what);
  result(key, (double)v[i99]);
  snprintf(key, sizeof(key), "%s_%smax", prefix, what);
  result(key, (double)v[n - 1]);
  free(v);
}

/* Report p50, p99 and max of the samples so far under prefix, in ns: post
 * to consumer, and the part from the reader's read() to the consumer. */
static void latency_report(const char *prefix, uint64_t expected) {
  size_t n;
  const uint64_t *hop;
  const uint64_t *s = bench_latency_samples(&n, &hop);
  /* Paced and burst runs never fill a ring or the queue. */
  sane(n == expected, "%s: %zu of %" PRIu64 " records reached the consumer",
       prefix, n, expected);
  char key[96];
  snprintf(key, sizeof(key), "%s_n", prefix);
  result(key, (double)n);
  snprintf(key, sizeof(key), "%s_expected", prefix);
  result(key, (double)expected);
  if (n > 0) {
    percentiles(prefix, "", s, n);
    percentiles(prefix, "hop_", hop, n);
  }
  bench_latency_reset();
}

/* One record every interval_ns to device 0, each its own command; the post
 * time is taken just before the command is sent. */
static void paced(const struct reader *r, unsigned count, uint64_t interval_ns,
                  const char *prefix) {
  char cmd[PATH_MAX + 64];
  uint64_t q = 0, l = 0, start = bench_now_ns() + 1000000u;
  uint64_t base = bench_consumer_vm_errs();
  for (unsigned k = 0; k < count; k++) {
    sleep_until(start + k * interval_ns);
    uint32_t seq = next_seq++;
    int len = snprintf(cmd, sizeof(cmd), "vm_err %s %u %d\n", r->nodes[0], seq,
                       BENCH_ERRNO);
    bench_consumer_mark(seq, bench_now_ns());
    ctl_write(cmd, (size_t)len);
    ctl_vm_err_replies(1, &q, &l);
  }
  wait_consumed(base + q, 2000000000u);
  latency_report(prefix, count);
}

/* Bursts of `len` single-record commands sent in one write(), all stamped
 * with the time just before that write. */
static void bursts(const struct reader *r, unsigned nbursts, unsigned len,
                   uint64_t interval_ns, const char *prefix) {
  size_t cap = len * (strlen(r->nodes[0]) + 40);
  char *buf = malloc(cap);
  if (buf == NULL)
    die("out of memory");
  uint64_t q = 0, l = 0, start = bench_now_ns() + 1000000u;
  uint64_t base = bench_consumer_vm_errs();
  for (unsigned b = 0; b < nbursts; b++) {
    sleep_until(start + b * interval_ns);
    size_t n = 0;
    uint32_t first = next_seq;
    for (unsigned k = 0; k < len; k++)
      n += (size_t)snprintf(buf + n, cap - n, "vm_err %s %u %d\n", r->nodes[0],
                            next_seq++, BENCH_ERRNO);
    uint64_t t = bench_now_ns();
    for (uint32_t s = first; s < next_seq; s++)
      bench_consumer_mark(s, t);
    ctl_write(buf, n);
    ctl_vm_err_replies(len, &q, &l);
  }
  wait_consumed(base + q, 2000000000u);
  latency_report(prefix, (uint64_t)nbursts * len);
  free(buf);
}

/* ---- phases ------------------------------------------------------------ */

#define MICRO_RECORDS 512

static void fill_records(unsigned char *buf) {
  static const int errs[] = {-ENOMEM, -ENOSPC, -ETIME, -EFAULT};
  for (unsigned i = 0; i < MICRO_RECORDS; i++) {
    struct drm_xe_watch_notification_vm_err rec = {
        .base = {.type = WATCH_TYPE_DRM_XE_NOTIFY,
                 .subtype = DRM_XE_WATCH_EVENT_VM_ERR,
                 .info = sizeof(rec)},
        .vm_id = i + 1,
        .error_code = errs[i % 4],
    };
    memcpy(buf + i * sizeof(rec), &rec, sizeof(rec));
  }
}

/* Each microbenchmark times this much work over the 512-record buffer,
 * after a warm-up of an eighth of it. */
#define MICRO_BUDGET_NS (opt.smoke ? 40000000u : 400000000u)

static double micro_xw(bool queue) {
  struct xw_device *dev = xw_device_new("/micro/xw", 0);
  struct xw_queue q;
  struct xw_listener *l;
  struct xw_listener_config lc = {.queue_notes = 512,
                                  .retry_min = TIME_T_TO_CDTIME_T(1),
                                  .retry_max = TIME_T_TO_CDTIME_T(1),
                                  .queue_vm_errs = queue};
  if (dev == NULL || xw_queue_init(&q, 4096) != 0 ||
      xw_listener_create(&l, &dev, 1, &q, &lc) != 0)
    die("micro: cannot create a listener");
  size_t len;
  unsigned char *buf = xw_listener_buf(l, &len);
  size_t bytes =
      MICRO_RECORDS * sizeof(struct drm_xe_watch_notification_vm_err);
  if (len < bytes)
    die("micro: the listener's buffer holds %zu bytes", len);
  fill_records(buf);

  uint64_t timed = 0, iters = 0, total = 0, popped = 0;
  struct xw_qitem it;
  for (int warm = 1; warm >= 0; warm--) {
    uint64_t budget = warm ? MICRO_BUDGET_NS / 8 : MICRO_BUDGET_NS;
    timed = iters = 0;
    while (timed < budget) {
      cdtime_t now = cdtime();
      uint64_t t0 = bench_now_ns();
      bool lost = false;
      xw_listener_handle_records(l, dev, bytes, now, &lost);
      timed += bench_now_ns() - t0;
      iters++;
      /* The dispatcher's side, on another core in the plugin: untimed. */
      while (xw_queue_pop(&q, &it))
        popped++;
    }
    total += iters;
  }
  /* A figure for records that were not all decoded would be a lie. */
  if (atomic_load(&dev->ctr.vm_err) != total * MICRO_RECORDS ||
      atomic_load(&dev->ctr.dropped) != 0 ||
      popped != (queue ? total * MICRO_RECORDS : 0))
    die("micro: the listener did not count and queue every record");
  xw_listener_destroy(l);
  xw_queue_destroy(&q);
  xw_device_free(dev);
  return (double)(iters * MICRO_RECORDS) / secs(timed);
}

static double micro_bl(void) {
  unsigned char
      buf[MICRO_RECORDS * sizeof(struct drm_xe_watch_notification_vm_err)];
  fill_records(buf);
  atomic_bool stop = false;
  struct bl_dev d = {.node = "/micro/bl", .name = "micro", .stop = &stop};
  uint64_t timed = 0, iters = 0;
  for (int warm = 1; warm >= 0; warm--) {
    uint64_t budget = warm ? MICRO_BUDGET_NS / 8 : MICRO_BUDGET_NS;
    timed = iters = 0;
    while (timed < budget) {
      uint64_t t0 = bench_now_ns();
      /* 512-byte reads: 32 records per callback batch. */
      for (size_t off = 0; off < sizeof(buf); off += BL_READ_BUF)
        bl_handle_chunk(&d, buf + off, BL_READ_BUF);
      timed += bench_now_ns() - t0;
      iters++;
    }
  }
  return (double)(iters * MICRO_RECORDS) / secs(timed);
}

/* What one notification costs the thread that dispatches it (message, meta,
 * the fast consumer): the same work in both designs, done by xe_watch's
 * dispatcher thread and by the baseline's reader thread. */
static double micro_notify_ns(void) {
  struct xw_qitem it = {.vm_id = 1, .error_code = -ENOMEM};
  uint64_t n = 0, t0 = bench_now_ns();
  while (bench_now_ns() - t0 < MICRO_BUDGET_NS / 4) {
    for (int i = 0; i < 256; i++)
      xw_notify_vm_err("micro", "/micro/xw", &it, NULL, NOTIF_FAILURE, 1, 0);
    n += 256;
  }
  return (double)(bench_now_ns() - t0) / (double)n;
}

static void phase_micro(bool unused) {
  (void)unused;
  result("xw.micro_rps", micro_xw(true));
  result("xw.micro_count_only_rps", micro_xw(false));
  result("bl.micro_rps", micro_bl());
  result("notify_ns", micro_notify_ns());
}

/* The simulated kernel's own memory per device (its ring lives in this
 * process; a real kernel's would not count in collectd's RSS). */
static void phase_fakemem(bool unused) {
  (void)unused;
  long rss0 = bench_rss_kib();
  for (unsigned i = 0; i < opt.ndev; i++) {
    char node[PATH_MAX];
    node_path(node, sizeof(node), "fk", i);
    struct xw_identity id;
    enum xw_stage stage;
    int fds[2];
    int fd = xw_device_open(node, &id, &stage);
    if (fd < 0 || xw_pipe_open(opt.notes, fds, &stage) != 0 ||
        xw_subscribe(fd, fds[0], 0) != 0)
      die("fakemem: cannot subscribe %s", node);
  }
  ctl_open();
  uint64_t q = 0, l = 0;
  for (unsigned i = 0; i < opt.ndev; i++) {
    char cmd[PATH_MAX + 64], node[PATH_MAX];
    node_path(node, sizeof(node), "fk", i);
    int len = snprintf(cmd, sizeof(cmd), "vm_err %s 0 %d %d\n", node,
                       BENCH_ERRNO, opt.notes);
    ctl_write(cmd, (size_t)len);
    ctl_vm_err_replies(1, &q, &l);
  }
  result("fake_kib_per_dev", (double)(bench_rss_kib() - rss0) / opt.ndev);
}

/* Figures of one measured run, from the snapshots around it. */
enum {
  F_RECORDS,
  F_RPS,
  F_READS_K,
  F_CALLS_K,
  F_CPU,
  F_READ_CPU,
  F_DISP_CPU,
  F_LOST,
  F_LOST_SEEN,
  F_DROPPED,
  F_FAKE_READS_K,
  F_FAKE_POST,
  F_WAKEUPS_K,
  F_WRITES_K,
  F_DISP_CTX_K,
  NFIGS
};

static const char *const fig_names[NFIGS] = {
    "records",
    "rps",
    "reads_per_k",
    "read_calls_per_k",
    "cpu_ns",
    "read_cpu_ns",
    "disp_cpu_ns",
    "lost",
    "lost_records_seen",
    "dropped",
    "fake_reads_per_k",
    "fake_post_ns",
    "wakeups_per_k",
    "writes_per_k",
    "disp_ctx_per_k",
};

static void run_figs(const struct snap *a, const struct snap *b, uint64_t lost,
                     double *f) {
  double recs = (double)(b->records - a->records);
  if (recs <= 0)
    die("no records read");
  f[F_RECORDS] = recs;
  f[F_RPS] = recs / secs(b->t - a->t);
  f[F_READS_K] = 1000.0 * (double)(b->reads - a->reads) / recs;
  f[F_CALLS_K] = 1000.0 * (double)(b->read_calls - a->read_calls) / recs;
  f[F_CPU] = (double)(b->run_ns - a->run_ns) / recs;
  f[F_READ_CPU] = (double)(b->read_cpu_ns - a->read_cpu_ns) / recs;
  f[F_DISP_CPU] = (double)(b->disp_run_ns - a->disp_run_ns) / recs;
  f[F_LOST] = (double)lost;
  f[F_LOST_SEEN] = (double)(b->lost - a->lost);
  f[F_DROPPED] = (double)(b->dropped - a->dropped);
  double fr = (double)(b->fs.records_read - a->fs.records_read);
  double posted = (double)(b->fs.posted - a->fs.posted);
  f[F_FAKE_READS_K] =
      fr > 0 ? 1000.0 * (double)(b->fs.reads - a->fs.reads) / fr : 0;
  f[F_FAKE_POST] = posted > 0 ? (double)(b->fake_ns - a->fake_ns) / posted : 0;
  f[F_WAKEUPS_K] = 1000.0 * (double)(b->wakeups - a->wakeups) / recs;
  f[F_WRITES_K] = 1000.0 * (double)(b->write_calls - a->write_calls) / recs;
  f[F_DISP_CTX_K] =
      1000.0 *
      (double)(b->disp_vol + b->disp_nonvol - a->disp_vol - a->disp_nonvol) /
      recs;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The median of each figure over nruns runs: one run on a shared 2-core
 * VM can be off by tens of percent, the median of three rarely is. */
#define MAX_RUNS 9
static void emit_figs(const char *p, double f[][NFIGS], size_t nruns) {
  char k[96];
  for (size_t i = 0; i < NFIGS; i++) {
    double v[MAX_RUNS];
    for (size_t r = 0; r < nruns; r++)
      v[r] = f[r][i];
    qsort(v, nruns, sizeof(v[0]), cmp_double);
    snprintf(k, sizeof(k), "%s_%s", p, fig_names[i]);
    result(k, v[nruns / 2]);
  }
  snprintf(k, sizeof(k), "%s_runs", p);
  result(k, (double)nruns);
}

static void emit_run(const char *p, const struct snap *a, const struct snap *b,
                     uint64_t lost) {
  double f[1][NFIGS];
  run_figs(a, b, lost, f[0]);
  emit_figs(p, f, 1);
}

/* The reader's counts between two snapshots against the simulated
 * kernel's: every read() that returned records and every record it handed
 * out (loss records included) counted once, by the reader as by the fake.
 * The reader is the only one reading the fake's pipes in its process. */
static void check_counts(const char *p, const struct snap *a,
                         const struct snap *b) {
  uint64_t fr = b->fs.reads - a->fs.reads, rr = b->reads - a->reads;
  uint64_t frec = b->fs.records_read - a->fs.records_read;
  uint64_t rec = b->records - a->records, lost = b->lost - a->lost;
  sane(fr == rr,
       "%s: the fake handed out %" PRIu64 " reads, the reader counted %" PRIu64,
       p, fr, rr);
  sane(frec == rec + lost,
       "%s: the fake handed out %" PRIu64
       " records, the reader counted %" PRIu64 " VM errors + %" PRIu64
       " loss records",
       p, frec, rec, lost);
}

/* nruns closed-loop runs of `total` records each; medians under p. A
 * closed loop never overfills a ring: nothing may be lost. */
static void measure_closed(const struct reader *r, const char *p, size_t nruns,
                           uint64_t total, unsigned per_cmd, unsigned cmds) {
  double f[MAX_RUNS][NFIGS];
  for (size_t i = 0; i < nruns; i++) {
    struct snap a, b;
    uint64_t lost = 0;
    snap_take(r, &a, true);
    closed_loop(r, total, per_cmd, cmds, &lost);
    snap_take(r, &b, true);
    run_figs(&a, &b, lost, f[i]);
    check_counts(p, &a, &b);
    sane(lost == 0 && b.lost == a.lost,
         "%s: closed loop, yet the kernel lost %" PRIu64
         " records and the reader saw %" PRIu64 " loss records",
         p, lost, b.lost - a.lost);
    sane(b.fs.queued - a.fs.queued == b.records - a.records,
         "%s: the fake queued %llu records, the reader read %" PRIu64, p,
         b.fs.queued - a.fs.queued, b.records - a.records);
  }
  emit_figs(p, f, nruns);
}

/* Every VM error the reader read reached the consumer, or (xe_watch) was
 * counted as dropped when the queue was full. */
static void check_consumed(const struct reader *r, const char *p,
                           uint64_t consumed0, uint64_t read0,
                           uint64_t dropped0) {
  uint64_t read = reader_records(r) - read0;
  uint64_t dropped = reader_dropped(r) - dropped0;
  wait_consumed(consumed0 + read - dropped, 2000000000u);
  uint64_t got = bench_consumer_vm_errs() - consumed0;
  sane(got + dropped == read,
       "%s: %" PRIu64 " VM errors read, %" PRIu64 " notified + %" PRIu64
       " dropped",
       p, read, got, dropped);
}

/* Wait up to 2 s for the reader to count `target` loss records. */
static uint64_t wait_loss(const struct reader *r, uint64_t target) {
  uint64_t deadline = bench_now_ns() + 2000000000u, seen;
  while ((seen = r->xw ? XW_SUM(r, lost) : BL_SUM(r->bl, lost)) < target &&
         bench_now_ns() < deadline)
    usleep(1000);
  return seen;
}

/* Loss accounting, reported beside the real kernel's: one post of twice
 * QueueSize records into an empty ring. The reader gets QueueSize of them
 * and, if it reads until EAGAIN, one loss record. */
static void overfill_report(const char *p, uint64_t posted, uint64_t read,
                            uint64_t seen) {
  char k[96];
  snprintf(k, sizeof(k), "%s.overfill_posted", p);
  result(k, (double)posted);
  snprintf(k, sizeof(k), "%s.overfill_read", p);
  result(k, (double)read);
  snprintf(k, sizeof(k), "%s.overfill_loss_seen", p);
  result(k, (double)seen);
  sane(read <= posted, "%s: one post of %" PRIu64 ", %" PRIu64 " read", p,
       posted, read);
}

static void overfill_fake(const struct reader *r, const char *p) {
  char cmd[PATH_MAX + 64];
  uint64_t q = 0, l = 0, r0 = reader_records(r);
  uint64_t s0 = r->xw ? XW_SUM(r, lost) : BL_SUM(r->bl, lost);
  int len = snprintf(cmd, sizeof(cmd), "vm_err %s 0 %d %d\n", r->nodes[0],
                     BENCH_ERRNO, 2 * opt.notes);
  ctl_write(cmd, (size_t)len);
  ctl_vm_err_replies(1, &q, &l);
  wait_records(r, r0 + q, p);
  uint64_t seen = wait_loss(r, s0 + (l > 0 && r->xw)) - s0;
  overfill_report(p, (uint64_t)2 * opt.notes, reader_records(r) - r0, seen);
  sane(r->xw ? seen == (l > 0) : seen <= (l > 0),
       "%s: the kernel lost %" PRIu64 " of one post, the reader saw %" PRIu64
       " loss records",
       p, l, seen);
}

/* One device: closed-loop bursts of QueueSize records (throughput, reads
 * per 1000 records, CPU per record, RSS before/after opt.records), then a
 * closed-loop stream of single-record posts (reads per 1000 when the
 * reader races the producer). */
static void phase_burst(bool xw) {
  const char *p = xw ? "xw" : "bl";
  char k[64];
  struct reader r;
  long rss0 = bench_rss_kib();
  reader_up(&r, xw, xw ? "xw" : "bl", 1, true, 0, 0);
  ctl_open();
  long rss_up = bench_rss_kib();
  uint64_t lost = 0;
  /* Warm-up: every queue slot, ring slot and code path touched once. */
  uint64_t c0 = bench_consumer_vm_errs(), r0 = reader_records(&r);
  uint64_t d0 = reader_dropped(&r);
  closed_loop(&r, 16384, (unsigned)opt.notes, 1, &lost);
  sane(lost == 0, "%s: warm-up, closed loop, yet the kernel lost %" PRIu64, p,
       lost);
  long rss_before = bench_rss_kib();
  snprintf(k, sizeof(k), "%s.burst", p);
  measure_closed(&r, k, 3, opt.records, (unsigned)opt.notes, 1);
  long rss_after = bench_rss_kib();
  snprintf(k, sizeof(k), "%s.stream", p);
  measure_closed(&r, k, 3, opt.records / 20, 1, (unsigned)opt.notes);

  snprintf(k, sizeof(k), "%s.rss1_idle_kib", p);
  result(k, (double)(rss_up - rss0));
  snprintf(k, sizeof(k), "%s.rss1_kib", p);
  result(k, (double)(rss_before - rss0));
  snprintf(k, sizeof(k), "%s.rss_before_kib", p);
  result(k, (double)rss_before);
  snprintf(k, sizeof(k), "%s.rss_after_kib", p);
  result(k, (double)rss_after);
  snprintf(k, sizeof(k), "%s.rss_records", p);
  result(k, 3.0 * (double)opt.records);
  overfill_fake(&r, p);
  check_consumed(&r, p, c0, r0, d0);
  reader_down(&r);

  if (xw) {
    /* The same bursts with the shipped NotificationLimit (10 per device,
     * errno and minute): what the dispatcher costs when a storm is rate
     * limited, as it is by default. */
    reader_up(&r, true, "xw", 1, true, XW_DEFAULT_NOTIFY_LIMIT, 0);
    closed_loop(&r, 16384, (unsigned)opt.notes, 1, &lost);
    measure_closed(&r, "xw.limited", 3, opt.records / 4, (unsigned)opt.notes,
                   1);
    reader_down(&r);
  }
}

/* One device, no read timing: notification latency with a fast consumer
 * (paced single records, then bursts), an open-loop storm with the fast
 * consumer, then the same with a consumer that takes 1 ms per
 * notification. */
static void phase_latency(bool xw) {
  const char *p = xw ? "xw" : "bl";
  char k[96];
  struct reader r;
  if (bench_latency_begin(1u << 20) != 0)
    die("latency: out of memory");
  reader_up(&r, xw, xw ? "xw" : "bl", 1, false, 0, 0);
  ctl_open();

  snprintf(k, sizeof(k), "%s.lat_fast_paced", p);
  paced(&r, scaled(2000), 1000000u, k);
  snprintf(k, sizeof(k), "%s.lat_fast_burst", p);
  bursts(&r, scaled(100), 32, 20000000u, k);

  static const struct {
    const char *name;
    long delay_ns;
  } consumers[] = {{"fast", 0}, {"slow", 1000000}};
  for (size_t c = 0; c < 2; c++) {
    bench_consumer_set_delay(consumers[c].delay_ns);
    if (consumers[c].delay_ns > 0) {
      snprintf(k, sizeof(k), "%s.lat_slow_paced", p);
      paced(&r, scaled(1000), 2000000u, k);
    }
    struct snap a, b, settled;
    uint64_t posted = 0, queued = 0, lost = 0, c0 = bench_consumer_vm_errs();
    uint64_t r0 = reader_records(&r), d0 = reader_dropped(&r);
    snap_take(&r, &a, true);
    storm(&r, opt.smoke ? 300000000u : 1500000000u, &posted, &queued, &lost);
    snap_take(&r, &b, true);
    snprintf(k, sizeof(k), "%s.storm_%s", p, consumers[c].name);
    emit_run(k, &a, &b, lost);
    /* Loss accounting: what was offered was queued or lost in the ring;
     * the reader reads all that was queued, and hears of the loss. */
    sane(posted == queued + lost,
         "%s: %" PRIu64 " records posted, %" PRIu64 " queued + %" PRIu64
         " lost",
         k, posted, queued, lost);
    wait_records(&r, r0 + queued, k);
    snap_settled(&r, &a, &settled);
    check_counts(k, &a, &settled);
    sane(settled.records - a.records == queued,
         "%s: %" PRIu64 " records queued, %" PRIu64 " read", k, queued,
         settled.records - a.records);
    uint64_t seen = settled.lost - a.lost;
    /* The baseline reads once per poll() wakeup, and poll() does not
     * announce a pending loss record: it may never see the last one. */
    sane(lost > 0 ? seen > 0 || !r.xw : seen == 0,
         "%s: the kernel lost %" PRIu64 " records, the reader saw %" PRIu64
         " loss records",
         k, lost, seen);
    check_consumed(&r, k, c0, r0, d0);
    snprintf(k, sizeof(k), "%s.storm_%s_posted", p, consumers[c].name);
    result(k, (double)posted);
    snprintf(k, sizeof(k), "%s.storm_%s_notified", p, consumers[c].name);
    result(k, (double)(bench_consumer_vm_errs() - c0));
  }
  reader_down(&r);
  bench_latency_end();
}

/* opt.ndev devices on one reader: RSS, and closed-loop bursts to every
 * device in turn. */
static void phase_scale(bool xw) {
  const char *p = xw ? "xw" : "bl";
  char k[96];
  struct reader r;
  long rss0 = bench_rss_kib();
  reader_up(&r, xw, xw ? "xw" : "bl", opt.ndev, true, 0, 0);
  ctl_open();
  uint64_t lost = 0;
  closed_loop(&r, (uint64_t)opt.ndev * (unsigned)opt.notes * 2,
              (unsigned)opt.notes, 1, &lost);
  long rss_warm = bench_rss_kib();
  snprintf(k, sizeof(k), "%s.scale", p);
  measure_closed(&r, k, 3, opt.records, (unsigned)opt.notes, 1);
  snprintf(k, sizeof(k), "%s.rssN_kib", p);
  result(k, (double)(rss_warm - rss0));
  snprintf(k, sizeof(k), "%s.rssN_end_kib", p);
  result(k, (double)(bench_rss_kib() - rss0));
  struct bench_thread *th[MAX_THREADS_SNAP];
  snprintf(k, sizeof(k), "%s.threadsN", p);
  result(k, xw ? 2.0 /* listener, dispatcher */
               : (double)bench_threads_find("baseline", th, MAX_THREADS_SNAP));
  reader_down(&r);
}

static long count_processes(void) {
  DIR *d = opendir("/proc");
  long n = 0;
  struct dirent *e;
  while (d != NULL && (e = readdir(d)) != NULL)
    n += e->d_name[0] >= '1' && e->d_name[0] <= '9';
  if (d != NULL)
    closedir(d);
  return n;
}

/* Both readers, opt.ndev devices each, nothing posted for opt.idle_s; and
 * beside them xe_watch with WatchClients true on one device, scanning this
 * machine's /proc every second (the default is 10 s) for DRM clients. */
static void phase_idle(bool unused) {
  (void)unused;
  struct reader x, b, c;
  reader_up(&x, true, "xw", opt.ndev, false, 0, 0);
  reader_up(&b, false, "bl", opt.ndev, false, 0, 0);
  reader_up(&c, true, "xc", 1, false, 0, TIME_T_TO_CDTIME_T(1));
  sleep(1); /* start-up notifications, first polls and scans settle */
  struct snap x0, x1, b0, b1, c0, c1;
  snap_take(&x, &x0, false);
  snap_take(&b, &b0, false);
  snap_take(&c, &c0, false);
  sleep(opt.idle_s);
  snap_take(&x, &x1, false);
  snap_take(&b, &b1, false);
  snap_take(&c, &c1, false);
  double s = secs(x1.t - x0.t), nd = opt.ndev;
  sane(x1.records == x0.records && b1.records == b0.records &&
           c1.records == c0.records,
       "idle: records read while nothing was posted");
  /* The baseline polls with a timeout: its wakeups prove the counters
   * count. */
  sane(b1.wakeups > b0.wakeups, "idle: no baseline poll() return counted");
  result("idle_seconds", s);
  result("xw.idle_ctx_per_s",
         (double)(x1.vol + x1.nonvol - x0.vol - x0.nonvol) / s);
  result("xw.idle_ctx_per_s_dev",
         (double)(x1.vol + x1.nonvol - x0.vol - x0.nonvol) / s / nd);
  result("xw.idle_wakeups_per_s_dev",
         (double)(x1.wakeups - x0.wakeups) / s / nd);
  result("xw.idle_disp_ctx_per_s",
         (double)(x1.disp_vol + x1.disp_nonvol - x0.disp_vol - x0.disp_nonvol) /
             s);
  result("bl.idle_ctx_per_s_dev",
         (double)(b1.vol + b1.nonvol - b0.vol - b0.nonvol) / s / nd);
  result("bl.idle_wakeups_per_s_dev",
         (double)(b1.wakeups - b0.wakeups) / s / nd);
  double scans = (double)(c1.wakeups - c0.wakeups);
  result("xc.idle_wakeups_per_s", scans / s);
  result("xc.scan_cpu_ns",
         scans > 0 ? (double)(c1.run_ns - c0.run_ns) / scans : 0);
  result("xc.processes", (double)count_processes());
  reader_down(&c);
  reader_down(&b);
  reader_down(&x);
}

/* ---- workload discovery: attach latency, scan cost ---------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  (void)st, (void)ftw;
  return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void remove_tree(const char *root) {
  nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_dir(const char *fmt, ...) {
  char p[PATH_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p, sizeof(p), fmt, ap);
  va_end(ap);
  if (mkdir(p, 0755) != 0 && errno != EEXIST)
    die("mkdir %s: %s", p, STRERRNO);
}

/* A procfs fixture of n processes, none holding a DRM file, each with the
 * fds, comm and cgroup a daemon has: what a scan walks past on a busy
 * host. Written by the real kernel (the parent is not under the fake). */
static void make_procfs(const char *root, unsigned n) {
  static const char *const links[] = {
      "/dev/null",           "pipe:[40917]",
      "socket:[40918]",      "anon_inode:[eventpoll]",
      "/var/log/daemon.log", "/usr/lib/x86_64-linux-gnu/libc.so.6"};
  make_dir("%s", root);
  for (unsigned i = 0; i < n; i++) {
    unsigned pid = 100000 + i;
    char p[PATH_MAX];
    make_dir("%s/%u", root, pid);
    make_dir("%s/%u/fd", root, pid);
    make_dir("%s/%u/fdinfo", root, pid);
    for (size_t k = 0; k < STATIC_ARRAY_SIZE(links); k++) {
      snprintf(p, sizeof(p), "%s/%u/fd/%zu", root, pid, k);
      if (symlink(links[k], p) != 0)
        die("symlink %s: %s", p, STRERRNO);
    }
    snprintf(p, sizeof(p), "%s/%u/comm", root, pid);
    FILE *fp = fopen(p, "we");
    if (fp == NULL)
      die("%s: %s", p, STRERRNO);
    fprintf(fp, "daemon%u\n", i);
    fclose(fp);
  }
}

/* The xe-client that belongs with the fake: BUILDDIR/tests/fake/xe-client
 * beside BUILDDIR/tests/fake/.libs/libxefake.so. */
static void client_path(char *out, size_t sz) {
  sstrncpy(out, opt.fake, sz);
  for (int k = 0; k < 2; k++) {
    char *slash = strrchr(out, '/');
    if (slash != NULL)
      *slash = '\0';
  }
  size_t len = strlen(out);
  snprintf(out + len, sz - len, "/xe-client");
}

/* Start an xe-client holding `files` DRM files on node until its stdin
 * closes: under the fake as collectd's workloads would be, but without the
 * control socket (ours). Returns its pid; *stdin_wr closes it. */
static pid_t spawn_client(const char *client, const char *node, unsigned files,
                          int *stdin_wr) {
  extern char **environ;
  static char preload[2 * PATH_MAX + 16];
  const char *old = getenv("LD_PRELOAD"); /* the fake took itself out */
  snprintf(preload, sizeof(preload), "LD_PRELOAD=%s%s%s", old ? old : "",
           old && *old ? ":" : "", opt.fake);
  size_t n = 0;
  while (environ[n] != NULL)
    n++;
  char **envp = calloc(n + 2, sizeof(*envp));
  if (envp == NULL)
    die("out of memory");
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "XE_FAKE_CTL=", 12) != 0 &&
        strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
      envp[m++] = environ[i];
  envp[m++] = preload;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    die("pipe2: %s", STRERRNO);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[0], STDIN_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY,
                                   0);
  char nfiles[16];
  snprintf(nfiles, sizeof(nfiles), "%u", files);
  char *argv[] = {"xe-client", "--files", nfiles, (char *)node, NULL};
  pid_t pid;
  int err = posix_spawn(&pid, client, &fa, NULL, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  free(envp);
  close(fds[0]);
  if (err != 0)
    die("%s: %s", client, STRERROR(err));
  *stdin_wr = fds[1];
  return pid;
}

#define ATTACH_WORKLOADS 50
#define ATTACH_INTERVAL_NS 200000000u

/* xe_watch with the default client settings (opens heard, a 60 s scan) on
 * one device whose node is a real file, so that inotify hears its opens:
 * workloads start one by one, each timed from just before it is spawned
 * (exec and the fake's set-up included) to its watch being live. */
static void phase_attach(bool unused) {
  (void)unused;
  char root[PATH_MAX], client[PATH_MAX];
  snprintf(root, sizeof(root), "%s/attach-proc", opt.dir);
  reader_proc_root = root;
  client_path(client, sizeof(client));
  if (access(client, X_OK) != 0)
    die("%s: %s", client, STRERRNO);
  struct reader r;
  reader_up(&r, true, "at", 1, false, 0, TIME_T_TO_CDTIME_T(60));
  _Atomic unsigned *live = &r.devs[0]->watches.n;
  usleep(200000); /* the scan that follows the device coming up */
  unsigned n = scaled(ATTACH_WORKLOADS), ok = 0;
  uint64_t *lat = calloc(n, sizeof(*lat));
  pid_t *pids = calloc(n, sizeof(*pids));
  int *wr = calloc(n, sizeof(*wr));
  if (lat == NULL || pids == NULL || wr == NULL)
    die("out of memory");
  uint64_t start = bench_now_ns();
  for (unsigned i = 0; i < n; i++) {
    sleep_until(start + (uint64_t)i * ATTACH_INTERVAL_NS);
    uint64_t t0 = bench_now_ns();
    pids[i] = spawn_client(client, r.nodes[0], 1, &wr[i]);
    while (atomic_load(live) < i + 1 && bench_now_ns() - t0 < 5000000000u)
      usleep(100);
    uint64_t t1 = bench_now_ns();
    sane(atomic_load(live) >= i + 1,
         "attach: workload %u (pid %d) not watched 5 s after its start", i,
         (int)pids[i]);
    if (atomic_load(live) >= i + 1)
      lat[ok++] = t1 - t0;
  }
  for (unsigned i = 0; i < n; i++)
    close(wr[i]);
  for (unsigned i = 0; i < n; i++)
    while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
      ;
  /* Their files closed, the kernel (the fake) ends their watches. */
  uint64_t t = bench_now_ns();
  while (atomic_load(live) > 0 && bench_now_ns() - t < 5000000000u)
    usleep(1000);
  sane(atomic_load(live) == 0,
       "attach: %u watches still live after every workload exited",
       atomic_load(live));
  result("at.n", ok);
  if (ok > 0)
    percentiles("at.attach", "", lat, ok);
  reader_down(&r);
  free(lat);
  free(pids);
  free(wr);
}

#define PIPES_FILES 1024 /* smoke: PIPES_FILES_SMOKE */
#define PIPES_FILES_SMOKE 300
#define PIPES_PER_CLIENT 128 /* smoke: 150; xe-client holds at most 256 */

/* The last watch attached on dev (highest serial): its client id, 0 if none. */
static uint64_t last_attached(struct xw_device *dev) {
  uint64_t id = 0;
  uint32_t best = 0;
  pthread_mutex_lock(&dev->lock);
  for (size_t i = 0; i < XW_SLOTS_ALL; i++) {
    const struct xw_client_attr *a = dev->watches.attr[i];
    if (a != NULL && a->live && (id == 0 || a->serial - best < 0x80000000u)) {
      id = a->client_id;
      best = a->serial;
    }
  }
  pthread_mutex_unlock(&dev->lock);
  return id;
}

/* 1,024 workload files on one GPU, no per-process or per-cgroup cap (the
 * reader sets none): 8 processes of 128 files start at once; timed from
 * the first spawn to every file watched, the reader's RSS before and after,
 * the pipes it took; then a VM error on the last file attached must be
 * notified, and every watch must end when the workloads exit. */
static void phase_pipes(bool unused) {
  (void)unused;
  char root[PATH_MAX], client[PATH_MAX];
  snprintf(root, sizeof(root), "%s/pipes-proc", opt.dir);
  reader_proc_root = root;
  client_path(client, sizeof(client));
  if (access(client, X_OK) != 0)
    die("%s: %s", client, STRERRNO);
  ctl_open();
  struct reader r;
  reader_up(&r, true, "pp", 1, false, 0, TIME_T_TO_CDTIME_T(60));
  struct xw_device *dev = r.devs[0];
  _Atomic unsigned *live = &dev->watches.n;
  usleep(200000); /* the scan that follows the device coming up */
  unsigned total = opt.smoke ? PIPES_FILES_SMOKE : PIPES_FILES;
  unsigned per = opt.smoke ? 150 : PIPES_PER_CLIENT;
  unsigned nproc = (total + per - 1) / per;
  pid_t *pids = calloc(nproc, sizeof(*pids));
  int *wr = calloc(nproc, sizeof(*wr));
  if (pids == NULL || wr == NULL)
    die("out of memory");
  long rss0 = bench_rss_kib();
  uint64_t t0 = bench_now_ns();
  for (unsigned i = 0; i < nproc; i++) {
    unsigned k = i + 1 < nproc ? per : total - per * (nproc - 1);
    pids[i] = spawn_client(client, r.nodes[0], k, &wr[i]);
  }
  while (atomic_load(live) < total && bench_now_ns() - t0 < 60000000000u)
    usleep(100);
  uint64_t t1 = bench_now_ns();
  unsigned got = atomic_load(live);
  sane(got == total, "pipes: %u of %u files watched 60 s after their start",
       got, total);
  usleep(200000); /* the listener's last allocations settle */
  long rss1 = bench_rss_kib();
  unsigned npipes = dev->watches.npipes; /* quiet now: no attach under way */
  unsigned want = (total + XW_WATCH_SLOTS - 2) / (XW_WATCH_SLOTS - 1);
  sane(npipes == want, "pipes: %u notification pipes for %u files, not %u",
       npipes, total, want);

  /* The last file attached sits on the last pipe opened. */
  uint64_t id = last_attached(dev), q = 0, l = 0;
  sane(id != 0, "pipes: no live watch to post a VM error to");
  uint64_t heard = 0;
  if (id != 0) {
    uint64_t before = bench_consumer_vm_errs();
    char cmd[96];
    int len =
        snprintf(cmd, sizeof(cmd), "vm_err_client %" PRIu64 " 0 -12 1\n", id);
    ctl_write(cmd, (size_t)len);
    ctl_vm_err_replies(1, &q, &l);
    uint64_t t = bench_now_ns();
    while (bench_consumer_vm_errs() == before &&
           bench_now_ns() - t < 5000000000u)
      usleep(1000);
    heard = bench_consumer_vm_errs() - before;
  }
  sane(q == 1 && heard == 1,
       "pipes: VM error on the last file attached: %" PRIu64 " queued, %" PRIu64
       " notified",
       q, heard);

  for (unsigned i = 0; i < nproc; i++)
    close(wr[i]);
  for (unsigned i = 0; i < nproc; i++)
    while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
      ;
  uint64_t t = bench_now_ns();
  while (atomic_load(live) > 0 && bench_now_ns() - t < 10000000000u)
    usleep(1000);
  sane(atomic_load(live) == 0,
       "pipes: %u watches still live after every workload exited",
       atomic_load(live));
  result("pp.files", got);
  result("pp.processes", nproc);
  result("pp.pipes", npipes);
  result("pp.attach_ns", (double)(t1 - t0));
  if (got > 0) {
    result("pp.attach_per_file_ns", (double)(t1 - t0) / got);
    if (rss0 >= 0 && rss1 >= 0)
      result("pp.rss_per_file_kib", (double)(rss1 - rss0) / got);
  }
  reader_down(&r);
  free(pids);
  free(wr);
}

static void count_client(void *ctx, const struct xw_client *c) {
  (void)c;
  (*(unsigned *)ctx)++;
}

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU and wall time of one full scan of a fixture (the caller's thread, as
 * the listener would spend it). */
static void scan_cost(const char *root, const char *key) {
  unsigned reps = opt.smoke ? 3 : 20, found = 0;
  xw_discovery_scan(root, "xe", NULL, 0, count_client, &found); /* warm */
  uint64_t c0 = thread_cpu_ns(), w0 = bench_now_ns();
  for (unsigned i = 0; i < reps; i++)
    sane(xw_discovery_scan(root, "xe", NULL, 0, count_client, &found) >= 0,
         "scan: %s cannot be read", root);
  uint64_t c1 = thread_cpu_ns(), w1 = bench_now_ns();
  sane(found == 0, "scan: %u DRM clients found in a fixture without any",
       found);
  char k[96];
  snprintf(k, sizeof(k), "sc.%s_cpu_ns", key);
  result(k, (double)(c1 - c0) / reps);
  snprintf(k, sizeof(k), "sc.%s_wall_ns", key);
  result(k, (double)(w1 - w0) / reps);
}

#define SCAN_SMALL 1000
#define SCAN_LARGE 5000
#define SCAN_LAT_INTERVAL MS_TO_CDTIME_T(1000)

/* Full scans of procfs fixtures of 1,000 and 5,000 processes; then records
 * posted one per ms while the listener scans the large one every 100 ms:
 * post to consumer, to compare with the same without scans. */
static void phase_scan(bool unused) {
  (void)unused;
  char small[PATH_MAX], large[PATH_MAX];
  snprintf(small, sizeof(small), "%s/proc-small", opt.dir);
  snprintf(large, sizeof(large), "%s/proc-large", opt.dir);
  result("sc.small_procs", scaled(SCAN_SMALL));
  result("sc.large_procs", scaled(SCAN_LARGE));
  scan_cost(small, "small");
  scan_cost(large, "large");

  if (bench_latency_begin(1u << 20) != 0)
    die("scan: out of memory");
  reader_proc_root = large;
  struct reader r;
  reader_up(&r, true, "sc", 1, false, 0, SCAN_LAT_INTERVAL);
  ctl_open();
  struct snap a, b;
  snap_take(&r, &a, false);
  paced(&r, scaled(2000), 1000000u, "sc.lat_scan");
  snap_take(&r, &b, false);
  double s = secs(b.t - a.t);
  result("sc.lat_scan_scans", s / CDTIME_T_TO_DOUBLE(SCAN_LAT_INTERVAL));
  result("sc.lat_scan_listener_cpu", (double)(b.run_ns - a.run_ns) / s);
  reader_down(&r);
  bench_latency_end();
}

/* ---- the real kernel: a QEMU guest with the xe test driver -------------- */

/* tests/bench/realkernel-bench.sh runs `xw-bench --real-kernel` in a guest
 * (tests/realkernel/vm-run) whose test driver posts VM_ERR records into one
 * DRM file on request (debugfs, tests/realkernel/README.md). Only counts
 * are reported: timings under TCG mean nothing. Each reader opens its own
 * DRM file, so it hears only what is posted to that file. */
#define RK_VM_ERR "/sys/kernel/debug/xe_test/vm_err"

static uint64_t rk_client_id(int drm_fd) {
  char path[64], line[256];
  unsigned long long id = 0;
  bool found = false;
  snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", drm_fd);
  FILE *fp = fopen(path, "re");
  if (fp == NULL)
    die("%s: %s", path, STRERRNO);
  while (!found && fgets(line, sizeof(line), fp) != NULL)
    found = sscanf(line, "drm-client-id: %llu", &id) == 1;
  fclose(fp);
  if (!found)
    die("%s: no drm-client-id", path);
  return id;
}

/* The reader's DRM file on device i. */
static int rk_drm_fd(const struct reader *r, size_t i) {
  return r->xw ? r->devs[i]->drm_fd : r->bl->devs[i].drm_fd;
}

/* Post count VM errors to one DRM file; the kernel queues them in one go. */
static void rk_post(uint64_t client, unsigned count) {
  char cmd[96];
  int len = snprintf(cmd, sizeof(cmd), "client:%" PRIu64 " 0 %d %u\n", client,
                     BENCH_ERRNO, count);
  int fd = open(RK_VM_ERR, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    die("%s: %s (not in the real-kernel guest?)", RK_VM_ERR, STRERRNO);
  if (write(fd, cmd, (size_t)len) != len)
    die("%s: %s: %s", RK_VM_ERR, cmd, STRERRNO);
  close(fd);
}

/* Closed loop on device 0: QueueSize records per post, wait for them. */
static void rk_closed_loop(const struct reader *r, uint64_t total) {
  uint64_t client = rk_client_id(rk_drm_fd(r, 0));
  uint64_t target = reader_records(r);
  for (uint64_t posted = 0; posted < total; posted += (uint64_t)opt.notes) {
    rk_post(client, (unsigned)opt.notes);
    target += (uint64_t)opt.notes;
    wait_records(r, target, "real kernel, closed loop");
  }
}

static void rk_burst(bool xw) {
  const char *p = xw ? "xw" : "bl";
  char k[96];
  struct reader r;
  reader_up(&r, xw, p, 1, true, 0, 0);
  rk_closed_loop(&r, (uint64_t)4 * opt.notes); /* warm-up */
  struct snap a, b;
  snap_take(&r, &a, false);
  rk_closed_loop(&r, opt.records);
  snap_take(&r, &b, false);
  snprintf(k, sizeof(k), "%s.burst", p);
  emit_run(k, &a, &b, 0);
  sane(b.records - a.records >= opt.records && b.lost == a.lost,
       "%s: closed loop, %" PRIu64 " records posted, %" PRIu64 " read, %" PRIu64
       " loss records",
       k, opt.records, b.records - a.records, b.lost - a.lost);

  uint64_t r0 = reader_records(&r);
  uint64_t s0 = xw ? XW_SUM(&r, lost) : BL_SUM(r.bl, lost);
  rk_post(rk_client_id(rk_drm_fd(&r, 0)), 2u * (unsigned)opt.notes);
  /* What the ring held, then a loss record (if the reader reads on). */
  wait_records(&r, r0 + 1, p);
  for (uint64_t n = 0; n != reader_records(&r);) {
    n = reader_records(&r);
    usleep(300000);
  }
  uint64_t seen = wait_loss(&r, s0 + 1) - s0;
  uint64_t got = reader_records(&r) - r0;
  overfill_report(p, (uint64_t)2 * opt.notes, got, seen);
  sane(got == (uint64_t)2 * opt.notes || seen > 0 || !xw,
       "%s: %" PRIu64 " of %u records read and no loss record", p, got,
       2 * opt.notes);
  reader_down(&r);
}

static void rk_idle(void) {
  struct reader x, b;
  reader_up(&x, true, "xw", opt.ndev, false, 0, 0);
  reader_up(&b, false, "bl", opt.ndev, false, 0, 0);
  sleep(1);
  struct snap x0, x1, b0, b1;
  snap_take(&x, &x0, false);
  snap_take(&b, &b0, false);
  sleep(opt.idle_s);
  snap_take(&x, &x1, false);
  snap_take(&b, &b1, false);
  double s = secs(x1.t - x0.t), nd = opt.ndev;
  result("idle_seconds", s);
  result("xw.idle_wakeups_per_s_dev",
         (double)(x1.wakeups - x0.wakeups) / s / nd);
  result("bl.idle_wakeups_per_s_dev",
         (double)(b1.wakeups - b0.wakeups) / s / nd);
  sane(x1.records == x0.records && b1.records == b0.records,
       "real kernel, idle: records read while nothing was posted");
  sane(b1.wakeups > b0.wakeups,
       "real kernel, idle: no baseline poll() return counted");
  reader_down(&b);
  reader_down(&x);
}

/* The guest's side: every count the host prints beside the fake's. */
static int rk_main(void) {
  bench_thread_register("main", false);
  char rel[PATH_MAX] = "";
  FILE *fp = fopen("/proc/sys/kernel/osrelease", "re");
  if (fp != NULL) {
    if (fgets(rel, sizeof(rel), fp) == NULL)
      rel[0] = '\0';
    fclose(fp);
  }
  fprintf(stderr, "xw-bench: real kernel %s", rel);
  rk_burst(true);
  rk_burst(false);
  rk_idle();
  result("records", (double)opt.records);
  result("devices", opt.ndev);
  result("checks", nchecks);
  result("checks_failed", nchecks_failed);
  fprintf(stderr, "xw-bench: real kernel: %u checks, %u failed\n", nchecks,
          nchecks_failed);
  return nchecks_failed > 0;
}

struct phase {
  const char *name;
  void (*fn)(bool xw);
  bool xw;
  const char *what;
};

static const struct phase phases[] = {
    {"micro", phase_micro, true, "decode+count microbenchmark"},
    {"fakemem", phase_fakemem, true, "the simulated kernel's own memory"},
    {"burst-xw", phase_burst, true, "xe_watch, 1 device, bursts"},
    {"burst-bl", phase_burst, false, "baseline, 1 device, bursts"},
    {"lat-xw", phase_latency, true, "xe_watch latency and storms"},
    {"lat-bl", phase_latency, false, "baseline latency and storms"},
    {"scale-xw", phase_scale, true, "xe_watch, many devices"},
    {"scale-bl", phase_scale, false, "baseline, many devices"},
    {"idle", phase_idle, true, "both readers idle"},
    {"attach", phase_attach, true, "xe_watch, workloads attached"},
    {"pipes", phase_pipes, true, "xe_watch, 1,024 workload files on one GPU"},
    {"scan", phase_scan, true, "xe_watch, procfs scans"},
};

/* ---- the parent: run the phases, print the table ----------------------- */

#define MAX_RESULTS 512

static struct {
  char key[64];
  double v;
} results[MAX_RESULTS];
static size_t nresults;

static bool have(const char *key, double *v) {
  for (size_t i = 0; i < nresults; i++)
    if (strcmp(results[i].key, key) == 0) {
      *v = results[i].v;
      return true;
    }
  return false;
}

static void parse_results(char *text) {
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    char *eq = strchr(line, '=');
    if (eq == NULL || nresults == MAX_RESULTS)
      continue;
    *eq = '\0';
    /* Every phase reports its own checks: the parent adds them up. */
    if (strcmp(line, "checks") == 0) {
      nchecks += (unsigned)strtoul(eq + 1, NULL, 10);
      continue;
    }
    if (strcmp(line, "checks_failed") == 0) {
      nchecks_failed += (unsigned)strtoul(eq + 1, NULL, 10);
      continue;
    }
    sstrncpy(results[nresults].key, line, sizeof(results[0].key));
    results[nresults].v = strtod(eq + 1, NULL);
    nresults++;
  }
}

static const char *self_exe(void) {
  static char path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0)
    die("cannot find my own executable: %s", STRERRNO);
  path[n] = '\0';
  return path;
}

static bool phase_wanted(const char *name) {
  if (opt.only == NULL)
    return true;
  size_t len = strlen(name);
  for (const char *p = opt.only; p != NULL && *p != '\0';) {
    const char *end = strchr(p, ',');
    size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
    if (n == len && strncmp(p, name, n) == 0)
      return true;
    p = end != NULL ? end + 1 : NULL;
  }
  return false;
}

/* Run one phase in a child under the fake; false if it failed. */
static bool run_phase(const struct phase *ph) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0)
    die("pipe2: %s", STRERRNO);
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    die("fork: %s", STRERRNO);
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    char preload[2 * PATH_MAX + 2], table[PATH_MAX], sock[PATH_MAX];
    const char *old = getenv("LD_PRELOAD");
    /* A sanitizer runtime already preloaded must stay first. */
    snprintf(preload, sizeof(preload), "%s%s%s", old ? old : "", old ? ":" : "",
             opt.fake);
    snprintf(table, sizeof(table), "%s/devices", opt.dir);
    snprintf(sock, sizeof(sock), "%s/%s.sock", opt.dir, ph->name);
    setenv("LD_PRELOAD", preload, 1);
    setenv("XE_FAKE_DEVICES", table, 1);
    setenv("XE_FAKE_CTL", sock, 1);
    setenv("XE_FAKE_LIB", opt.fake, 1); /* for the phases' own workloads */
    if (strcmp(ph->name, "attach") == 0 || strcmp(ph->name, "pipes") == 0) {
      /* The workloads show their DRM files there, as /proc would. */
      char procroot[PATH_MAX];
      snprintf(procroot, sizeof(procroot), "%s/%s-proc", opt.dir, ph->name);
      setenv("XE_FAKE_PROCROOT", procroot, 1);
    }
    char rec[32], ndev[16], idle[16], notes[16], rate[16], smoke[8];
    snprintf(smoke, sizeof(smoke), "%d", opt.smoke);
    snprintf(rate, sizeof(rate), "%u", opt.storm_rate);
    snprintf(rec, sizeof(rec), "%" PRIu64, opt.records);
    snprintf(ndev, sizeof(ndev), "%u", opt.ndev);
    snprintf(idle, sizeof(idle), "%u", opt.idle_s);
    snprintf(notes, sizeof(notes), "%d", opt.notes);
    char *argv[] = {"xw-bench",
                    "--phase",
                    (char *)ph->name,
                    "--dir",
                    (char *)opt.dir,
                    "--records",
                    rec,
                    "--devices",
                    ndev,
                    "--idle-seconds",
                    idle,
                    "--queue-size",
                    notes,
                    "--storm-rate",
                    rate,
                    "--smoke-level",
                    smoke,
                    NULL};
    execv(self_exe(), argv);
    _exit(127);
  }
  close(out[1]);
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (len + 1 == cap)
      buf = realloc(buf, cap *= 2);
    ssize_t r = read(out[0], buf + len, cap - len - 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    len += (size_t)r;
  }
  buf[len] = '\0';
  close(out[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  parse_results(buf);
  free(buf);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void write_table(void) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/devices", opt.dir);
  FILE *fp = fopen(path, "we");
  if (fp == NULL)
    die("%s: %s", path, STRERRNO);
  fprintf(fp, "# written by xw-bench\n");
  static const char *kinds[] = {"xw", "bl", "fk", "xc", "at", "sc", "pp"};
  for (size_t k = 0; k < STATIC_ARRAY_SIZE(kinds); k++)
    for (unsigned i = 0; i < opt.ndev; i++)
      fprintf(fp, "%s/%s%u driver=xe\n", opt.dir, kinds[k], i);
  fclose(fp);
  /* A real file at the attach phase's node: opens of it are heard
   * (inotify) as a kernel node's would be. */
  static const char *const heard[] = {"at0", "pp0"};
  for (size_t k = 0; k < STATIC_ARRAY_SIZE(heard); k++) {
    snprintf(path, sizeof(path), "%s/%s", opt.dir, heard[k]);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      die("%s: %s", path, STRERRNO);
    close(fd);
  }
  char p[PATH_MAX];
  if (phase_wanted("attach")) {
    snprintf(p, sizeof(p), "%s/attach-proc", opt.dir);
    make_dir("%s", p);
  }
  if (phase_wanted("pipes")) {
    snprintf(p, sizeof(p), "%s/pipes-proc", opt.dir);
    make_dir("%s", p);
  }
  if (phase_wanted("scan")) {
    snprintf(p, sizeof(p), "%s/proc-small", opt.dir);
    make_procfs(p, scaled(SCAN_SMALL));
    snprintf(p, sizeof(p), "%s/proc-large", opt.dir);
    make_procfs(p, scaled(SCAN_LARGE));
  }
}

static void remove_dir(void) { remove_tree(opt.dir); }

/* ---- formatting ---- */

enum better { HIGHER, LOWER, NEITHER };

typedef void (*fmt_fn)(char *out, size_t sz, double v);

static void f_rate(char *o, size_t n, double v) {
  if (v >= 1e6)
    snprintf(o, n, "%.2f M/s", v / 1e6);
  else if (v >= 1e3)
    snprintf(o, n, "%.1f k/s", v / 1e3);
  else
    snprintf(o, n, "%.0f /s", v);
}

static void f_ns(char *o, size_t n, double v) {
  if (v < 1e3)
    snprintf(o, n, "%.0f ns", v);
  else if (v < 1e6)
    snprintf(o, n, "%.1f µs", v / 1e3);
  else
    snprintf(o, n, "%.2f ms", v / 1e6);
}

static void f_num1(char *o, size_t n, double v) { snprintf(o, n, "%.1f", v); }
static void f_num2(char *o, size_t n, double v) { snprintf(o, n, "%.2f", v); }
static void f_int(char *o, size_t n, double v) { snprintf(o, n, "%.0f", v); }

static void f_kib(char *o, size_t n, double v) {
  if (v >= 10240 || v <= -10240)
    snprintf(o, n, "%.1f MiB", v / 1024);
  else
    snprintf(o, n, "%.0f KiB", v);
}

static void f_pct(char *o, size_t n, double v) {
  snprintf(o, n, "%.1f %%", v * 100);
}

/* A figure: its value for each reader (from results or computed). */
struct fig {
  bool ok;
  double v;
};

static struct fig get(const char *key) {
  struct fig f = {false, 0};
  f.ok = have(key, &f.v);
  return f;
}

static struct fig fig_of(bool ok, double v) { return (struct fig){ok, v}; }

static void cell(char *o, size_t n, struct fig f, fmt_fn fmt) {
  if (!f.ok)
    snprintf(o, n, "n/a");
  else
    fmt(o, n, f.v);
}

static void ratio(char *o, size_t n, struct fig x, struct fig b,
                  enum better better) {
  o[0] = '\0';
  if (!x.ok || !b.ok || better == NEITHER)
    return;
  double r;
  if (better == HIGHER) {
    if (b.v <= 0)
      return;
    r = x.v / b.v;
  } else {
    if (x.v <= 0) {
      snprintf(o, n, b.v > 0 ? "∞ better" : "same");
      return;
    }
    r = b.v / x.v;
  }
  if (r >= 1)
    snprintf(o, n, "%.1f× better", r);
  else
    snprintf(o, n, "%.1f× worse", 1 / r);
}

static unsigned nmet, nmissed;

/* met: 1 met, 0 missed, -1 no target. */
static void row(const char *label, struct fig x, struct fig b, fmt_fn fmt,
                enum better better, const char *target, int met) {
  char xs[64], bs[64], rs[64];
  cell(xs, sizeof(xs), x, fmt);
  cell(bs, sizeof(bs), b, fmt);
  ratio(rs, sizeof(rs), x, b, better);
  const char *m = "";
  if (met >= 0 && x.ok) {
    m = met ? "**met**" : "**missed**";
    if (met)
      nmet++;
    else
      nmissed++;
  }
  printf("| %s | %s | %s | %s | %s | %s |\n", label, xs, bs, rs,
         target ? target : "", m);
}

static void section(const char *title) {
  printf("| **%s** | | | | | |\n", title);
}

static struct fig lat(const char *p, const char *run, const char *which) {
  char k[96];
  snprintf(k, sizeof(k), "%s.lat_%s_%s", p, run, which);
  return get(k);
}

static struct fig key2(const char *p, const char *suffix) {
  char k[96];
  snprintf(k, sizeof(k), "%s.%s", p, suffix);
  return get(k);
}

/* Other work on the machine shows up in every figure; the table says how
 * much there was when the run started. */
static double start_load = -1;

static double loadavg(void) {
  double load = -1;
  FILE *fp = fopen("/proc/loadavg", "re");
  if (fp != NULL) {
    if (fscanf(fp, "%lf", &load) != 1)
      load = -1;
    fclose(fp);
  }
  return load;
}

static void print_machine(void) {
  char model[256] = "unknown";
  FILE *fp = fopen("/proc/cpuinfo", "re");
  if (fp != NULL) {
    char line[512];
    while (fgets(line, sizeof(line), fp) != NULL)
      if (strncmp(line, "model name", 10) == 0) {
        char *c = strchr(line, ':');
        if (c != NULL) {
          sstrncpy(model, c + 2, sizeof(model));
          model[strcspn(model, "\n")] = '\0';
        }
        break;
      }
    fclose(fp);
  }
  struct utsname u;
  uname(&u);

  printf("machine: %ld CPUs online, %s; Linux %s %s; xw-bench built with gcc "
         "%s\n",
         sysconf(_SC_NPROCESSORS_ONLN), model, u.release, u.machine,
         __VERSION__);
  printf("run: %" PRIu64 " records per throughput run (median of 3), %u "
         "devices for scale and idle, %u s idle, QueueSize %d (bursts of %d), "
         "NotificationLimit 0 unless said; load average before the run "
         "%.2f\n\n",
         opt.records, opt.ndev, opt.idle_s, opt.notes, opt.notes, start_load);
}

static void print_table(void) {
  char t[128];
  double fake = 0;
  bool fake_ok = have("fake_kib_per_dev", &fake);
  double nd = opt.ndev;

  printf("| figure | xe_watch | baseline (igt-style) | xe_watch vs baseline "
         "| target | |\n|---|---:|---:|---|---|---|\n");

  section("Throughput, one device");
  struct fig xm = get("xw.micro_rps"), bm = get("bl.micro_rps");
  row("decode + count, microbenchmark, records/s on one core (baseline: "
      "decode + its per-record callback)",
      xm, bm, f_rate, HIGHER, "≥ 1 M/s", xm.ok ? xm.v >= 1e6 : -1);
  row("… xe_watch without the queue push (counters only)",
      get("xw.micro_count_only_rps"), fig_of(false, 0), f_rate, NEITHER, NULL,
      -1);
  row("building + dispatching one notification (same code in both; fast "
      "consumer)",
      get("notify_ns"), get("notify_ns"), f_ns, NEITHER, NULL, -1);
  row("end to end through the fake, bursts of QueueSize, records/s (wall; "
      "bounded by the fake, see next rows)",
      key2("xw", "burst_rps"), key2("bl", "burst_rps"), f_rate, HIGHER, NULL,
      -1);
  row("the fake's posting cost per record (its control thread's CPU)",
      key2("xw", "burst_fake_post_ns"), key2("bl", "burst_fake_post_ns"), f_ns,
      NEITHER, NULL, -1);
  struct fig xc = key2("xw", "burst_cpu_ns"), bc = key2("bl", "burst_cpu_ns");
  row("reader thread CPU per record, incl. the fake's read() (baseline: incl. "
      "its consumer work)",
      xc, bc, f_ns, LOWER, NULL, -1);
  row("… of which inside the fake's read() (the emulated kernel)",
      key2("xw", "burst_read_cpu_ns"), key2("bl", "burst_read_cpu_ns"), f_ns,
      LOWER, NULL, -1);
  struct fig xcap = fig_of(xc.ok && xc.v > 0, 1e9 / xc.v);
  struct fig bcap = fig_of(bc.ok && bc.v > 0, 1e9 / bc.v);
  row("… as records/s per core of reader thread (the per-device capacity)",
      xcap, bcap, f_rate, HIGHER, "≥ 1 M/s", xcap.ok ? xcap.v >= 1e6 : -1);
  struct fig xd = key2("xw", "burst_disp_cpu_ns");
  row("xe_watch dispatcher thread CPU per record (every record notified)", xd,
      fig_of(false, 0), f_ns, NEITHER, NULL, -1);
  row("all the reader's threads, CPU per record (every record notified)",
      fig_of(xc.ok && xd.ok, xc.v + xd.v), bc, f_ns, LOWER, NULL, -1);
  struct fig xlc = key2("xw", "limited_cpu_ns"),
             xld = key2("xw", "limited_disp_cpu_ns");
  row("… xe_watch with the shipped NotificationLimit (10/min), listener + "
      "dispatcher (baseline: it has no limit)",
      fig_of(xlc.ok && xld.ok, xlc.v + xld.v), bc, f_ns, LOWER, NULL, -1);

  section("read() calls per 1000 records");
  struct fig xk = key2("xw", "burst_reads_per_k");
  row("bursts of QueueSize: reads returning records (reader's counter)", xk,
      key2("bl", "burst_reads_per_k"), f_num2, LOWER, "≤ 4",
      xk.ok ? xk.v <= 4.0 : -1);
  row("… the same per the fake's stats (loss records included)",
      key2("xw", "burst_fake_reads_per_k"),
      key2("bl", "burst_fake_reads_per_k"), f_num2, LOWER, NULL, -1);
  row("… every read() call, incl. the EAGAIN that ends a drain",
      key2("xw", "burst_read_calls_per_k"),
      key2("bl", "burst_read_calls_per_k"), f_num2, LOWER, NULL, -1);
  row("… event-loop wakeups (epoll_wait / poll returns)",
      key2("xw", "burst_wakeups_per_k"), key2("bl", "burst_wakeups_per_k"),
      f_num2, LOWER, NULL, -1);
  row("… xe_watch listener write()s (eventfd wakes of the dispatcher)",
      key2("xw", "burst_writes_per_k"), fig_of(false, 0), f_num2, NEITHER, NULL,
      -1);
  row("… xe_watch dispatcher context switches",
      key2("xw", "burst_disp_ctx_per_k"), fig_of(false, 0), f_num2, NEITHER,
      NULL, -1);
  row("single-record posts racing the reader: reads returning records",
      key2("xw", "stream_reads_per_k"), key2("bl", "stream_reads_per_k"),
      f_num1, LOWER, NULL, -1);
  row("… their throughput, records/s (wall)", key2("xw", "stream_rps"),
      key2("bl", "stream_rps"), f_rate, HIGHER, NULL, -1);

  section("Notification latency, post → consumer, one device");
  static const struct {
    const char *run, *label;
    bool target;
  } lats[] = {
      {"fast_paced", "fast consumer, 1 record/ms", true},
      {"fast_burst", "fast consumer, bursts of 32 every 20 ms", true},
      {"slow_paced", "1 ms consumer, 1 record/2 ms", false},
  };
  for (size_t i = 0; i < 3; i++) {
    struct fig x50 = lat("xw", lats[i].run, "p50"),
               b50 = lat("bl", lats[i].run, "p50");
    struct fig x99 = lat("xw", lats[i].run, "p99"),
               b99 = lat("bl", lats[i].run, "p99");
    struct fig xmx = lat("xw", lats[i].run, "max"),
               bmx = lat("bl", lats[i].run, "max");
    snprintf(t, sizeof(t), "%s: p50", lats[i].label);
    row(t, x50, b50, f_ns, LOWER, NULL, -1);
    snprintf(t, sizeof(t), "%s: p99", lats[i].label);
    row(t, x99, b99, f_ns, LOWER, lats[i].target ? "< 5 ms" : NULL,
        lats[i].target && x99.ok ? x99.v < 5e6 : -1);
    snprintf(t, sizeof(t), "%s: max", lats[i].label);
    row(t, xmx, bmx, f_ns, LOWER, NULL, -1);
    snprintf(t, sizeof(t), "%s: of which read() → consumer, p50 / p99",
             lats[i].label);
    struct fig xh50 = lat("xw", lats[i].run, "hop_p50"),
               bh50 = lat("bl", lats[i].run, "hop_p50");
    struct fig xh99 = lat("xw", lats[i].run, "hop_p99"),
               bh99 = lat("bl", lats[i].run, "hop_p99");
    char xs2[80], bs2[80], a[32], b[32];
    cell(a, sizeof(a), xh50, f_ns);
    cell(b, sizeof(b), xh99, f_ns);
    snprintf(xs2, sizeof(xs2), "%s / %s", a, b);
    cell(a, sizeof(a), bh50, f_ns);
    cell(b, sizeof(b), bh99, f_ns);
    snprintf(bs2, sizeof(bs2), "%s / %s", a, b);
    printf("| %s | %s | %s | | | |\n", t, xs2, bs2);
    struct fig xn = lat("xw", lats[i].run, "n"),
               bn = lat("bl", lats[i].run, "n");
    struct fig xe = lat("xw", lats[i].run, "expected");
    snprintf(t, sizeof(t), "%s: samples (of %.0f posted)", lats[i].label,
             xe.ok ? xe.v : 0);
    row(t, xn, bn, f_int, NEITHER, NULL, -1);
  }

  snprintf(t, sizeof(t),
           "Storm: %.0f k records/s offered (bursts of %d) for 1.5 s, one "
           "device",
           opt.storm_rate / 1e3, opt.notes);
  section(t);
  struct fig xf = key2("xw", "storm_fast_rps"),
             bf = key2("bl", "storm_fast_rps");
  struct fig xs = key2("xw", "storm_slow_rps"),
             bs = key2("bl", "storm_slow_rps");
  row("records read/s, fast consumer", xf, bf, f_rate, HIGHER, NULL, -1);
  row("records read/s, 1 ms consumer", xs, bs, f_rate, HIGHER, NULL, -1);
  struct fig xq = fig_of(xf.ok && xs.ok && xf.v > 0, xs.v / xf.v);
  struct fig bq = fig_of(bf.ok && bs.ok && bf.v > 0, bs.v / bf.v);
  row("read rate with the 1 ms consumer ÷ with the fast one", xq, bq, f_pct,
      HIGHER, "unchanged (≥ 90 %)", xq.ok ? xq.v >= 0.9 : -1);
  static const char *const cons[] = {"fast", "slow"};
  for (size_t c = 0; c < 2; c++) {
    char k1[64], k2[64];
    snprintf(k1, sizeof(k1), "storm_%s_lost", cons[c]);
    snprintf(k2, sizeof(k2), "storm_%s_posted", cons[c]);
    struct fig xl = key2("xw", k1), xp = key2("xw", k2);
    struct fig bl = key2("bl", k1), bp = key2("bl", k2);
    snprintf(t, sizeof(t), "records lost in the kernel ring, %s consumer",
             c == 0 ? "fast" : "1 ms");
    row(t, fig_of(xl.ok && xp.ok && xp.v > 0, xl.v / xp.v),
        fig_of(bl.ok && bp.ok && bp.v > 0, bl.v / bp.v), f_pct, LOWER, NULL,
        -1);
  }
  row("notifications delivered during the 1 ms storm",
      key2("xw", "storm_slow_notified"), key2("bl", "storm_slow_notified"),
      f_int, NEITHER, NULL, -1);
  row("VM errors counted but not notified (queue full, counted in 'dropped')",
      key2("xw", "storm_slow_dropped"), fig_of(false, 0), f_int, NEITHER, NULL,
      -1);

  snprintf(t, sizeof(t), "Idle, %u devices per reader, %u s", opt.ndev,
           opt.idle_s);
  section(t);
  struct fig xw0 = get("xw.idle_wakeups_per_s_dev");
  row("wakeups/s per device (epoll_wait / poll returns)", xw0,
      get("bl.idle_wakeups_per_s_dev"), f_num2, LOWER, "0 (baseline: 5)",
      xw0.ok ? xw0.v == 0 : -1);
  struct fig xcs = get("xw.idle_ctx_per_s_dev");
  row("reader context switches/s per device (/proc/…/task/TID/status)", xcs,
      get("bl.idle_ctx_per_s_dev"), f_num2, LOWER, "0",
      xcs.ok ? xcs.v == 0 : -1);
  row("xe_watch dispatcher context switches/s (whole plugin)",
      get("xw.idle_disp_ctx_per_s"), fig_of(false, 0), f_num2, NEITHER, NULL,
      -1);
  row("xe_watch with WatchClients true, ClientScanInterval 1 s: listener "
      "wakeups/s (whole plugin)",
      get("xc.idle_wakeups_per_s"), fig_of(false, 0), f_num2, NEITHER, NULL,
      -1);
  struct fig procs = get("xc.processes");
  snprintf(t, sizeof(t), "… CPU per scan of /proc (%.0f processes here)",
           procs.ok ? procs.v : 0);
  row(t, get("xc.scan_cpu_ns"), fig_of(false, 0), f_ns, NEITHER, NULL, -1);

  section("Workload discovery (WatchClients, default settings)");
  struct fig atn = get("at.n"), at99 = get("at.attach_p99");
  snprintf(t, sizeof(t),
           "attach latency, workload spawned → its watch live, p50 (%.0f "
           "workloads, one every %.0f ms; exec and open() included)",
           atn.ok ? atn.v : 0, ATTACH_INTERVAL_NS / 1e6);
  row(t, get("at.attach_p50"), fig_of(false, 0), f_ns, NEITHER, NULL, -1);
  row("… p99", at99, fig_of(false, 0), f_ns, NEITHER, "< 100 ms",
      at99.ok ? at99.v < 100e6 : -1);
  row("… max", get("at.attach_max"), fig_of(false, 0), f_ns, NEITHER, NULL, -1);
  struct fig ppf = get("pp.files"), ppn = get("pp.processes");
  snprintf(t, sizeof(t),
           "attach time, %.0f workload files in %.0f processes started at "
           "once → all watched (no per-process or per-cgroup cap)",
           ppf.ok ? ppf.v : 0, ppn.ok ? ppn.v : 0);
  row(t, get("pp.attach_ns"), fig_of(false, 0), f_ns, NEITHER, NULL, -1);
  row("… per file", get("pp.attach_per_file_ns"), fig_of(false, 0), f_ns,
      NEITHER, NULL, -1);
  row("… reader RSS added per watched file, KiB (the fake's own record of each "
      "file included)",
      get("pp.rss_per_file_kib"), fig_of(false, 0), f_num2, NEITHER, NULL, -1);
  row("… notification pipes used (255 workload watch ids each)",
      get("pp.pipes"), fig_of(false, 0), f_int, NEITHER, NULL, -1);
  static const struct {
    const char *key, *what;
  } scans[] = {{"small", "small"}, {"large", "large"}};
  for (size_t i = 0; i < STATIC_ARRAY_SIZE(scans); i++) {
    char k[64];
    snprintf(k, sizeof(k), "sc.%s_procs", scans[i].key);
    struct fig np = get(k);
    snprintf(t, sizeof(t),
             "CPU per full scan, procfs fixture of %.0f processes (6 fds, "
             "none DRM, each)",
             np.ok ? np.v : 0);
    snprintf(k, sizeof(k), "sc.%s_cpu_ns", scans[i].key);
    row(t, get(k), fig_of(false, 0), f_ns, NEITHER, NULL, -1);
    snprintf(k, sizeof(k), "sc.%s_wall_ns", scans[i].key);
    struct fig w = get(k);
    row("… wall time per scan", w, fig_of(false, 0), f_ns, NEITHER, NULL, -1);
    snprintf(t, sizeof(t),
             "… per slice of %d processes (the longest a scan keeps the "
             "listener from its pipes)",
             XW_SCAN_SLICE);
    row(t, fig_of(w.ok && np.ok && np.v > 0, w.v / np.v * XW_SCAN_SLICE),
        fig_of(false, 0), f_ns, NEITHER, NULL, -1);
  }
  struct fig lp = get("sc.large_procs");
  snprintf(t, sizeof(t),
           "record posted → notified while the listener scans %.0f processes "
           "every %.0f ms, p50 (baseline: its paced run, no scans)",
           lp.ok ? lp.v : 0, CDTIME_T_TO_DOUBLE(SCAN_LAT_INTERVAL) * 1e3);
  row(t, get("sc.lat_scan_p50"), lat("bl", "fast_paced", "p50"), f_ns, LOWER,
      NULL, -1);
  row("… p99", get("sc.lat_scan_p99"), lat("bl", "fast_paced", "p99"), f_ns,
      LOWER, NULL, -1);
  row("… max", get("sc.lat_scan_max"), lat("bl", "fast_paced", "max"), f_ns,
      LOWER, NULL, -1);
  row("… xe_watch without scans (paced run above), p99",
      lat("xw", "fast_paced", "p99"), lat("bl", "fast_paced", "p99"), f_ns,
      LOWER, NULL, -1);

  section("Memory (RSS; the fake's in-process ring subtracted)");
  row("the fake's own ring and objects per device (subtracted below)",
      fig_of(fake_ok, fake), fig_of(fake_ok, fake), f_kib, NEITHER, NULL, -1);
  struct fig x1i = key2("xw", "rss1_idle_kib"),
             b1i = key2("bl", "rss1_idle_kib");
  row("RSS added by the reader, 1 device, up but no record yet",
      fig_of(x1i.ok && fake_ok, x1i.v - fake),
      fig_of(b1i.ok && fake_ok, b1i.v - fake), f_kib, LOWER, NULL, -1);
  struct fig x1 = key2("xw", "rss1_kib"), b1 = key2("bl", "rss1_kib");
  struct fig x1n = fig_of(x1.ok && fake_ok, x1.v - fake);
  struct fig b1n = fig_of(b1.ok && fake_ok, b1.v - fake);
  row("RSS added by the reader, 1 device, after a storm (queue, buffers, "
      "arenas touched)",
      x1n, b1n, f_kib, LOWER, NULL, -1);
  struct fig xn = key2("xw", "rssN_kib"), bn = key2("bl", "rssN_kib");
  struct fig xnn = fig_of(xn.ok && fake_ok, xn.v - nd * fake);
  struct fig bnn = fig_of(bn.ok && fake_ok, bn.v - nd * fake);
  snprintf(t, sizeof(t), "RSS added by the reader, %u devices", opt.ndev);
  row(t, xnn, bnn, f_kib, LOWER, NULL, -1);
  struct fig xpd = fig_of(xnn.ok, xnn.v / nd), bpd = fig_of(bnn.ok, bnn.v / nd);
  snprintf(t, sizeof(t), "… per device at %u devices", opt.ndev);
  row(t, xpd, bpd, f_kib, LOWER, "< 64 KiB", xpd.ok ? xpd.v < 64 : -1);
  struct fig xmg = fig_of(xnn.ok && x1n.ok, (xnn.v - x1n.v) / (nd - 1));
  struct fig bmg = fig_of(bnn.ok && b1n.ok, (bnn.v - b1n.v) / (nd - 1));
  row("… marginal per added device", xmg, bmg, f_kib, LOWER, "< 64 KiB",
      xmg.ok ? xmg.v < 64 : -1);
  struct fig xb = key2("xw", "rss_before_kib"),
             xa = key2("xw", "rss_after_kib");
  struct fig bb = key2("bl", "rss_before_kib"),
             ba = key2("bl", "rss_after_kib");
  struct fig xrr = key2("xw", "rss_records");
  snprintf(t, sizeof(t),
           "RSS growth over %.0f records (1 device, after "
           "warm-up)",
           xrr.ok ? xrr.v : 0);
  row(t, fig_of(xb.ok && xa.ok, xa.v - xb.v),
      fig_of(bb.ok && ba.ok, ba.v - bb.v), f_kib, NEITHER, NULL, -1);

  snprintf(t, sizeof(t), "Scale: %u devices", opt.ndev);
  section(t);
  row("threads the reader runs", key2("xw", "threadsN"), key2("bl", "threadsN"),
      f_int, LOWER, NULL, -1);
  row("end to end, bursts to every device in turn, records/s (wall)",
      key2("xw", "scale_rps"), key2("bl", "scale_rps"), f_rate, HIGHER, NULL,
      -1);
  row("reads returning records per 1000 records",
      key2("xw", "scale_reads_per_k"), key2("bl", "scale_reads_per_k"), f_num2,
      LOWER, "≤ 4",
      key2("xw", "scale_reads_per_k").ok
          ? key2("xw", "scale_reads_per_k").v <= 4.0
          : -1);
  row("event-loop wakeups per 1000 records", key2("xw", "scale_wakeups_per_k"),
      key2("bl", "scale_wakeups_per_k"), f_num2, LOWER, NULL, -1);
  row("xe_watch listener write()s (dispatcher wakes) per 1000 records",
      key2("xw", "scale_writes_per_k"), fig_of(false, 0), f_num2, NEITHER, NULL,
      -1);
  row("reader thread CPU per record", key2("xw", "scale_cpu_ns"),
      key2("bl", "scale_cpu_ns"), f_ns, LOWER, NULL, -1);
  row("… of which inside the fake's read()", key2("xw", "scale_read_cpu_ns"),
      key2("bl", "scale_read_cpu_ns"), f_ns, LOWER, NULL, -1);
  printf("\ntargets: %u met, %u missed (a target row without a figure is "
         "not counted)\n",
         nmet, nmissed);
}

/* Counts from the real kernel (a guest run's key=value lines, prefixed
 * "rk."), beside the same counts from the fake. */
static void load_real_kernel(unsigned *checks, unsigned *failed) {
  FILE *fp = fopen(opt.rk_results, "re");
  if (fp == NULL) {
    fprintf(stderr, "xw-bench: %s: %s\n", opt.rk_results, STRERRNO);
    return;
  }
  char line[256];
  while (fgets(line, sizeof(line), fp) != NULL && nresults < MAX_RESULTS) {
    char *eq = strchr(line, '=');
    if (eq == NULL)
      continue;
    *eq = '\0';
    if (strcmp(line, "checks") == 0)
      *checks = (unsigned)strtoul(eq + 1, NULL, 10);
    else if (strcmp(line, "checks_failed") == 0)
      *failed = (unsigned)strtoul(eq + 1, NULL, 10);
    if (strlen(line) + 4 > sizeof(results[0].key))
      continue;
    memcpy(results[nresults].key, "rk.", 3);
    sstrncpy(results[nresults].key + 3, line, sizeof(results[0].key) - 3);
    results[nresults].v = strtod(eq + 1, NULL);
    nresults++;
  }
  fclose(fp);
}

/* One count, simulated vs real, for both readers. compare: an exact count,
 * marked "same" or "differs" as printed; a rate (idle wakeups of a timed
 * poll()) is not. */
static void rk_row(const char *label, const char *key, fmt_fn fmt,
                   bool compare) {
  char k[96], c[4][64];
  struct fig f[4];
  const char *who[2] = {"xw", "bl"};
  for (int i = 0; i < 2; i++) {
    snprintf(k, sizeof(k), "%s.%s", who[i], key);
    f[2 * i] = get(k);
    snprintf(k, sizeof(k), "rk.%s.%s", who[i], key);
    f[2 * i + 1] = get(k);
  }
  for (int i = 0; i < 4; i++)
    cell(c[i], sizeof(c[i]), f[i], fmt);
  const char *same[2];
  for (int i = 0; i < 2; i++)
    same[i] = !compare || !f[2 * i].ok || !f[2 * i + 1].ok ? ""
              : strcmp(c[2 * i], c[2 * i + 1]) == 0        ? "same"
                                                           : "**differs**";
  printf("| %s | %s | %s | %s | %s | %s | %s |\n", label, c[0], c[1], same[0],
         c[2], c[3], same[1]);
}

static void print_real_kernel(void) {
  printf("\n## Counts: simulated kernel vs the real kernel\n\n");
  unsigned checks = 0, failed = 0;
  if (opt.rk_results != NULL)
    load_real_kernel(&checks, &failed);
  nchecks += checks;
  nchecks_failed += failed;
  struct fig recs = get("rk.records"), idle = get("rk.idle_seconds");
  if (!recs.ok) {
    printf("real kernel: not run (%s)\n",
           opt.rk_why != NULL ? opt.rk_why
                              : "tests/bench/realkernel-bench.sh runs it");
    return;
  }
  printf("real kernel: tests/realkernel's kernel and xe test driver in QEMU "
         "(TCG), %.0f records per reader in bursts of QueueSize %d posted "
         "to its own DRM file through debugfs; %.0f s idle with %.0f "
         "devices; %u checks, %u failed. Timings under TCG mean nothing: "
         "counts only.\n\n",
         recs.v, opt.notes, idle.ok ? idle.v : 0, get("rk.devices").v, checks,
         failed);
  printf("| count | xe_watch, simulated | xe_watch, real kernel | | "
         "baseline, simulated | baseline, real kernel | |\n"
         "|---|---:|---:|---|---:|---:|---|\n");
  rk_row("bursts of QueueSize: reads returning records per 1000 records",
         "burst_reads_per_k", f_num2, true);
  rk_row("… every read() call per 1000 records, incl. the EAGAIN that ends "
         "a drain",
         "burst_read_calls_per_k", f_num2, true);
  rk_row("… event-loop wakeups per 1000 records", "burst_wakeups_per_k", f_num2,
         true);
  rk_row("… loss records seen in the closed loop", "burst_lost_records_seen",
         f_int, true);
  rk_row("one post of 2 × QueueSize records: records read", "overfill_read",
         f_int, true);
  rk_row("… loss records seen", "overfill_loss_seen", f_int, true);
  rk_row("idle: wakeups per second per device (epoll_wait / poll returns)",
         "idle_wakeups_per_s_dev", f_num2, false);
}

static void usage(void) {
  fprintf(stderr, "usage: xw-bench --fake PATH/libxefake.so [--records N] "
                  "[--devices N]\n"
                  "                [--idle-seconds S] [--queue-size NOTES] "
                  "[--storm-rate RECORDS_PER_S]\n"
                  "                [--phases a,b,...] [--smoke]\n"
                  "                [--real-kernel-results FILE | "
                  "--real-kernel-skipped WHY]\n"
                  "       xw-bench --real-kernel [--records N] [--devices N] "
                  "[--idle-seconds S] (in the guest)\n"
                  "phases:");
  for (size_t i = 0; i < STATIC_ARRAY_SIZE(phases); i++)
    fprintf(stderr, " %s", phases[i].name);
  fprintf(stderr, "\n");
  exit(2);
}

static unsigned long num_arg(const char *s, unsigned long min,
                             unsigned long max) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max)
    usage();
  return v;
}

int main(int argc, char **argv) {
  const char *phase = NULL;
  opt.fake = getenv("XE_FAKE_LIB");
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--real-kernel") == 0) {
      opt.real_kernel = true;
      continue;
    }
    if (strcmp(a, "--smoke") == 0) {
      opt.smoke = true;
      opt.records = 10000;
      opt.ndev = 4;
      opt.idle_s = 2;
      continue;
    }
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (v == NULL)
      usage();
    i++;
    if (strcmp(a, "--fake") == 0)
      opt.fake = v;
    else if (strcmp(a, "--phase") == 0)
      phase = v;
    else if (strcmp(a, "--phases") == 0)
      opt.only = v;
    else if (strcmp(a, "--dir") == 0)
      opt.dir = v;
    else if (strcmp(a, "--records") == 0)
      opt.records = num_arg(v, 1000, 100000000);
    else if (strcmp(a, "--devices") == 0)
      opt.ndev = (unsigned)num_arg(v, 2, 200);
    else if (strcmp(a, "--idle-seconds") == 0)
      opt.idle_s = (unsigned)num_arg(v, 1, 3600);
    else if (strcmp(a, "--storm-rate") == 0)
      opt.storm_rate = (unsigned)num_arg(v, 1000, 100000000);
    else if (strcmp(a, "--real-kernel-results") == 0)
      opt.rk_results = v;
    else if (strcmp(a, "--real-kernel-skipped") == 0)
      opt.rk_why = v;
    else if (strcmp(a, "--smoke-level") == 0) /* to the children */
      opt.smoke = num_arg(v, 0, 1) != 0;
    else if (strcmp(a, "--queue-size") == 0)
      opt.notes = (int)num_arg(v, 32, WATCH_QUEUE_MAX_NOTES);
    else
      usage();
  }

  if (phase != NULL) { /* a child, under the fake */
    if (opt.dir == NULL)
      usage();
    bench_thread_register("main", false);
    for (size_t i = 0; i < STATIC_ARRAY_SIZE(phases); i++)
      if (strcmp(phases[i].name, phase) == 0) {
        phases[i].fn(phases[i].xw);
        result("checks", nchecks);
        result("checks_failed", nchecks_failed);
        return nchecks_failed > 0;
      }
    usage();
  }

  if (opt.real_kernel)
    return rk_main();

  if (opt.fake == NULL || access(opt.fake, R_OK) != 0)
    die("the simulated kernel (--fake PATH/libxefake.so, or $XE_FAKE_LIB) "
        "is needed%s%s",
        opt.fake ? ": " : "", opt.fake ? STRERRNO : "");
  static char fake_abs[PATH_MAX];
  if (realpath(opt.fake, fake_abs) == NULL)
    die("%s: %s", opt.fake, STRERRNO);
  opt.fake = fake_abs;
  static char dir[] = "/tmp/xw-bench.XXXXXX";
  if (mkdtemp(dir) == NULL)
    die("mkdtemp: %s", STRERRNO);
  opt.dir = dir;
  write_table();

  start_load = loadavg();
  uint64_t t0 = bench_now_ns();
  unsigned failed = 0;
  for (size_t i = 0; i < STATIC_ARRAY_SIZE(phases); i++) {
    if (!phase_wanted(phases[i].name))
      continue;
    fprintf(stderr, "xw-bench: %-9s %s ...", phases[i].name, phases[i].what);
    uint64_t p0 = bench_now_ns();
    bool ok = run_phase(&phases[i]);
    fprintf(stderr, " %s, %.1f s\n", ok ? "done" : "FAILED",
            secs(bench_now_ns() - p0));
    failed += !ok;
  }
  remove_dir();
  fprintf(stderr, "xw-bench: all phases in %.1f s\n",
          secs(bench_now_ns() - t0));

  printf("# xw-bench: xe_watch vs a baseline reader built like the RFC's igt "
         "listener\n\n");
  print_machine();
  print_table();
  print_real_kernel();
  printf("sanity: %u checks, %u failed%s\n", nchecks, nchecks_failed,
         opt.smoke ? " (smoke run: figures from small counts, not a "
                     "measurement)"
                   : "");
  if (failed > 0) {
    fprintf(stderr, "xw-bench: %u phase(s) failed; their figures are n/a\n",
            failed);
    return 1;
  }
  return nchecks_failed > 0;
}
