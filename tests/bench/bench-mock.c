/* SPDX-License-Identifier: MIT */
/*
 * The benchmark's stand-in for the collectd daemon: the plugin_* / c_* /
 * cf_util_* symbols the plugin's core calls, and a notification consumer
 * that timestamps what reaches it. Unlike tests/mock/plugin_mock.c it keeps
 * no copies (a storm would fill any record) and needs no Check.
 *
 * It also interposes read(), write() and epoll_wait() for the whole
 * executable, so the benchmark can tell the time a reader spends inside the
 * simulated kernel's read() from its own work, and count event-loop and
 * dispatcher wakeups, without touching the plugin's code. The interposers
 * pass every call on unchanged (to the simulated kernel when it is
 * preloaded, else to libc).
 */
#include "collectd.h"

#include "plugin.h"
#include "utils/common/common.h"
#include "utils_complain.h"

#include "bench.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <time.h>

char *hostname_g = "benchhost";
cdtime_t interval_g = TIME_T_TO_CDTIME_T(10);

uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- interposed libc calls --------------------------------------------- */

typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef int (*epoll_wait_fn)(int, struct epoll_event *, int, int);

static read_fn next_read;
static write_fn next_write;
static epoll_wait_fn next_epoll_wait;
static pthread_once_t next_once = PTHREAD_ONCE_INIT;

static void resolve_next(void) {
  next_read = (read_fn)dlsym(RTLD_NEXT, "read");
  next_write = (write_fn)dlsym(RTLD_NEXT, "write");
  next_epoll_wait = (epoll_wait_fn)dlsym(RTLD_NEXT, "epoll_wait");
  if (next_read == NULL || next_write == NULL || next_epoll_wait == NULL)
    abort(); /* nothing below could work; fail at once and visibly */
}

static __thread struct bench_thread *self_thread;

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

ssize_t read(int fd, void *buf, size_t count) {
  pthread_once(&next_once, resolve_next);
  struct bench_thread *t = self_thread;
  if (t == NULL || !t->time_reads)
    return next_read(fd, buf, count);
  /* CPU time, not wall time: a reader that waits in read() for the
   * simulated kernel's lock is not working, and is not counted. */
  uint64_t t0 = thread_cpu_ns();
  ssize_t r = next_read(fd, buf, count);
  int saved = errno;
  atomic_fetch_add_explicit(&t->read_ns, thread_cpu_ns() - t0,
                            memory_order_relaxed);
  atomic_fetch_add_explicit(&t->read_calls, 1, memory_order_relaxed);
  errno = saved;
  return r;
}

/* A _FORTIFY_SOURCE build calls this instead of read(). */
ssize_t __read_chk(int fd, void *buf, size_t nbytes, size_t buflen);
ssize_t __read_chk(int fd, void *buf, size_t nbytes, size_t buflen) {
  if (nbytes > buflen)
    abort();
  return read(fd, buf, nbytes);
}

/* Counted, not timed: the listener's only write() is the eventfd that
 * wakes the dispatcher. */
ssize_t write(int fd, const void *buf, size_t count) {
  pthread_once(&next_once, resolve_next);
  struct bench_thread *t = self_thread;
  if (t != NULL)
    atomic_fetch_add_explicit(&t->write_calls, 1, memory_order_relaxed);
  return next_write(fd, buf, count);
}

int epoll_wait(int epfd, struct epoll_event *events, int maxevents,
               int timeout) {
  pthread_once(&next_once, resolve_next);
  int r = next_epoll_wait(epfd, events, maxevents, timeout);
  struct bench_thread *t = self_thread;
  if (t != NULL && r >= 0)
    atomic_fetch_add_explicit(&t->epoll_returns, 1, memory_order_relaxed);
  return r;
}

/* ---- threads ----------------------------------------------------------- */

#define MAX_THREADS 512

static struct bench_thread threads[MAX_THREADS];
static size_t nthreads;
static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;
static bool plugin_reads_timed;

struct bench_thread *bench_thread_register(const char *name, bool time_reads) {
  pthread_mutex_lock(&threads_lock);
  if (nthreads == MAX_THREADS) {
    pthread_mutex_unlock(&threads_lock);
    fprintf(stderr, "xw-bench: more than %d threads\n", MAX_THREADS);
    abort();
  }
  struct bench_thread *t = &threads[nthreads++];
  sstrncpy(t->name, name, sizeof(t->name));
  t->tid = gettid();
  t->time_reads = time_reads;
  pthread_mutex_unlock(&threads_lock);
  self_thread = t;
  return t;
}

size_t bench_threads_find(const char *prefix, struct bench_thread **out,
                          size_t max) {
  size_t n = 0;
  pthread_mutex_lock(&threads_lock);
  for (size_t i = 0; i < nthreads && n < max; i++)
    if (strncmp(threads[i].name, prefix, strlen(prefix)) == 0)
      out[n++] = &threads[i];
  pthread_mutex_unlock(&threads_lock);
  return n;
}

bool bench_tid_known(pid_t tid) {
  bool known = tid == getpid();
  pthread_mutex_lock(&threads_lock);
  for (size_t i = 0; i < nthreads && !known; i++)
    known = threads[i].tid == tid;
  pthread_mutex_unlock(&threads_lock);
  return known;
}

void bench_time_plugin_reads(bool on) { plugin_reads_timed = on; }

struct trampoline {
  void *(*fn)(void *);
  void *arg;
  char name[32];
  bool time_reads;
};

static void *trampoline_main(void *p) {
  struct trampoline t = *(struct trampoline *)p;
  free(p);
  bench_thread_register(t.name, t.time_reads);
  return t.fn(t.arg);
}

/* Registers the plugin's threads ("xe_watch listen", "xe_watch notify") so
 * the benchmark can find their tids in /proc. */
int plugin_thread_create(pthread_t *thread, void *(*start_routine)(void *),
                         void *arg, char const *name) {
  struct trampoline *t = calloc(1, sizeof(*t));
  if (t == NULL)
    return ENOMEM;
  t->fn = start_routine;
  t->arg = arg;
  sstrncpy(t->name, name != NULL ? name : "plugin", sizeof(t->name));
  t->time_reads = plugin_reads_timed;
  int err = pthread_create(thread, NULL, trampoline_main, t);
  if (err != 0)
    free(t);
  return err;
}

/* ---- /proc --------------------------------------------------------------
 */

static bool status_field(const char *path, const char *key, uint64_t *out) {
  FILE *fp = fopen(path, "re");
  if (fp == NULL)
    return false;
  char line[256];
  size_t klen = strlen(key);
  bool found = false;
  while (!found && fgets(line, sizeof(line), fp) != NULL)
    if (strncmp(line, key, klen) == 0 && line[klen] == ':')
      found = sscanf(line + klen + 1, "%" SCNu64, out) == 1;
  fclose(fp);
  return found;
}

int bench_task_read(pid_t tid, struct bench_task *t) {
  char path[64];
  memset(t, 0, sizeof(*t));
  snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", (int)tid);
  FILE *fp = fopen(path, "re");
  if (fp == NULL)
    return -errno;
  int n = fscanf(fp, "%" SCNu64, &t->run_ns);
  fclose(fp);
  if (n != 1)
    return -EIO;
  snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
  if (!status_field(path, "voluntary_ctxt_switches", &t->vol) ||
      !status_field(path, "nonvoluntary_ctxt_switches", &t->nonvol))
    return -EIO;
  return 0;
}

long bench_rss_kib(void) {
  uint64_t v;
  return status_field("/proc/self/status", "VmRSS", &v) ? (long)v : -1;
}

/* ---- the notification consumer ----------------------------------------- */

static _Atomic long consumer_delay_ns;
static _Atomic uint64_t consumed_vm_errs;

static pthread_mutex_t lat_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t *post_ns; /* by seq; 0: not posted */
static uint64_t *samples;         /* post -> consumer */
static uint64_t *hops;            /* the reader's read() -> consumer */
static size_t nsamples;
static uint32_t max_seq;

void bench_consumer_set_delay(long delay_ns) {
  atomic_store(&consumer_delay_ns, delay_ns);
}

int bench_latency_begin(uint32_t max) {
  bench_latency_end();
  post_ns = calloc((size_t)max + 1, sizeof(*post_ns));
  samples = calloc((size_t)max + 1, sizeof(*samples));
  hops = calloc((size_t)max + 1, sizeof(*hops));
  if (post_ns == NULL || samples == NULL || hops == NULL) {
    bench_latency_end();
    return -ENOMEM;
  }
  pthread_mutex_lock(&lat_lock);
  max_seq = max;
  nsamples = 0;
  pthread_mutex_unlock(&lat_lock);
  return 0;
}

void bench_latency_end(void) {
  pthread_mutex_lock(&lat_lock);
  free(post_ns);
  free(samples);
  free(hops);
  post_ns = NULL;
  samples = NULL;
  hops = NULL;
  nsamples = 0;
  max_seq = 0;
  pthread_mutex_unlock(&lat_lock);
}

void bench_consumer_mark(uint32_t seq, uint64_t t) {
  if (post_ns != NULL && seq != BENCH_SEQ_NONE && seq <= max_seq)
    atomic_store_explicit(&post_ns[seq], t, memory_order_release);
}

const uint64_t *bench_latency_samples(size_t *n, const uint64_t **hop) {
  pthread_mutex_lock(&lat_lock);
  *n = nsamples;
  *hop = hops;
  pthread_mutex_unlock(&lat_lock);
  return samples;
}

void bench_latency_reset(void) {
  pthread_mutex_lock(&lat_lock);
  nsamples = 0;
  pthread_mutex_unlock(&lat_lock);
}

uint64_t bench_consumer_vm_errs(void) { return atomic_load(&consumed_vm_errs); }

/* The consumer end of collectd: where write_http, exec or email would run,
 * synchronously in the dispatching thread. The timestamp is taken on entry,
 * before any deliberate delay, i.e. when a consumer would start its work. */
int plugin_dispatch_notification(const notification_t *notif) {
  uint64_t now = bench_now_ns();
  cdtime_t wall = cdtime();
  for (const notification_meta_t *m = notif->meta; m != NULL; m = m->next) {
    if (strcmp(m->name, "vm_id") != 0 || m->type != NM_TYPE_UNSIGNED_INT)
      continue;
    atomic_fetch_add_explicit(&consumed_vm_errs, 1, memory_order_relaxed);
    uint64_t seq = m->nm_value.nm_unsigned_int;
    pthread_mutex_lock(&lat_lock);
    if (post_ns != NULL && seq != BENCH_SEQ_NONE && seq <= max_seq) {
      uint64_t t = atomic_load_explicit(&post_ns[seq], memory_order_acquire);
      if (t != 0 && now >= t) {
        /* notif->time is when the reader's read() returned the record
         * (cdtime, wall clock): the rest is the hop to the consumer. */
        hops[nsamples] =
            wall > notif->time ? CDTIME_T_TO_NS(wall - notif->time) : 0;
        samples[nsamples++] = now - t;
      }
    }
    pthread_mutex_unlock(&lat_lock);
    break;
  }
  long delay = atomic_load_explicit(&consumer_delay_ns, memory_order_relaxed);
  if (delay > 0) {
    struct timespec ts = {.tv_sec = delay / 1000000000L,
                          .tv_nsec = delay % 1000000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
      ;
  }
  return 0;
}

/* Values go out from collectd's read callback, which the benchmark does not
 * run; a stray call is ignored. */
int plugin_dispatch_values(value_list_t const *vl) {
  (void)vl;
  return 0;
}

/* As collectd 5.12 builds meta: one allocation per entry, strings copied. */
static notification_meta_t *meta_append(notification_t *n, const char *name,
                                        enum notification_meta_type_e type) {
  notification_meta_t *m = calloc(1, sizeof(*m));
  if (m == NULL)
    return NULL;
  sstrncpy(m->name, name, sizeof(m->name));
  m->type = type;
  notification_meta_t **tail = &n->meta;
  while (*tail != NULL)
    tail = &(*tail)->next;
  *tail = m;
  return m;
}

int plugin_notification_meta_add_string(notification_t *n, const char *name,
                                        const char *value) {
  notification_meta_t *m = meta_append(n, name, NM_TYPE_STRING);
  if (m == NULL)
    return -1;
  m->nm_value.nm_string = strdup(value);
  return m->nm_value.nm_string != NULL ? 0 : -1;
}

int plugin_notification_meta_add_signed_int(notification_t *n, const char *name,
                                            int64_t value) {
  notification_meta_t *m = meta_append(n, name, NM_TYPE_SIGNED_INT);
  if (m == NULL)
    return -1;
  m->nm_value.nm_signed_int = value;
  return 0;
}

int plugin_notification_meta_add_unsigned_int(notification_t *n,
                                              const char *name,
                                              uint64_t value) {
  notification_meta_t *m = meta_append(n, name, NM_TYPE_UNSIGNED_INT);
  if (m == NULL)
    return -1;
  m->nm_value.nm_unsigned_int = value;
  return 0;
}

int plugin_notification_meta_free(notification_meta_t *n) {
  while (n != NULL) {
    notification_meta_t *next = n->next;
    if (n->type == NM_TYPE_STRING)
      free((char *)n->nm_value.nm_string);
    free(n);
    n = next;
  }
  return 0;
}

/* ---- logging and utilities --------------------------------------------- */

/* Errors always reach stderr: a benchmark that silently lost its devices
 * would print meaningless figures. XW_BENCH_VERBOSE=1 shows everything. */
void plugin_log(int level, const char *format, ...) {
  if (level > LOG_ERR && getenv("XW_BENCH_VERBOSE") == NULL)
    return;
  char msg[1024];
  va_list ap;
  va_start(ap, format);
  vsnprintf(msg, sizeof(msg), format, ap);
  va_end(ap);
  fprintf(stderr, "xw-bench: [log %d] %s\n", level, msg);
}

cdtime_t cdtime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return TIMESPEC_TO_CDTIME_T(&ts);
}

char *sstrncpy(char *dest, const char *src, size_t n) {
  if (n == 0)
    return dest;
  size_t len = strnlen(src, n - 1);
  memcpy(dest, src, len);
  dest[len] = '\0';
  return dest;
}

char *sstrerror(int errnum, char *buf, size_t buflen) {
  snprintf(buf, buflen, "%s", strerror(errnum));
  return buf;
}

/* collectd's rule: report, then stay quiet for an interval that doubles. */
void c_complain(int level, c_complain_t *c, const char *format, ...) {
  cdtime_t now = cdtime();
  if (c->last + c->interval > now)
    return;
  c->last = now;
  c->interval = c->interval < interval_g ? interval_g : c->interval * 2;
  c->complained_once = true;
  char msg[1024];
  va_list ap;
  va_start(ap, format);
  vsnprintf(msg, sizeof(msg), format, ap);
  va_end(ap);
  plugin_log(level, "%s", msg);
}

void c_complain_once(int level, c_complain_t *c, const char *format, ...) {
  if (c->complained_once)
    return;
  c->complained_once = true;
  c->interval = interval_g;
  char msg[1024];
  va_list ap;
  va_start(ap, format);
  vsnprintf(msg, sizeof(msg), format, ap);
  va_end(ap);
  plugin_log(level, "%s", msg);
}

void c_do_release(int level, c_complain_t *c, const char *format, ...) {
  if (c->interval == 0)
    return;
  c->interval = 0;
  char msg[1024];
  va_list ap;
  va_start(ap, format);
  vsnprintf(msg, sizeof(msg), format, ap);
  va_end(ap);
  plugin_log(level, "%s", msg);
}

/* options.c is linked for xw_config_init's defaults only; the benchmark
 * never parses a configuration. */
static int no_config(const oconfig_item_t *ci) {
  plugin_log(LOG_ERR, "xw-bench parses no configuration (%s)", ci->key);
  return -1;
}

int cf_util_get_string(const oconfig_item_t *ci, char **ret) {
  (void)ret;
  return no_config(ci);
}

int cf_util_get_string_buffer(const oconfig_item_t *ci, char *buf, size_t sz) {
  (void)buf;
  (void)sz;
  return no_config(ci);
}

int cf_util_get_int(const oconfig_item_t *ci, int *ret) {
  (void)ret;
  return no_config(ci);
}

int cf_util_get_boolean(const oconfig_item_t *ci, bool *ret) {
  (void)ret;
  return no_config(ci);
}

int cf_util_get_cdtime(const oconfig_item_t *ci, cdtime_t *ret) {
  (void)ret;
  return no_config(ci);
}
