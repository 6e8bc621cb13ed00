/* SPDX-License-Identifier: MIT */
/*
 * xe_fake_kernel.c - libxefake.so, a fake of the kernel's DRM/xe watch-queue
 * uAPI at the libc boundary (LD_PRELOAD).
 *
 * The machines this project is built and tested on have neither an Intel GPU
 * nor CONFIG_WATCH_QUEUE, so the plugin's tests run the real plugin inside a
 * real collectd with this library preloaded. It fakes:
 *
 *  - DRM files: open() of a node listed in $XE_FAKE_DEVICES returns a real fd
 *    (a memfd named "xe-fake-drm:<client-id>:<node>") that the fake tracks;
 *    DRM_IOCTL_VERSION and DRM_IOCTL_XE_WATCH_QUEUE behave as in drm_ioctl()
 *    and the Xe RFC; fstat() sees DRM char device 226:N.
 *  - DRM files of other processes: pidfd_getfd() of a faked process's DRM fd
 *    gives a tracked "remote" file whose lifetime is its owner's; the memfd
 *    carries the file's identity and, shared by every holder, who holds it.
 *  - /proc/PID/{fd,fdinfo}/N, comm and cgroup of every faked DRM fd, written
 *    into $XE_FAKE_PROCROOT for code that scans procfs for DRM clients.
 *  - notification pipes: pipe2(O_NOTIFICATION_PIPE) returns a real pipe whose
 *    records live in a ring here; the real pipe carries one token byte per
 *    queued record so that poll/epoll on the real fd behave like pipe_poll().
 *  - a control socket ($XE_FAKE_CTL) through which tests (or xe-inject) post
 *    events, remove devices and read counters.
 *
 * Kernel behaviour follows fs/pipe.c (pipe_read, pipe_write, pipe_ioctl),
 * kernel/watch_queue.c (post_one_notification, watch_queue_set_size,
 * watch_queue_set_filter) and drivers/gpu/drm/drm_ioctl.c; DESIGN.md §1-2
 * lists the facts. Only fds this library created are intercepted; everything
 * else goes straight to libc. No production code knows about this file.
 */
#undef _FORTIFY_SOURCE /* we define open() & co. ourselves */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <drm.h>

#include "xe_watch_uapi.h"

#define XF_EXPORT __attribute__((visibility("default")))

/* Returned by the open helper when the path is not one of ours. */
#define NOT_OURS (-2)

/* Notes per 4 KiB page of a watch queue (PAGE_SIZE / 128-byte note). */
#define NOTES_PER_PAGE 32
/* Pages a pipe gets when its user is over pipe-user-pages-soft
 * (PIPE_MIN_DEF_BUFFERS); see watch_queue_set_size(). */
#define PIPE_MIN_DEF_BUFFERS 2

/* glibc's fortify entry points are declared only under _FORTIFY_SOURCE. */
extern void __chk_fail(void) __attribute__((noreturn));
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
ssize_t __read_chk(int fd, void *buf, size_t nbytes, size_t buflen);
/* The stat entry points of binaries built against glibc < 2.33. */
int __fxstat(int ver, int fd, struct stat *st);
int __fxstat64(int ver, int fd, struct stat64 *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st,
               int flags);
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st,
                 int flags);

/* ---- the real libc ---------------------------------------------------- */

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*fcntl_fn)(int, int, ...);

static struct {
  open_fn open, open64;
  openat_fn openat, openat64;
  int (*close)(int);
  ssize_t (*read)(int, void *, size_t);
  ssize_t (*write)(int, const void *, size_t);
  int (*ioctl)(int, unsigned long, ...);
  int (*pipe2)(int[2], int);
  int (*dup)(int);
  int (*dup2)(int, int);
  int (*dup3)(int, int, int);
  fcntl_fn fcntl, fcntl64;
  int (*close_range)(unsigned int, unsigned int, int);
  void (*closefrom)(int);
  int (*fstat)(int, struct stat *);
  int (*fstat64)(int, struct stat64 *);
  int (*fstatat)(int, const char *, struct stat *, int);
  int (*fstatat64)(int, const char *, struct stat64 *, int);
  int (*fxstat)(int, int, struct stat *);
  int (*fxstat64)(int, int, struct stat64 *);
  int (*fxstatat)(int, int, const char *, struct stat *, int);
  int (*fxstatat64)(int, int, const char *, struct stat64 *, int);
  int (*statx)(int, const char *, int, unsigned int, struct statx *);
  int (*pidfd_getfd)(int, int, unsigned int);
  long (*syscall)(long, ...);
  pid_t (*fork)(void);
} real;

static pthread_once_t real_once = PTHREAD_ONCE_INIT;

static void *next_sym(const char *name, bool required) {
  void *p = dlsym(RTLD_NEXT, name);
  if (p == NULL && required) {
    /* Without the real function every caller would crash later and far
     * away; say why now. stderr is fd 2 in every sane process. */
    static const char msg[] = "xe-fake: cannot resolve a libc symbol\n";
    ssize_t (*w)(int, const void *, size_t) = dlsym(RTLD_NEXT, "write");
    if (w != NULL)
      (void)w(2, msg, sizeof(msg) - 1);
    abort();
  }
  return p;
}

static void resolve_real(void) {
  real.open = (open_fn)next_sym("open", true);
  real.open64 = (open_fn)next_sym("open64", true);
  real.openat = (openat_fn)next_sym("openat", true);
  real.openat64 = (openat_fn)next_sym("openat64", true);
  real.close = (int (*)(int))next_sym("close", true);
  real.read = (ssize_t(*)(int, void *, size_t))next_sym("read", true);
  real.write = (ssize_t(*)(int, const void *, size_t))next_sym("write", true);
  real.ioctl = (int (*)(int, unsigned long, ...))next_sym("ioctl", true);
  real.pipe2 = (int (*)(int[2], int))next_sym("pipe2", true);
  real.dup = (int (*)(int))next_sym("dup", true);
  real.dup2 = (int (*)(int, int))next_sym("dup2", true);
  real.dup3 = (int (*)(int, int, int))next_sym("dup3", true);
  real.fcntl = (fcntl_fn)next_sym("fcntl", true);
  real.fcntl64 = (fcntl_fn)next_sym("fcntl64", false);
  if (real.fcntl64 == NULL)
    real.fcntl64 = real.fcntl;
  real.close_range =
      (int (*)(unsigned int, unsigned int, int))next_sym("close_range", false);
  real.closefrom = (void (*)(int))next_sym("closefrom", false);
  real.fstat = (int (*)(int, struct stat *))next_sym("fstat", true);
  real.fstat64 = (int (*)(int, struct stat64 *))next_sym("fstat64", true);
  real.fstatat =
      (int (*)(int, const char *, struct stat *, int))next_sym("fstatat", true);
  real.fstatat64 = (int (*)(int, const char *, struct stat64 *, int))next_sym(
      "fstatat64", true);
  real.fxstat = (int (*)(int, int, struct stat *))next_sym("__fxstat", false);
  real.fxstat64 =
      (int (*)(int, int, struct stat64 *))next_sym("__fxstat64", false);
  real.fxstatat = (int (*)(int, int, const char *, struct stat *, int))next_sym(
      "__fxstatat", false);
  real.fxstatat64 = (int (*)(int, int, const char *, struct stat64 *,
                             int))next_sym("__fxstatat64", false);
  real.statx = (int (*)(int, const char *, int, unsigned int,
                        struct statx *))next_sym("statx", false);
  real.pidfd_getfd =
      (int (*)(int, int, unsigned int))next_sym("pidfd_getfd", false);
  real.syscall = (long (*)(long, ...))next_sym("syscall", true);
  real.fork = (pid_t(*)(void))next_sym("fork", true);
}

/* Interposers can run before our constructor (another library's constructor
 * may open files), so every entry point resolves on first use. */
static inline void need_real(void) { pthread_once(&real_once, resolve_real); }

/* ---- configuration and debug ------------------------------------------- */

static struct {
  bool emulate_wq; /* XE_FAKE_WATCH_QUEUE != 0 */
  bool pages_soft; /* XE_FAKE_PIPE_USER_PAGES_SOFT=1 */
  bool debug;      /* XE_FAKE_DEBUG=1 */
} cfg = {.emulate_wq = true};

/* The procfs fixture ($XE_FAKE_PROCROOT), written under big_lock. */
#define FX_PATH 768
static struct {
  bool on;
  bool exiting;       /* our exit handler ran: write nothing any more */
  char root[512];     /* absolute; its paths fit in FX_PATH */
  const char *cgroup; /* $XE_FAKE_CGROUP, or NULL: copy /proc/self/cgroup */
  pid_t dir_pid;      /* the process whose <root>/<pid> exists */
  unsigned int seq;   /* temporary file names */
} fx;

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...) {
  need_real();
  int saved = errno;
  char buf[512];
  int n = snprintf(buf, sizeof(buf), "xe-fake: ");
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
  va_end(ap);
  if (m < 0)
    m = 0;
  size_t len = (size_t)n + (size_t)m;
  if (len > sizeof(buf) - 2)
    len = sizeof(buf) - 2;
  buf[len++] = '\n';
  /* The real write: ours would take the lock we may be holding. */
  (void)real.write(2, buf, len);
  errno = saved;
}

#define dbg(...)                                                               \
  do {                                                                         \
    if (cfg.debug)                                                             \
      say(__VA_ARGS__);                                                        \
  } while (0)

/* ---- the fake kernel's objects ----------------------------------------- */

enum dev_state { DEV_PRESENT, DEV_ABSENT, DEV_EINVAL };

struct dfile;
struct npipe;

/* One watch = one subscription of a notification pipe to a DRM file. */
struct watch {
  struct dfile *file;
  struct npipe *pipe;
  unsigned int id; /* 0..255, lands in WATCH_INFO_ID */
  struct watch *file_next, *pipe_next;
};

struct device {
  struct device *next;
  char *path; /* lexically normalised, absolute */
  char driver[32];
  char pdev[32];
  enum dev_state state;
  unsigned int uapi; /* 1, 2: that RFC revision's numbers; 0: the build's */
  unsigned int gen;  /* bumped by "remove": older files are unplugged */
  bool learned;      /* not in our table: known from another process's file */
  struct dfile *files;
};

/* Every DRM file's memfd starts with this page, mapped MAP_SHARED by each
 * process that tracks the file: its identity for pidfd_getfd() callers, and
 * one slot per holding process with the number of fds it has on the file,
 * so that a process holding a remote file can tell when every holder has
 * closed it (the kernel releases a file on its last fput, whoever did it). */
#define SHM_MAGIC 0x316d72646b667865ULL /* "xefkdrm1" */
#define SHM_SIZE 4096
#define SHM_SLOTS 256
#define SHM_NODE 512

struct shm_file {
  uint64_t magic;
  uint64_t client_id;
  int32_t fflags; /* f_flags as at open(), for fdinfo */
  int32_t pad;
  char node[SHM_NODE];
  char driver[32];
  char pdev[32];
  struct {
    int32_t pid; /* 0: free; -P: the child P is forking */
    int32_t refs;
  } slots[SHM_SLOTS];
};
_Static_assert(sizeof(struct shm_file) <= SHM_SIZE, "shm header too big");

/* A DRM open file description: shared by dup()s, released on last close.
 * A remote one came from another process through pidfd_getfd(): it lives
 * while any process holds it, and without our fds only for its watches. */
struct dfile {
  struct dfile *next; /* in device->files */
  struct device *dev;
  unsigned int gen;
  int refs;             /* fds in this process that refer to it */
  int accmode;          /* O_RDONLY / O_WRONLY / O_RDWR */
  int fflags;           /* f_flags for fdinfo, without O_NONBLOCK/O_CLOEXEC */
  uint64_t client_id;   /* drm-client-id */
  struct shm_file *shm; /* the memfd's first page; NULL if not mapped */
  int slot;             /* our slot in shm->slots, -1: none yet */
  int child_slot;       /* reserved across fork() for the child, or -1 */
  bool remote;
  int pidfd; /* remote: the process it came from, -1 once it exited */
  struct watch *watches;
};

struct slot {
  uint8_t len; /* 1..127 */
  bool loss;   /* PIPE_BUF_FLAG_LOSS: records were dropped after this one */
  uint8_t data[WATCH_QUEUE_MAX_RECORD];
};

struct filter {
  uint32_t type, info_filter, info_mask;
  uint32_t subtype_filter0; /* the kernel keeps only the first word */
};

/* A notification pipe: both ends, all their dups. */
struct npipe {
  pid_t owner;      /* the process that made it: only it moves tokens */
  int rrefs, wrefs; /* tracked fds per end */
  int rfd, wfd;     /* one tracked fd of each end, for token I/O; -1 if none */
  bool packet;      /* O_DIRECT: one token per write() */
  bool sized;       /* IOC_WATCH_QUEUE_SET_SIZE done */
  unsigned int cap; /* ring capacity in records; 0 until sized */
  unsigned int head, count;
  struct slot *ring;
  bool note_loss; /* pipe->note_loss: a loss record is due */
  bool has_filter;
  unsigned int nfilters;
  struct filter filters[WATCH_QUEUE_MAX_FILTERS];
  unsigned int tokens; /* bytes we put in the real pipe and did not drain */
  struct watch *watches;
};

enum fd_kind { FD_NONE, FD_DRM, FD_NP_READ, FD_NP_WRITE };

struct fd_ent {
  enum fd_kind kind;
  void *obj;
};

/* Everything below is guarded by big_lock. Internal I/O under the lock only
 * ever goes to the real functions and never blocks. */
static pthread_mutex_t big_lock = PTHREAD_MUTEX_INITIALIZER;
static struct device *devices;
static struct fd_ent *fdtab;
static int fdtab_len;

static struct {
  unsigned long long posted, queued, lost, filtered, reads, records_read;
} stats;
static bool reads_paused; /* guarded by the lock; ctl "pause_reads" */
/* ctl "swap_getfd FD [FOR]": the next pidfd_getfd() (of fd FOR, if
 * given) fetches the target's FD instead, as if the workload had dup2()ed
 * FD over the requested one between the caller's fdinfo read and the
 * duplicate. -1: off, any. Guarded by the lock. */
static int swap_getfd_to = -1, swap_getfd_for = -1;

static void ctl_claim_for(bool for_remote);

/* Set under the lock when a DRM file outlives our fds (other processes
 * hold it) or a remote file arrives: the control thread must watch. */
static bool want_thread;

static void lock(void) { pthread_mutex_lock(&big_lock); }

static void unlock(void) {
  bool start = want_thread;
  want_thread = false;
  pthread_mutex_unlock(&big_lock);
  if (start)
    ctl_claim_for(true);
}

static struct fd_ent *fd_get(int fd) {
  if (fd < 0 || fd >= fdtab_len || fdtab[fd].kind == FD_NONE)
    return NULL;
  return &fdtab[fd];
}

static bool fd_reserve(int fd) {
  if (fd < fdtab_len)
    return true;
  int n = fdtab_len ? fdtab_len : 64;
  while (n <= fd)
    n *= 2;
  struct fd_ent *t = realloc(fdtab, (size_t)n * sizeof(*t));
  if (t == NULL)
    return false;
  memset(t + fdtab_len, 0, (size_t)(n - fdtab_len) * sizeof(*t));
  fdtab = t;
  fdtab_len = n;
  return true;
}

/* ---- who holds a DRM file, across processes ----------------------------- */

#define MAX_REMOTE 1100    /* remote files per process, one pidfd each */
#define REMOTE_TICK_MS 100 /* how often to look whether their holders left */

static unsigned int remote_count; /* remote dfiles in this process */
static unsigned int client_seq;

/* drm-client-id: one per open(), shared by dups, unique across processes
 * (the kernel's is a global counter): pid * 10^6 + a per-process count. */
static uint64_t new_client_id(void) {
  client_seq = client_seq % 999999 + 1;
  return (uint64_t)getpid() * 1000000u + client_seq;
}

static bool pid_alive(pid_t pid) {
  if (kill(pid, 0) != 0 && errno != EPERM)
    return false;
  /* A zombie still answers kill(); it cannot serve any more. */
  char path[64], buf[256];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  int fd = real.open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return true;
  ssize_t n = real.read(fd, buf, sizeof(buf) - 1);
  real.close(fd);
  if (n <= 0)
    return true;
  buf[n] = '\0';
  const char *rp = strrchr(buf, ')');
  return !(rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'));
}

/* Take a slot for this process: a free one, else one whose process died
 * without clearing it (SIGKILL, or a fork child that exec'd and exited). */
static int shm_claim(struct shm_file *s, int32_t as) {
  int32_t me = (int32_t)getpid();
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < SHM_SLOTS; i++) {
      int32_t pid = __atomic_load_n(&s->slots[i].pid, __ATOMIC_SEQ_CST);
      if ((pass == 0 && pid != 0) ||
          (pass == 1 && (pid <= 0 || pid == me || pid_alive(pid))))
        continue;
      if (__atomic_compare_exchange_n(&s->slots[i].pid, &pid, as, false,
                                      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
        __atomic_store_n(&s->slots[i].refs, 0, __ATOMIC_SEQ_CST);
        return i;
      }
    }
  return -1;
}

/* Count delta more (or fewer) fds of this process on f in the header all
 * its holders share. A process's first hold takes a slot. */
static void shm_hold(struct dfile *f, int delta) {
  struct shm_file *s = f->shm;
  if (s == NULL || delta == 0 || fx.exiting)
    return;
  if (f->slot < 0) {
    if (delta < 0 || (f->slot = shm_claim(s, (int32_t)getpid())) < 0) {
      static bool told;
      if (delta > 0 && !told)
        say("client %llu: more than %d live holding processes, not counted",
            (unsigned long long)f->client_id, SHM_SLOTS);
      told = told || delta > 0;
      return;
    }
  }
  __atomic_add_fetch(&s->slots[f->slot].refs, delta, __ATOMIC_SEQ_CST);
}

/* This process holds f no more (released, or exiting). */
static void shm_unhold(struct dfile *f) {
  if (f->shm == NULL || f->slot < 0)
    return;
  __atomic_store_n(&f->shm->slots[f->slot].refs, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&f->shm->slots[f->slot].pid, 0, __ATOMIC_SEQ_CST);
  f->slot = -1;
}

/* Does a live process other than us have an fd on f? A holder that died
 * without clearing its slot (SIGKILL) holds nothing: the kernel closed its
 * fds, and a zombie has none. */
static bool held_elsewhere(const struct dfile *f) {
  if (f->shm == NULL)
    return false;
  for (int i = 0; i < SHM_SLOTS; i++) {
    if (i == f->slot)
      continue;
    int32_t pid = __atomic_load_n(&f->shm->slots[i].pid, __ATOMIC_SEQ_CST);
    int32_t refs = __atomic_load_n(&f->shm->slots[i].refs, __ATOMIC_SEQ_CST);
    /* A negative pid: a fork() in progress in process -pid. */
    if (pid != 0 && refs > 0 && pid_alive(pid > 0 ? pid : -pid))
      return true;
  }
  return false;
}

static struct shm_file *shm_map(int fd) {
  void *p = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return p == MAP_FAILED ? NULL : p;
}

/* ---- identity of a node: st_rdev, st_ino, mnt_id ------------------------- */

#define DRM_MAJOR 226

/* The number that ends the node's name: renderD128 -> 128, card0 -> 0. */
static unsigned int node_minor(const char *path) {
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  const char *e = b + strlen(b), *p = e;
  while (p > b && isdigit((unsigned char)p[-1]))
    p--;
  if (p == e || e - p > 6)
    return 255;
  return (unsigned int)strtoul(p, NULL, 10);
}

/* A stable inode number per node (FNV-1a), the same in every process. */
static unsigned long node_ino(const char *path) {
  uint32_t h = 2166136261u;
  for (const unsigned char *p = (const unsigned char *)path; *p; p++)
    h = (h ^ *p) * 16777619u;
  return 1000 + (h & 0x3fffffff);
}

/* Where the nodes would live: the real /dev (devtmpfs). */
static struct {
  bool done;
  dev_t dev;
  int mnt_id;
} devfs;

static void devfs_probe(void) {
  if (devfs.done)
    return;
  devfs.done = true;
  devfs.dev = makedev(0, 5);
  struct stat st;
  if (real.fstatat(AT_FDCWD, "/dev", &st, 0) == 0)
    devfs.dev = st.st_dev;
  struct statx sx;
  if (real.statx && real.statx(AT_FDCWD, "/dev", 0, STATX_MNT_ID, &sx) == 0 &&
      (sx.stx_mask & STATX_MNT_ID))
    devfs.mnt_id = (int)sx.stx_mnt_id;
}

/* ---- the procfs fixture -------------------------------------------------- */

/* "flags:" in fdinfo is f_flags in octal: open() forces O_LARGEFILE on
 * 64-bit kernels (glibc's O_LARGEFILE is 0 there), fdinfo adds O_CLOEXEC. */
#if __SIZEOF_LONG__ < 8
#define FORCED_O_LARGEFILE 0
#elif defined(__aarch64__)
#define FORCED_O_LARGEFILE 0400000
#elif defined(__powerpc64__)
#define FORCED_O_LARGEFILE 0200000
#else
#define FORCED_O_LARGEFILE 0100000
#endif

static void fx_tmp_name(char *out, size_t sz) {
  snprintf(out, sz, "%s/.xe-fake-tmp.%d.%u", fx.root, (int)getpid(), fx.seq++);
}

/* Write a file under a temporary name, then rename it into place: a
 * concurrent reader sees the old file, the new one or none, never half. */
static bool fx_put(const char *path, const char *data, size_t len) {
  char tmp[PATH_MAX];
  fx_tmp_name(tmp, sizeof(tmp));
  int fd = real.open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return false;
  size_t off = 0;
  while (off < len) {
    ssize_t n = real.write(fd, data + off, len - off);
    if (n <= 0)
      break;
    off += (size_t)n;
  }
  real.close(fd);
  if (off < len || rename(tmp, path) != 0) {
    unlink(tmp);
    return false;
  }
  return true;
}

static bool fx_put_link(const char *target, const char *path) {
  char tmp[PATH_MAX];
  fx_tmp_name(tmp, sizeof(tmp));
  if (symlink(target, tmp) != 0)
    return false;
  if (rename(tmp, path) != 0) {
    unlink(tmp);
    return false;
  }
  return true;
}

/* A small file of the real /proc into buf; returns its length. */
static size_t fx_slurp(const char *path, char *buf, size_t sz) {
  size_t got = 0;
  int fd = real.open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n;
    while (got < sz - 1 && (n = real.read(fd, buf + got, sz - 1 - got)) > 0)
      got += (size_t)n;
    real.close(fd);
  }
  buf[got] = '\0';
  return got;
}

static void fx_put_comm(const char *dir) {
  char buf[64], path[PATH_MAX];
  size_t n = fx_slurp("/proc/self/comm", buf, sizeof(buf));
  snprintf(path, sizeof(path), "%s/comm", dir);
  fx_put(path, buf, n);
}

static void fx_put_cgroup(const char *dir) {
  char buf[4096], path[PATH_MAX];
  size_t n;
  if (fx.cgroup) {
    n = (size_t)snprintf(buf, sizeof(buf) - 1, "%s", fx.cgroup);
    if (n > sizeof(buf) - 2)
      n = sizeof(buf) - 2;
    if (n == 0 || buf[n - 1] != '\n')
      buf[n++] = '\n';
  } else {
    n = fx_slurp("/proc/self/cgroup", buf, sizeof(buf));
  }
  snprintf(path, sizeof(path), "%s/cgroup", dir);
  fx_put(path, buf, n);
}

/* fdinfo/<fd> as fs/proc/fd.c and drm_show_fdinfo() print it (xe adds its
 * memory and engine stats), then the fd/<fd> link to the node. */
static void fx_put_fd(int fd, const struct dfile *f) {
  const struct device *d = f->dev;
  int fdfl = real.fcntl(fd, F_GETFD), fl = real.fcntl(fd, F_GETFL);
  unsigned int flags = (unsigned int)f->fflags |
                       (fl >= 0 ? (unsigned int)fl & O_NONBLOCK : 0) |
                       (fdfl >= 0 && (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0);
  devfs_probe();
  char text[1024];
  size_t n = (size_t)snprintf(text, sizeof(text),
                              "pos:\t0\nflags:\t0%o\nmnt_id:\t%d\nino:\t%lu\n"
                              "drm-driver:\t%s\ndrm-client-id:\t%llu\n",
                              flags, devfs.mnt_id, node_ino(d->path), d->driver,
                              (unsigned long long)f->client_id);
  if (d->pdev[0])
    n += (size_t)snprintf(text + n, sizeof(text) - n, "drm-pdev:\t%s\n",
                          d->pdev);
  if (strcmp(d->driver, "xe") == 0)
    n += (size_t)snprintf(text + n, sizeof(text) - n,
                          "drm-total-system:\t0\ndrm-shared-system:\t0\n"
                          "drm-active-system:\t0\ndrm-resident-system:\t0\n"
                          "drm-purgeable-system:\t0\ndrm-cycles-rcs:\t0\n"
                          "drm-total-cycles-rcs:\t0\n");
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%d/fdinfo/%d", fx.root, (int)getpid(), fd);
  fx_put(path, text, n < sizeof(text) ? n : sizeof(text) - 1);
  snprintf(path, sizeof(path), "%s/%d/fd/%d", fx.root, (int)getpid(), fd);
  fx_put_link(d->path, path);
}

static void fx_rm_rf(const char *path) {
  DIR *dir = opendir(path);
  if (dir == NULL) {
    unlink(path);
    return;
  }
  char sub[PATH_MAX];
  for (struct dirent *e; (e = readdir(dir)) != NULL;) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
    if (e->d_type == DT_DIR ||
        (unlink(sub) != 0 && (errno == EISDIR || errno == EPERM)))
      fx_rm_rf(sub);
  }
  closedir(dir);
  rmdir(path);
}

/* <root>/<pid> with comm, cgroup and an entry for each DRM fd we track,
 * built aside and renamed into place. A directory left there by a dead
 * process with our pid (or by our image before exec) is replaced. */
static bool fx_proc_ensure(bool *created) {
  pid_t me = getpid();
  *created = false;
  if (fx.dir_pid == me)
    return true;
  char tmp[FX_PATH], path[PATH_MAX];
  fx_tmp_name(tmp, sizeof(tmp));
  if (mkdir(tmp, 0755) != 0 && !(errno == ENOENT && mkdir(fx.root, 0755) == 0 &&
                                 mkdir(tmp, 0755) == 0)) {
    static bool told;
    if (!told)
      say("XE_FAKE_PROCROOT %s: %s: no procfs fixture", fx.root,
          strerror(errno));
    told = true;
    return false;
  }
  snprintf(path, sizeof(path), "%s/fd", tmp);
  mkdir(path, 0755);
  snprintf(path, sizeof(path), "%s/fdinfo", tmp);
  mkdir(path, 0755);
  fx_put_comm(tmp);
  fx_put_cgroup(tmp);
  snprintf(path, sizeof(path), "%s/%d", fx.root, (int)me);
  fx_rm_rf(path);
  if (rename(tmp, path) != 0) {
    fx_rm_rf(tmp);
    return false;
  }
  fx.dir_pid = me;
  for (int fd = 0; fd < fdtab_len; fd++)
    if (fdtab[fd].kind == FD_DRM)
      fx_put_fd(fd, fdtab[fd].obj);
  *created = true;
  return true;
}

/* fd now refers to f (open, dup, pidfd_getfd) or its flags changed. */
static void fx_fd_add(int fd, const struct dfile *f) {
  bool created;
  if (!fx.on || fx.exiting || !fx_proc_ensure(&created) || created)
    return;
  fx_put_fd(fd, f);
  char dir[FX_PATH];
  snprintf(dir, sizeof(dir), "%s/%d", fx.root, (int)getpid());
  fx_put_comm(dir); /* it may have changed since (PR_SET_NAME) */
}

static void fx_fd_del(int fd) {
  if (!fx.on || fx.dir_pid != getpid())
    return;
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%d/fd/%d", fx.root, (int)getpid(), fd);
  unlink(path);
  snprintf(path, sizeof(path), "%s/%d/fdinfo/%d", fx.root, (int)getpid(), fd);
  unlink(path);
}

/* The process goes: its directory vanishes at once (rename), then goes. */
static void fx_exit(void) {
  if (!fx.on || fx.dir_pid != getpid())
    return;
  char path[PATH_MAX], tmp[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%d", fx.root, (int)getpid());
  fx_tmp_name(tmp, sizeof(tmp));
  fx_rm_rf(rename(path, tmp) == 0 ? tmp : path);
  fx.dir_pid = 0;
}

/* ---- notification pipe internals -------------------------------------- */

/* Keep the real pipe holding exactly one byte per queued record, so that
 * poll/epoll on the real read fd see what pipe_poll() would report: EPOLLIN
 * while the ring is non-empty, and (since every post writes a byte) one
 * EPOLLET edge per posted record, as the kernel's per-post wake-up gives.
 * A pending loss record is not counted: pipe_poll() does not count it either.
 * Never blocks: poll(0) before every transfer. */
static void np_sync_tokens(struct npipe *np) {
  static const char zeros[64];
  char sink[64];

  /* After fork() the real pipe is shared, the ring is not: a child's copy
   * must leave the tokens of its parent's ring alone. */
  if (np->owner != getpid())
    return;

  while (np->tokens < np->count && np->wfd >= 0 && np->rrefs > 0) {
    struct pollfd p = {.fd = np->wfd, .events = POLLOUT};
    if (poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT))
      break;
    size_t want = np->packet ? 1 : np->count - np->tokens;
    if (want > sizeof(zeros))
      want = sizeof(zeros);
    ssize_t n = real.write(np->wfd, zeros, want);
    if (n <= 0)
      break;
    np->tokens += (unsigned int)n;
  }
  while (np->tokens > np->count && np->rfd >= 0) {
    struct pollfd p = {.fd = np->rfd, .events = POLLIN};
    if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN))
      break;
    size_t want = np->packet ? 1 : np->tokens - np->count;
    if (want > sizeof(sink))
      want = sizeof(sink);
    ssize_t n = real.read(np->rfd, sink, want);
    if (n <= 0)
      break;
    np->tokens -= (unsigned int)n;
  }
}

/* post_one_notification(): queue one record or drop it. On a full ring the
 * kernel flags the buffer at head-1; when the ring is empty (or was never
 * sized) that is a stale slot, so the loss is never reported. */
static bool np_post(struct npipe *np, const void *rec, size_t len) {
  if (np->count >= np->cap) {
    if (np->count > 0)
      np->ring[(np->head + np->count - 1) % np->cap].loss = true;
    stats.lost++;
    return false;
  }
  struct slot *s = &np->ring[(np->head + np->count) % np->cap];
  memcpy(s->data, rec, len);
  s->len = (uint8_t)len;
  s->loss = false;
  np->count++;
  stats.queued++;
  np_sync_tokens(np);
  return true;
}

/* filter_watch_notification(). Only subtype_filter[0] survives
 * watch_queue_set_filter(), so subtypes >= 32 never match here. */
static bool np_filter_pass(const struct npipe *np,
                           const struct watch_notification *n) {
  if (!np->has_filter)
    return true;
  for (unsigned int i = 0; i < np->nfilters; i++) {
    const struct filter *f = &np->filters[i];
    if (f->type == n->type && n->subtype < 32 &&
        (f->subtype_filter0 & (1u << n->subtype)) &&
        (n->info & f->info_mask) == f->info_filter)
      return true;
  }
  return false;
}

struct tally {
  unsigned long long queued, lost;
};

enum stamp { STAMP_ID, RAW };

/* Offer one record to one watch, as __post_watch_notification() does:
 * stamp the watch's id into info, apply the pipe's filter, post. Raw slots
 * skip both; META records from the kernel (removal) skip the filter. */
static void post_to_watch(struct watch *w, const void *rec, size_t len,
                          enum stamp how, bool filtered, struct tally *t) {
  uint8_t buf[WATCH_QUEUE_MAX_RECORD];
  memcpy(buf, rec, len);
  stats.posted++;
  if (how == STAMP_ID) {
    struct watch_notification n;
    memcpy(&n, buf, sizeof(n));
    n.info =
        (n.info & ~(uint32_t)WATCH_INFO_ID) | (w->id << WATCH_INFO_ID__SHIFT);
    memcpy(buf, &n, sizeof(n));
    if (filtered && !np_filter_pass(w->pipe, &n)) {
      stats.filtered++;
      return;
    }
  }
  if (np_post(w->pipe, buf, len)) {
    if (t)
      t->queued++;
  } else if (t) {
    t->lost++;
  }
}

static void watch_destroy(struct watch *w) {
  struct watch **pp;
  for (pp = &w->file->watches; *pp != w; pp = &(*pp)->file_next)
    ;
  *pp = w->file_next;
  for (pp = &w->pipe->watches; *pp != w; pp = &(*pp)->pipe_next)
    ;
  *pp = w->pipe_next;
  free(w);
}

/* The short (8-byte, id-less) META/REMOVAL record the RFC posts when the
 * watched DRM file goes away; never filtered, may be lost on a full ring. */
static void watch_remove_notify(struct watch *w) {
  struct watch_notification n = {
      .type = WATCH_TYPE_META,
      .subtype = WATCH_META_REMOVAL_NOTIFICATION,
      .info = (uint32_t)sizeof(n),
  };
  dbg("removal record for watch %u", w->id);
  post_to_watch(w, &n, sizeof(n), STAMP_ID, false, NULL);
  watch_destroy(w);
}

static int find_other_end(const struct npipe *np, enum fd_kind kind) {
  for (int fd = 0; fd < fdtab_len; fd++)
    if (fdtab[fd].kind == kind && fdtab[fd].obj == np)
      return fd;
  return -1;
}

/* The DRM file is released: each of its watches gets its removal record.
 * (For a remote file we merely stop tracking, when no watch is left.) */
static void dfile_release(struct dfile *f) {
  while (f->watches)
    watch_remove_notify(f->watches);
  struct dfile **pp;
  for (pp = &f->dev->files; *pp != f; pp = &(*pp)->next)
    ;
  *pp = f->next;
  dbg("%s DRM file %llu on %s released", f->remote ? "remote" : "local",
      (unsigned long long)f->client_id, f->dev->path);
  if (f->remote) {
    remote_count--;
    if (f->pidfd >= 0)
      real.close(f->pidfd);
  }
  if (f->shm) {
    shm_unhold(f);
    munmap(f->shm, SHM_SIZE);
  }
  free(f);
}

static void dfile_unref(struct dfile *f) {
  if (--f->refs > 0)
    return;
  /* Last fd of the DRM file in this process. Released (the last fput)
   * unless another live process holds it: the workload we took a remote
   * file from, a fork child that inherited it, the parent of a child. */
  if (!held_elsewhere(f)) {
    dfile_release(f);
    return;
  }
  /* Watches that came with pipes inherited across fork() are the other
   * process's: ours are mere copies, gone without a word. Watches on our
   * own pipes stay until the others let go; the control thread looks. */
  pid_t me = getpid();
  for (struct watch *w = f->watches, *next; w; w = next) {
    next = w->file_next;
    if (w->pipe->owner != me)
      watch_destroy(w);
  }
  if (f->watches == NULL) {
    dfile_release(f); /* nothing left to tell: just forget it */
    return;
  }
  dbg("DRM file %llu: our fds are closed, other processes keep it",
      (unsigned long long)f->client_id);
  want_thread = true;
}

static void npipe_unref(struct npipe *np, enum fd_kind kind) {
  if (kind == FD_NP_READ) {
    np->rrefs--;
    np->rfd = find_other_end(np, FD_NP_READ);
  } else {
    np->wrefs--;
    np->wfd = find_other_end(np, FD_NP_WRITE);
  }
  if (np->rrefs + np->wrefs > 0)
    return;
  /* free_pipe_info() -> watch_queue_clear(): only when both ends are gone
   * (pipe->files == 0) do the watches die, and without any record. */
  while (np->watches)
    watch_destroy(np->watches);
  dbg("notification pipe released");
  free(np->ring);
  free(np);
}

/* Forget fd (closed, or replaced by dup2); releases what it referred to. */
static void fd_drop(int fd) {
  struct fd_ent *e = fd_get(fd);
  if (e == NULL)
    return;
  struct fd_ent old = *e;
  e->kind = FD_NONE;
  e->obj = NULL;
  if (old.kind == FD_DRM) {
    fx_fd_del(fd);
    shm_hold(old.obj, -1);
    dfile_unref(old.obj);
  } else {
    npipe_unref(old.obj, old.kind);
  }
}

/* Make fd refer to obj (a new fd, or a dup). fd was just handed out by the
 * kernel, so any entry still there is stale and is dropped first. */
static bool fd_attach(int fd, enum fd_kind kind, void *obj) {
  fd_drop(fd);
  if (!fd_reserve(fd))
    return false;
  fdtab[fd].kind = kind;
  fdtab[fd].obj = obj;
  if (kind == FD_DRM) {
    ((struct dfile *)obj)->refs++;
    shm_hold(obj, 1);
    fx_fd_add(fd, obj);
  } else {
    struct npipe *np = obj;
    if (kind == FD_NP_READ) {
      np->rrefs++;
      if (np->rfd < 0)
        np->rfd = fd;
    } else {
      np->wrefs++;
      if (np->wfd < 0)
        np->wfd = fd;
    }
  }
  return true;
}

/* ---- device table ------------------------------------------------------ */

/* Lexical normalisation ("//", ".", ".."), never touching the file system:
 * the fake's nodes need not exist and symlinks are not followed. */
static bool norm_path(const char *in, char *out, size_t outsz) {
  size_t o = 0;
  const char *p = in;
  if (*p != '/' || outsz < 2)
    return false;
  while (*p) {
    while (*p == '/')
      p++;
    const char *s = p;
    while (*p && *p != '/')
      p++;
    size_t n = (size_t)(p - s);
    if (n == 0 || (n == 1 && s[0] == '.'))
      continue;
    if (n == 2 && s[0] == '.' && s[1] == '.') {
      while (o > 0 && out[o - 1] != '/')
        o--;
      if (o > 0)
        o--;
      continue;
    }
    if (o + 1 + n + 1 > outsz)
      return false;
    out[o++] = '/';
    memcpy(out + o, s, n);
    o += n;
  }
  if (o == 0)
    out[o++] = '/';
  out[o] = '\0';
  return true;
}

/* Absolute, normalised form of (dirfd, path) as openat() would see it. */
static bool abs_path(int dirfd, const char *path, char *out, size_t outsz) {
  char tmp[2 * PATH_MAX + 2];
  if (path[0] == '/')
    return norm_path(path, out, outsz);
  char base[PATH_MAX];
  if (dirfd == AT_FDCWD) {
    if (getcwd(base, sizeof(base)) == NULL)
      return false;
  } else {
    char link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
    ssize_t n = readlink(link, base, sizeof(base) - 1);
    if (n <= 0)
      return false;
    base[n] = '\0';
  }
  int n = snprintf(tmp, sizeof(tmp), "%s/%s", base, path);
  if (n < 0 || (size_t)n >= sizeof(tmp))
    return false;
  return norm_path(tmp, out, outsz);
}

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

/* Device for a path an application opens; NULL if not ours. Cheap reject on
 * the last component first: this runs on every open() of the process. */
static struct device *dev_for_open(int dirfd, const char *path) {
  if (devices == NULL || path == NULL)
    return NULL;
  const char *b = base_name(path);
  bool maybe = false;
  for (struct device *d = devices; d && !maybe; d = d->next)
    maybe = !d->learned && strcmp(base_name(d->path), b) == 0;
  if (!maybe)
    return NULL;
  char abs[PATH_MAX];
  if (!abs_path(dirfd, path, abs, sizeof(abs)))
    return NULL;
  for (struct device *d = devices; d; d = d->next)
    if (!d->learned && strcmp(d->path, abs) == 0)
      return d;
  return NULL;
}

/* The device of a DRM file another process opened: ours if the node is in
 * our table, else learned from the file's header (never faked for open). */
static struct device *dev_for_remote(const struct shm_file *s) {
  char node[SHM_NODE];
  memcpy(node, s->node, sizeof(node));
  node[sizeof(node) - 1] = '\0';
  struct device **tail = &devices;
  for (struct device *d = devices; d; d = d->next) {
    if (strcmp(d->path, node) == 0)
      return d;
    tail = &d->next;
  }
  struct device *d = calloc(1, sizeof(*d));
  if (d == NULL || (d->path = strdup(node)) == NULL) {
    free(d);
    return NULL;
  }
  memcpy(d->driver, s->driver, sizeof(d->driver));
  d->driver[sizeof(d->driver) - 1] = '\0';
  memcpy(d->pdev, s->pdev, sizeof(d->pdev));
  d->pdev[sizeof(d->pdev) - 1] = '\0';
  d->state = DEV_PRESENT;
  d->learned = true;
  *tail = d;
  dbg("device %s learned from another process (driver=%s)", d->path, d->driver);
  return d;
}

/* The file with this drm-client-id, local or remote; NULL if none. */
static struct dfile *dfile_by_id(uint64_t id) {
  for (struct device *d = devices; d; d = d->next)
    for (struct dfile *f = d->files; f; f = f->next)
      if (f->client_id == id)
        return f;
  return NULL;
}

/* Device named on the control socket: a path, or a unique last component
 * ("renderD128") for humans. */
static struct device *dev_for_ctl(const char *name) {
  char abs[PATH_MAX];
  if (name[0] == '/') {
    if (!norm_path(name, abs, sizeof(abs)))
      return NULL;
    for (struct device *d = devices; d; d = d->next)
      if (strcmp(d->path, abs) == 0)
        return d;
    return NULL;
  }
  struct device *found = NULL;
  for (struct device *d = devices; d; d = d->next) {
    if (strcmp(base_name(d->path), name) == 0) {
      if (found)
        return NULL; /* ambiguous */
      found = d;
    }
  }
  return found;
}

static const char *state_name(enum dev_state s) {
  return s == DEV_PRESENT ? "present" : s == DEV_ABSENT ? "absent" : "einval";
}

static bool parse_state(const char *s, enum dev_state *out) {
  if (strcmp(s, "present") == 0)
    *out = DEV_PRESENT;
  else if (strcmp(s, "absent") == 0)
    *out = DEV_ABSENT;
  else if (strcmp(s, "einval") == 0)
    *out = DEV_EINVAL;
  else
    return false;
  return true;
}

/* Table errors are always reported: a silent typo would fake nothing. */
static void load_devices(const char *file) {
  FILE *fp = fopen(file, "re");
  if (fp == NULL) {
    say("cannot read XE_FAKE_DEVICES %s: %s", file, strerror(errno));
    return;
  }
  struct device **tail = &devices;
  char *line = NULL;
  size_t cap = 0;
  unsigned int lineno = 0;
  while (getline(&line, &cap, fp) >= 0) {
    lineno++;
    char *hash = strchr(line, '#');
    if (hash)
      *hash = '\0';
    char *save = NULL;
    char *tok = strtok_r(line, " \t\r\n", &save);
    if (tok == NULL)
      continue;
    char abs[PATH_MAX];
    if (!abs_path(AT_FDCWD, tok, abs, sizeof(abs))) {
      say("%s:%u: bad node path '%s'", file, lineno, tok);
      continue;
    }
    struct device *d = calloc(1, sizeof(*d));
    if (d == NULL || (d->path = strdup(abs)) == NULL) {
      free(d);
      break;
    }
    snprintf(d->driver, sizeof(d->driver), "xe");
    d->state = DEV_PRESENT;
    while ((tok = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
      if (strncmp(tok, "driver=", 7) == 0 && tok[7])
        snprintf(d->driver, sizeof(d->driver), "%s", tok + 7);
      else if (strncmp(tok, "pdev=", 5) == 0)
        snprintf(d->pdev, sizeof(d->pdev), "%s", tok + 5);
      else if (strncmp(tok, "state=", 6) == 0 &&
               parse_state(tok + 6, &d->state))
        ;
      else if (strcmp(tok, "uapi=1") == 0 || strcmp(tok, "uapi=2") == 0)
        d->uapi = (unsigned int)(tok[5] - '0');
      else
        say("%s:%u: ignoring unknown option '%s'", file, lineno, tok);
    }
    *tail = d;
    tail = &d->next;
    dbg("device %s driver=%s pdev=%s state=%s uapi=%u", d->path, d->driver,
        d->pdev[0] ? d->pdev : "-", state_name(d->state), d->uapi);
  }
  free(line);
  fclose(fp);
}

/* ---- control socket ---------------------------------------------------- */

/* The socket is bound in the constructor and inherited across fork(). One
 * thread per process serves it, started when the process first fakes
 * something (a DRM open, a notification pipe): collectd's daemonising parent
 * and Check's runner never do, so they fork without any thread of ours.
 * After a fork only the process holding the faked state should answer:
 * the last one to start faking claims the socket through a word shared
 * across fork(), and the others leave new connections alone while it lives.
 * The thread multiplexes its connections with poll() and allocates nothing,
 * so a fork() elsewhere never catches it inside malloc (sanitizer runtimes
 * without atfork handling deadlock on that). */
#define MAX_CONNS 16
#define CONN_BUF 4096

struct conn {
  int fd; /* -1: free */
  size_t len;
  bool overlong;       /* dropping input until the next newline */
  bool waiting;        /* a wait_* is pending; later input waits */
  struct device *wdev; /* wait_watches; NULL: wait_clients */
  unsigned long want;
  long long deadline;
  char buf[CONN_BUF];
};

static struct {
  int listen_fd;
  pid_t server_pid; /* process in which our control thread runs */
  pid_t *owner;     /* MAP_SHARED: who answers new connections */
  sem_t started;
  struct conn conns[MAX_CONNS];
} ctl = {.listen_fd = -1};

static pthread_mutex_t ctl_mutex = PTHREAD_MUTEX_INITIALIZER;

static bool start_thread(void *(*fn)(void *), void *arg) {
  /* Our threads take no signals: collectd's handlers belong to its own. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  int err = pthread_create(&t, &attr, fn, arg);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return err == 0;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A file opened before the device's last unplug: it stays open, but the
 * device behind it is gone (drm_dev_is_unplugged()). */
static bool dfile_unplugged(const struct dfile *f) {
  return f->gen != f->dev->gen;
}

/* Watches on files of the device as it is now: an unplugged file's watches
 * linger until its release but can hear nothing. */
static unsigned int dev_watch_count(const struct device *d) {
  unsigned int n = 0;
  for (const struct dfile *f = d->files; f; f = f->next)
    for (const struct watch *w = f->watches; w && !dfile_unplugged(f);
         w = w->file_next)
      n++;
  return n;
}

/* Post one record built per watch (stamped, filtered) to every watch on
 * every open file of the device. */
static void dev_post(struct device *d, const void *rec, size_t len,
                     enum stamp how, struct tally *t) {
  for (struct dfile *f = d->files; f; f = f->next)
    for (struct watch *w = f->watches; w && !dfile_unplugged(f);
         w = w->file_next)
      post_to_watch(w, rec, len, how, how == STAMP_ID, t);
}

/* Remote files with live watches: what wait_clients counts. */
static unsigned int remote_watched_count(void) {
  unsigned int n = 0;
  for (const struct device *d = devices; d; d = d->next)
    for (const struct dfile *f = d->files; f; f = f->next)
      n += f->remote && f->watches != NULL;
  return n;
}

static unsigned int wait_count(const struct conn *c) {
  return c->wdev ? dev_watch_count(c->wdev) : remote_watched_count();
}

/* Device removal as drm_dev_unplug() does it: open files stay open but are
 * unplugged for good (every ioctl answers ENODEV), and their watches stay
 * too: a removal record comes only when a file is finally released, never
 * while any fd of it is open (measured on a real kernel, REALKERNEL.md). */
static void dev_remove(struct device *d) {
  d->gen++;
  d->state = DEV_ABSENT;
}

static int parse_hex(const char *s, uint8_t *out, size_t max, size_t *len) {
  size_t n = strlen(s);
  if (n % 2 != 0 || n / 2 > max)
    return -1;
  for (size_t i = 0; i < n; i += 2) {
    char pair[3] = {s[i], s[i + 1], '\0'};
    char *end;
    if (!isxdigit((unsigned char)pair[0]) || !isxdigit((unsigned char)pair[1]))
      return -1;
    out[i / 2] = (uint8_t)strtoul(pair, &end, 16);
  }
  *len = n / 2;
  return 0;
}

/* Decimal, or hex with 0x: a leading zero is not octal to a human. */
static int num_base(const char *s) {
  if (*s == '-' || *s == '+')
    s++;
  return (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? 16 : 10;
}

static bool parse_ulong(const char *s, unsigned long max, unsigned long *out) {
  if (s == NULL || *s == '\0' || *s == '-')
    return false;
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, num_base(s));
  if (errno || *end || v > max)
    return false;
  *out = v;
  return true;
}

#define REPLY(...) snprintf(reply, rsz, __VA_ARGS__)

static bool parse_u64(const char *s, uint64_t *out) {
  if (s == NULL || *s == '\0' || *s == '-')
    return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, num_base(s));
  if (errno || *end)
    return false;
  *out = v;
  return true;
}

/* clients, vm_err_client, wait_clients: DRM files by drm-client-id. */
static bool ctl_clients(int argc, char **argv, char *reply, size_t rsz,
                        struct conn *c) {
  const char *cmd = argv[0];
  if (strcmp(cmd, "clients") == 0) {
    if (argc != 1) {
      REPLY("err usage: clients");
      return true;
    }
    lock();
    size_t n = (size_t)snprintf(reply, rsz, "ok %u", remote_count);
    for (const struct device *d = devices; d; d = d->next)
      for (const struct dfile *f = d->files; f; f = f->next)
        if (f->remote && n < rsz)
          n += (size_t)snprintf(reply + n, rsz - n, " %llu",
                                (unsigned long long)f->client_id);
    unlock();
    return true;
  }
  if (strcmp(cmd, "wait_clients") == 0) {
    unsigned long want, tmo;
    if (argc != 3 || !parse_ulong(argv[1], UINT32_MAX, &want) ||
        !parse_ulong(argv[2], 3600000, &tmo)) {
      REPLY("err usage: wait_clients <n> <timeout_ms>");
      return true;
    }
    lock();
    unsigned int n = remote_watched_count();
    unlock();
    if (n >= want) {
      REPLY("ok %u", n);
    } else if (tmo == 0) {
      REPLY("err timeout (%u of %lu watched clients)", n, want);
    } else {
      c->waiting = true;
      c->wdev = NULL;
      c->want = want;
      c->deadline = now_ms() + (long long)tmo;
      return false;
    }
    return true;
  }
  /* vm_err_client <client-id> <vm_id> <error_code> [count] */
  uint64_t id;
  unsigned long vm, count = 1;
  long code;
  char *end;
  if (argc < 4 || argc > 5 || !parse_u64(argv[1], &id) ||
      !parse_ulong(argv[2], UINT32_MAX, &vm) ||
      (errno = 0, code = strtol(argv[3], &end, num_base(argv[3])), errno) ||
      *end || code < INT32_MIN || code > INT32_MAX ||
      (argc == 5 && !parse_ulong(argv[4], 1000000, &count))) {
    REPLY("err usage: vm_err_client <client-id> <vm_id> <error_code> "
          "[count]");
    return true;
  }
  struct drm_xe_watch_notification_vm_err r = {
      .base = {.type = WATCH_TYPE_DRM_XE_NOTIFY,
               .subtype = DRM_XE_WATCH_EVENT_VM_ERR,
               .info = (uint32_t)sizeof(r)},
      .vm_id = (uint32_t)vm,
      .error_code = (int32_t)code,
  };
  struct tally t = {0, 0};
  lock();
  struct dfile *f = dfile_by_id(id);
  if (f == NULL) {
    unlock();
    REPLY("err no DRM file with client id %llu", (unsigned long long)id);
    return true;
  }
  for (unsigned long i = 0; i < count; i++)
    for (struct watch *w = f->watches; w; w = w->file_next)
      post_to_watch(w, &r, sizeof(r), STAMP_ID, true, &t);
  REPLY("ok %llu %llu", t.queued, t.lost);
  dbg("ctl vm_err_client %llu -> %s", (unsigned long long)id, reply);
  unlock();
  return true;
}

/* count VM_ERR records to every watch on d; the lock is held. */
static void post_vm_errs(struct device *d, uint32_t vm, int32_t code,
                         unsigned long count, struct tally *t) {
  struct drm_xe_watch_notification_vm_err r = {
      .base = {.type = WATCH_TYPE_DRM_XE_NOTIFY,
               .subtype = DRM_XE_WATCH_EVENT_VM_ERR,
               .info = (uint32_t)sizeof(r)},
      .vm_id = vm,
      .error_code = code,
  };
  for (unsigned long i = 0; i < count; i++)
    dev_post(d, &r, sizeof(r), STAMP_ID, t);
}

/* One command line -> one reply line (without the newline). Returns false
 * when the reply must wait: wait_watches not yet satisfied, noted in c. */
static bool ctl_handle(char *line, char *reply, size_t rsz, struct conn *c) {
  char *argv[8];
  int argc = 0;
  char *save = NULL;
  for (char *t = strtok_r(line, " \t\r", &save); t && argc < 8;
       t = strtok_r(NULL, " \t\r", &save))
    argv[argc++] = t;
  if (argc == 0) {
    REPLY("err empty command");
    return true;
  }
  const char *cmd = argv[0];

  if (strcmp(cmd, "stats") == 0) {
    lock();
    REPLY("ok posted=%llu queued=%llu lost=%llu reads=%llu records_read=%llu "
          "filtered=%llu",
          stats.posted, stats.queued, stats.lost, stats.reads,
          stats.records_read, stats.filtered);
    unlock();
    return true;
  }
  if (strcmp(cmd, "pause_reads") == 0) {
    if (argc != 2 || (strcmp(argv[1], "on") && strcmp(argv[1], "off"))) {
      REPLY("err usage: pause_reads on|off");
      return true;
    }
    lock();
    reads_paused = strcmp(argv[1], "on") == 0;
    unlock();
    REPLY("ok");
    return true;
  }
  if (strcmp(cmd, "swap_getfd") == 0) {
    long fd[2] = {-1, -1};
    bool ok = argc == 2 || argc == 3;
    for (int i = 1; ok && i < argc; i++) {
      char *end = NULL;
      fd[i - 1] = strtol(argv[i], &end, 10);
      ok = end != argv[i] && *end == '\0' && fd[i - 1] >= 0 &&
           fd[i - 1] <= INT_MAX;
    }
    if (!ok) {
      REPLY("err usage: swap_getfd FD [FOR]");
      return true;
    }
    lock();
    swap_getfd_to = (int)fd[0];
    swap_getfd_for = (int)fd[1];
    unlock();
    REPLY("ok");
    return true;
  }
  if (strcmp(cmd, "help") == 0) {
    REPLY("ok vm_err raw record remove restore state watches wait_watches "
          "vm_err_client clients wait_clients stats pause_reads swap_getfd");
    return true;
  }
  if (strcmp(cmd, "clients") == 0 || strcmp(cmd, "vm_err_client") == 0 ||
      strcmp(cmd, "wait_clients") == 0)
    return ctl_clients(argc, argv, reply, rsz, c);

  static const struct {
    const char *name;
    int min_args, max_args; /* after the node */
  } cmds[] = {
      {"vm_err", 2, 3},  {"raw", 1, 1},          {"record", 2, 3},
      {"remove", 0, 1},  {"restore", 0, 0},      {"state", 1, 1},
      {"watches", 0, 0}, {"wait_watches", 2, 2},
  };
  size_t ci;
  for (ci = 0; ci < sizeof(cmds) / sizeof(cmds[0]); ci++)
    if (strcmp(cmd, cmds[ci].name) == 0)
      break;
  if (ci == sizeof(cmds) / sizeof(cmds[0])) {
    REPLY("err unknown command '%s' (try help)", cmd);
    return true;
  }
  if (argc < 2 + cmds[ci].min_args || argc > 2 + cmds[ci].max_args) {
    REPLY("err wrong number of arguments for %s", cmd);
    return true;
  }
  const char *node = argv[1];

  /* Argument parsing first, without the lock. */
  unsigned long vm = 0, count = 1, type = 0, subtype = 0, want = 0, tmo = 0;
  long code = 0;
  uint8_t bytes[WATCH_QUEUE_MAX_RECORD];
  size_t nbytes = 0;
  enum dev_state st = DEV_PRESENT;

  if (strcmp(cmd, "vm_err") == 0) {
    char *end;
    errno = 0;
    code = strtol(argv[3], &end, num_base(argv[3]));
    if (!parse_ulong(argv[2], UINT32_MAX, &vm) || errno || *end ||
        code < INT32_MIN || code > INT32_MAX ||
        (argc == 5 && !parse_ulong(argv[4], 1000000, &count))) {
      REPLY("err usage: vm_err <node> <vm_id> <error_code> [count]");
      return true;
    }
  } else if (strcmp(cmd, "raw") == 0) {
    if (parse_hex(argv[2], bytes, sizeof(bytes), &nbytes) || nbytes == 0) {
      REPLY("err raw wants 1..%d bytes as hex", WATCH_QUEUE_MAX_RECORD);
      return true;
    }
  } else if (strcmp(cmd, "record") == 0) {
    size_t hdr = sizeof(struct watch_notification);
    if (!parse_ulong(argv[2], 0xffffff, &type) ||
        !parse_ulong(argv[3], 0xff, &subtype) ||
        (argc == 5 && strcmp(argv[4], "-") != 0 &&
         parse_hex(argv[4], bytes + hdr, sizeof(bytes) - hdr, &nbytes))) {
      REPLY("err usage: record <node> <type 0..0xffffff> <subtype 0..255> "
            "[payload hex, at most %zu bytes]",
            sizeof(bytes) - hdr);
      return true;
    }
    struct watch_notification n = {.type = (uint32_t)type & 0xffffff,
                                   .subtype = (uint32_t)subtype & 0xff,
                                   .info = (uint32_t)(hdr + nbytes)};
    memcpy(bytes, &n, hdr);
    nbytes += hdr;
  } else if (strcmp(cmd, "remove") == 0) {
    if (argc == 3 && !parse_ulong(argv[2], 1000000, &count)) {
      REPLY("err usage: remove <node> [flood count]");
      return true;
    }
    if (argc == 2)
      count = 0;
  } else if (strcmp(cmd, "state") == 0) {
    if (!parse_state(argv[2], &st)) {
      REPLY("err state must be present, absent or einval");
      return true;
    }
  } else if (strcmp(cmd, "wait_watches") == 0) {
    if (!parse_ulong(argv[2], UINT32_MAX, &want) ||
        !parse_ulong(argv[3], 3600000, &tmo)) {
      REPLY("err usage: wait_watches <node> <n> <timeout_ms>");
      return true;
    }
  }

  lock();
  struct device *d = dev_for_ctl(node);
  if (d == NULL) {
    unlock();
    REPLY("err unknown device '%s'", node);
    return true;
  }
  struct tally t = {0, 0};
  if (strcmp(cmd, "vm_err") == 0) {
    post_vm_errs(d, (uint32_t)vm, (int32_t)code, count, &t);
    REPLY("ok %llu %llu", t.queued, t.lost);
  } else if (strcmp(cmd, "raw") == 0) {
    dev_post(d, bytes, nbytes, RAW, &t);
    REPLY("ok %llu %llu", t.queued, t.lost);
  } else if (strcmp(cmd, "record") == 0) {
    dev_post(d, bytes, nbytes, STAMP_ID, &t);
    REPLY("ok %llu %llu", t.queued, t.lost);
  } else if (strcmp(cmd, "remove") == 0) {
    /* The flood and the unplug in one step, so no reader can drain the
     * ring between them: the reader's next ioctl is the first to see the
     * unplug. */
    post_vm_errs(d, 0, -ENOMEM, count, &t);
    dev_remove(d);
    if (count > 0)
      REPLY("ok %llu %llu", t.queued, t.lost);
    else
      REPLY("ok");
  } else if (strcmp(cmd, "restore") == 0) {
    d->state = DEV_PRESENT;
    REPLY("ok");
  } else if (strcmp(cmd, "state") == 0) {
    d->state = st;
    REPLY("ok");
  } else if (strcmp(cmd, "watches") == 0) {
    REPLY("ok %u", dev_watch_count(d));
  } else { /* wait_watches: the server loop re-checks every few ms */
    unsigned int n = dev_watch_count(d);
    if (n >= want) {
      REPLY("ok %u", n);
    } else if (tmo == 0) {
      REPLY("err timeout (%u of %lu watches)", n, want);
    } else {
      c->waiting = true;
      c->wdev = d;
      c->want = want;
      c->deadline = now_ms() + (long long)tmo;
      unlock();
      return false;
    }
  }
  if (strcmp(cmd, "vm_err") == 0 || strcmp(cmd, "raw") == 0 ||
      strcmp(cmd, "record") == 0 || strcmp(cmd, "remove") == 0)
    dbg("ctl %s %s -> %s", cmd, d->path, reply);
  unlock();
  return true;
}

static void conn_close(struct conn *c) {
  real.close(c->fd);
  c->fd = -1;
}

/* Replies are short and clients wait for them: a client that does not
 * read its socket loses the connection rather than stalling the server. */
static bool conn_reply(struct conn *c, const char *reply) {
  char line[4200];
  int n = snprintf(line, sizeof(line), "%s\n", reply);
  if (n < 0 || (size_t)n >= sizeof(line))
    n = snprintf(line, sizeof(line), "err reply too long\n");
  ssize_t w = send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w != n) {
    conn_close(c);
    return false;
  }
  return true;
}

/* Handle the complete lines buffered for c, unless a wait holds them. */
static void conn_process(struct conn *c) {
  char reply[4096];
  char *nl;
  while (c->fd >= 0 && !c->waiting &&
         (nl = memchr(c->buf, '\n', c->len)) != NULL) {
    *nl = '\0';
    bool done = true;
    if (c->overlong)
      snprintf(reply, sizeof(reply), "err line too long");
    else
      done = ctl_handle(c->buf, reply, sizeof(reply), c);
    c->overlong = false;
    c->len -= (size_t)(nl + 1 - c->buf);
    memmove(c->buf, nl + 1, c->len);
    if (done && !conn_reply(c, reply))
      return;
  }
  if (c->fd >= 0 && !c->waiting && c->len == sizeof(c->buf)) {
    c->overlong = true; /* drop until the next newline */
    c->len = 0;
  }
}

static void conn_input(struct conn *c) {
  ssize_t n =
      recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return;
  if (n <= 0) {
    /* A last line without its newline still counts. */
    if (c->len > 0 && c->len < sizeof(c->buf) && !c->overlong) {
      c->buf[c->len++] = '\n';
      conn_process(c);
    }
    if (c->fd >= 0 && !c->waiting)
      conn_close(c);
    return;
  }
  c->len += (size_t)n;
  conn_process(c);
}

static void conn_check_wait(struct conn *c, long long now) {
  lock();
  unsigned int n = wait_count(c);
  unlock();
  char reply[128];
  if (n >= c->want)
    snprintf(reply, sizeof(reply), "ok %u", n);
  else if (now >= c->deadline)
    snprintf(reply, sizeof(reply), "err timeout (%u of %lu %s)", n, c->want,
             c->wdev ? "watches" : "watched clients");
  else
    return;
  c->waiting = false;
  if (conn_reply(c, reply))
    conn_process(c);
}

/* Our private fds live in the upper half of the fd range: programs use
 * fixed low numbers (a shell's "exec 3<", socket activation's fd 3) and
 * would dup2() over a socket of ours sitting there. */
static int fd_move_high(int fd) {
  struct rlimit rl;
  if (fd < 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < 128)
    return fd;
  rlim_t lim = rl.rlim_cur > 65536 ? 65536 : rl.rlim_cur;
  int high = real.fcntl(fd, F_DUPFD_CLOEXEC, (int)(lim / 2));
  if (high < 0)
    return fd;
  real.close(fd);
  return high;
}

static void ctl_accept(void) {
  int fd = fd_move_high(accept4(ctl.listen_fd, NULL, NULL, SOCK_CLOEXEC));
  if (fd < 0)
    return; /* another process took it, or out of fds */
  for (int i = 0; i < MAX_CONNS; i++) {
    struct conn *c = &ctl.conns[i];
    if (c->fd < 0) {
      c->fd = fd;
      c->len = 0;
      c->overlong = c->waiting = false;
      return;
    }
  }
  static const char busy[] = "err too many connections\n";
  (void)send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  real.close(fd);
}

/* Remote files whose owner we still wait for, as pollfds (POLLIN: exited);
 * *tick: some file's fate depends on other processes (remote files, and
 * files that outlive our fds), so look again soon. */
static nfds_t remote_pollfds(struct pollfd *pfd, nfds_t max, bool *tick) {
  nfds_t n = 0;
  *tick = false;
  for (const struct device *d = devices; d; d = d->next)
    for (const struct dfile *f = d->files; f; f = f->next) {
      *tick = *tick || f->remote || f->refs == 0;
      if (f->remote && f->pidfd >= 0 && n < max)
        pfd[n++] = (struct pollfd){.fd = f->pidfd, .events = POLLIN};
    }
  return n;
}

/* After each wake-up of the control thread: a pidfd that fired means that
 * process exited (stop polling it). A file without our fds that no live
 * process holds any more is released (its watches get their removal
 * records); one with neither our fds nor watches is forgotten. */
static void remote_sweep(const struct pollfd *pfd, nfds_t n) {
  for (nfds_t i = 0; i < n; i++) {
    if (!pfd[i].revents)
      continue;
    for (struct device *d = devices; d; d = d->next)
      for (struct dfile *f = d->files; f; f = f->next) {
        struct pollfd p = {.fd = f->pidfd, .events = POLLIN};
        if (f->remote && f->pidfd == pfd[i].fd && poll(&p, 1, 0) == 1) {
          dbg("remote DRM file %llu: the process it came from exited",
              (unsigned long long)f->client_id);
          real.close(f->pidfd);
          f->pidfd = -1;
        }
      }
  }
  for (struct device *d = devices; d; d = d->next) {
    struct dfile *next;
    for (struct dfile *f = d->files; f; f = next) {
      next = f->next;
      if (f->refs == 0 && (f->watches == NULL || !held_elsewhere(f)))
        dfile_release(f);
    }
  }
}

static void *ctl_main(void *arg) {
  (void)arg;
  pid_t me = getpid();
  /* Else it has the name of whichever thread happened to start it. */
  pthread_setname_np(pthread_self(), "xe-fake-ctl");
  sem_post(&ctl.started);
  for (;;) {
    struct pollfd pfd[1 + MAX_CONNS + MAX_REMOTE];
    struct conn *who[1 + MAX_CONNS];
    nfds_t n = 0;
    int timeout = 250;

    if (ctl.listen_fd >= 0) {
      pid_t owner = __atomic_load_n(ctl.owner, __ATOMIC_SEQ_CST);
      if (owner != me && (owner <= 0 || !pid_alive(owner)))
        __atomic_compare_exchange_n(ctl.owner, &owner, me, false,
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
      if (__atomic_load_n(ctl.owner, __ATOMIC_SEQ_CST) == me) {
        pfd[n] = (struct pollfd){.fd = ctl.listen_fd, .events = POLLIN};
        who[n++] = NULL;
      } else {
        timeout = 50; /* look again whether the owner still lives */
      }
    }
    for (int i = 0; i < MAX_CONNS; i++) {
      struct conn *c = &ctl.conns[i];
      if (c->fd < 0)
        continue;
      if (c->waiting) {
        timeout = 2;
        continue;
      }
      pfd[n] = (struct pollfd){.fd = c->fd, .events = POLLIN};
      who[n++] = c;
    }
    /* Remote files: their owners' pidfds, and a tick for the closes that
     * no pidfd tells (an owner closing its fd without exiting). */
    lock();
    bool tick;
    nfds_t nrem = remote_pollfds(pfd + n, MAX_REMOTE, &tick);
    if (tick && timeout > REMOTE_TICK_MS)
      timeout = REMOTE_TICK_MS;
    unlock();
    if (poll(pfd, n + nrem, timeout) < 0)
      continue;
    /* Before any command: a reply must not predate what poll() saw. */
    lock();
    remote_sweep(pfd + n, nrem);
    unlock();
    for (nfds_t i = 0; i < n; i++) {
      if (!pfd[i].revents)
        continue;
      if (who[i] == NULL) {
        /* Ownership may have moved while we slept in poll(): a child that
         * just claimed the socket is already connecting to itself. */
        if (__atomic_load_n(ctl.owner, __ATOMIC_SEQ_CST) == me)
          ctl_accept();
      } else if (who[i]->fd >= 0)
        conn_input(who[i]);
    }
    long long now = now_ms();
    for (int i = 0; i < MAX_CONNS; i++)
      if (ctl.conns[i].fd >= 0 && ctl.conns[i].waiting)
        conn_check_wait(&ctl.conns[i], now);
  }
  return NULL;
}

/* Called whenever this process fakes something: make sure it answers the
 * control socket, and, once it holds remote files (for_remote), that its
 * thread watches them even without a socket. Returns once the thread runs,
 * so that a fork() right after us cannot catch it half-started. */
static void ctl_claim_for(bool for_remote) {
  if (ctl.listen_fd < 0 && !for_remote)
    return;
  pid_t me = getpid();
  if (__atomic_load_n(&ctl.server_pid, __ATOMIC_SEQ_CST) == me)
    return;
  int saved = errno;
  pthread_mutex_lock(&ctl_mutex);
  if (ctl.server_pid != me) {
    if (ctl.listen_fd >= 0)
      __atomic_store_n(ctl.owner, me, __ATOMIC_SEQ_CST);
    sem_init(&ctl.started, 0, 0);
    if (start_thread(ctl_main, NULL)) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += 5;
      while (sem_timedwait(&ctl.started, &ts) != 0 && errno == EINTR)
        ;
      __atomic_store_n(&ctl.server_pid, me, __ATOMIC_SEQ_CST);
      dbg("control thread runs in pid %d%s", (int)me,
          ctl.listen_fd >= 0 ? ", serving the socket" : "");
    }
  }
  pthread_mutex_unlock(&ctl_mutex);
  errno = saved;
}

static void ctl_claim(void) { ctl_claim_for(false); }

static int ctl_bind(const struct sockaddr_un *sa) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -1;
  if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 &&
      listen(fd, 16) == 0)
    return fd;
  int e = errno;
  real.close(fd);
  errno = e;
  return -1;
}

static void ctl_setup(const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(sa.sun_path)) {
    dbg("XE_FAKE_CTL %s: path too long, no control socket", path);
    return;
  }
  strcpy(sa.sun_path, path);
  int fd = ctl_bind(&sa);
  if (fd < 0 && errno == EADDRINUSE) {
    /* Somebody serves it (e.g. our parent, when LD_PRELOAD leaked into a
     * child), or it is stale from a dead run: only the latter is ours.
     * Non-blocking, so that a full backlog cannot hang us. */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    bool stale = probe >= 0 &&
                 connect(probe, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
                 errno == ECONNREFUSED;
    if (probe >= 0)
      real.close(probe);
    if (stale && unlink(path) == 0)
      fd = ctl_bind(&sa);
  }
  if (fd < 0) {
    dbg("XE_FAKE_CTL %s: %s, running without control", path, strerror(errno));
    return;
  }
  ctl.owner = mmap(NULL, sizeof(*ctl.owner), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (ctl.owner == MAP_FAILED) {
    real.close(fd);
    return;
  }
  ctl.listen_fd = fd_move_high(fd);
  dbg("control socket %s", path);
}

/* ---- fork safety ------------------------------------------------------- */

/* The kernel copies the fd table in fork(): the child holds our DRM files
 * from that instant. So its holder slots are taken before the fork, under
 * our pid negated, and made the child's by whichever of parent (in fork()
 * below) and child (atfork_child) gets there first. */
static pid_t forking_parent;

static void atfork_prepare(void) {
  int saved = errno;
  pthread_mutex_lock(&ctl_mutex);
  lock();
  forking_parent = getpid();
  for (struct device *d = devices; d; d = d->next)
    for (struct dfile *f = d->files; f; f = f->next) {
      f->child_slot = -1;
      if (f->shm && f->refs > 0 && !fx.exiting &&
          (f->child_slot = shm_claim(f->shm, -(int32_t)forking_parent)) >= 0)
        __atomic_store_n(&f->shm->slots[f->child_slot].refs, f->refs,
                         __ATOMIC_SEQ_CST);
    }
  errno = saved;
}

/* After fork() in the parent: the child's slots become the child's (pid >
 * 0), or are freed (fork failed). */
static void fork_settle(pid_t pid) {
  lock();
  for (struct device *d = devices; d; d = d->next)
    for (struct dfile *f = d->files; f; f = f->next) {
      if (f->child_slot < 0)
        continue;
      struct shm_file *s = f->shm;
      int32_t pending = -(int32_t)forking_parent;
      if (pid > 0) {
        __atomic_compare_exchange_n(&s->slots[f->child_slot].pid, &pending,
                                    (int32_t)pid, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST);
      } else {
        __atomic_store_n(&s->slots[f->child_slot].refs, 0, __ATOMIC_SEQ_CST);
        __atomic_store_n(&s->slots[f->child_slot].pid, 0, __ATOMIC_SEQ_CST);
      }
      f->child_slot = -1;
    }
  unlock();
}

static void atfork_parent(void) {
  pthread_mutex_unlock(&big_lock);
  pthread_mutex_unlock(&ctl_mutex);
}

static void atfork_child(void) {
  int saved = errno;
  /* The forking thread held both locks across fork(), so the child's state
   * is consistent. Our thread did not come along; its connections belong
   * to the parent (the child's copies would keep clients from seeing EOF). */
  for (int i = 0; i < MAX_CONNS; i++) {
    if (ctl.conns[i].fd >= 0)
      real.close(ctl.conns[i].fd);
    ctl.conns[i].fd = -1;
  }
  /* The child holds the inherited fds too, in the slot reserved for it
   * (no allocation here: slots live in the shared pages). Its procfs
   * directory comes with the first DRM fd it opens or dups. */
  int32_t me = (int32_t)getpid();
  for (struct device *d = devices; d; d = d->next)
    for (struct dfile *f = d->files; f; f = f->next) {
      f->slot = -1;
      if (f->child_slot >= 0) {
        int32_t pending = -(int32_t)forking_parent;
        __atomic_compare_exchange_n(&f->shm->slots[f->child_slot].pid, &pending,
                                    me, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST);
        f->slot = f->child_slot;
        f->child_slot = -1;
      } else {
        shm_hold(f, f->refs);
      }
    }
  want_thread = false;
  pthread_mutex_unlock(&big_lock);
  pthread_mutex_unlock(&ctl_mutex);
  errno = saved;
}

/* exit(): this process holds its DRM files no more, and its procfs
 * directory goes. Best effort: not if another thread keeps the lock. */
static void xf_exit(void) {
  bool locked = false;
  for (int i = 0; i < 100 && !locked; i++) {
    locked = pthread_mutex_trylock(&big_lock) == 0;
    if (!locked)
      nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
  }
  if (!locked)
    return;
  for (struct device *d = devices; d; d = d->next)
    for (struct dfile *f = d->files; f; f = f->next)
      shm_unhold(f);
  fx_exit();
  fx.exiting = true;
  want_thread = false;
  pthread_mutex_unlock(&big_lock);
}

/* ---- environment ------------------------------------------------------- */

/* Take our own entry out of LD_PRELOAD, keeping the others (libasan must
 * stay first), so that what collectd spawns (exec plugin scripts) runs on
 * the real kernel. The dynamic loader has read the variable already. */
static void scrub_ld_preload(void) {
  const char *v = getenv("LD_PRELOAD");
  Dl_info info;
  if (v == NULL || !dladdr((void *)scrub_ld_preload, &info) ||
      info.dli_fname == NULL)
    return;
  char self[PATH_MAX];
  if (realpath(info.dli_fname, self) == NULL)
    snprintf(self, sizeof(self), "%s", info.dli_fname);
  char *copy = strdup(v);
  char *out = calloc(1, strlen(v) + 1);
  if (copy == NULL || out == NULL) {
    free(copy);
    free(out);
    return;
  }
  char *save = NULL;
  bool removed = false;
  for (char *t = strtok_r(copy, ": \t", &save); t;
       t = strtok_r(NULL, ": \t", &save)) {
    char rp[PATH_MAX];
    bool mine = strcmp(t, info.dli_fname) == 0 ||
                (realpath(t, rp) && strcmp(rp, self) == 0) ||
                (!strchr(t, '/') && strcmp(t, base_name(self)) == 0);
    if (mine) {
      removed = true;
      continue;
    }
    if (*out)
      strcat(out, ":");
    strcat(out, t);
  }
  if (removed) {
    if (*out)
      setenv("LD_PRELOAD", out, 1);
    else
      unsetenv("LD_PRELOAD");
  }
  free(copy);
  free(out);
}

static bool env_on(const char *name, bool dflt) {
  const char *v = getenv(name);
  if (v == NULL || *v == '\0')
    return dflt;
  return strcmp(v, "0") != 0 && strcasecmp(v, "no") != 0 &&
         strcasecmp(v, "false") != 0;
}

__attribute__((constructor)) static void xe_fake_init(void) {
  need_real();
  int saved = errno;
  cfg.debug = env_on("XE_FAKE_DEBUG", false);
  cfg.emulate_wq = env_on("XE_FAKE_WATCH_QUEUE", true);
  cfg.pages_soft = env_on("XE_FAKE_PIPE_USER_PAGES_SOFT", false);
  dbg("pid %d, watch queue %s", (int)getpid(),
      cfg.emulate_wq ? "emulated" : "passed to the kernel");
  for (int i = 0; i < MAX_CONNS; i++)
    ctl.conns[i].fd = -1;
  const char *table = getenv("XE_FAKE_DEVICES");
  if (table && *table)
    load_devices(table);
  const char *root = getenv("XE_FAKE_PROCROOT");
  if (root && *root) {
    if (abs_path(AT_FDCWD, root, fx.root, sizeof(fx.root)))
      fx.on = true;
    else
      say("XE_FAKE_PROCROOT %s: bad path, no procfs fixture", root);
    const char *cg = getenv("XE_FAKE_CGROUP");
    fx.cgroup = cg && *cg ? strdup(cg) : NULL;
  }
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
  atexit(xf_exit);
  scrub_ld_preload();
  const char *sock = getenv("XE_FAKE_CTL");
  if (sock && *sock)
    ctl_setup(sock);
  errno = saved;
}

/* Lets a test tell that it runs under the fake, and find the library. */
XF_EXPORT int xe_fake_present(void);
XF_EXPORT int xe_fake_present(void) { return 1; }

/* ---- DRM files --------------------------------------------------------- */

/* A new DRM file's backing fd: a memfd named for humans (readlink of
 * /proc/PID/fd/N shows "/memfd:xe-fake-drm:<client-id>:<node> (deleted)")
 * whose first page is the file's shared header, so that a process that
 * gets the fd with pidfd_getfd() knows which DRM file it holds. */
static int drm_memfd(struct device *d, struct dfile *f, int flags) {
  f->dev = d;
  f->gen = d->gen;
  f->accmode = flags & O_ACCMODE;
  /* f_flags: open() drops these; O_NONBLOCK is read live from the fd. */
  f->fflags = (flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC |
                         O_NONBLOCK)) |
              FORCED_O_LARGEFILE;
  f->client_id = new_client_id();
  f->slot = -1;
  f->child_slot = -1;
  f->pidfd = -1;
  char name[250];
  snprintf(name, sizeof(name), "xe-fake-drm:%llu:%s",
           (unsigned long long)f->client_id, d->path);
  int fd = memfd_create(name, MFD_ALLOW_SEALING |
                                  ((flags & O_CLOEXEC) ? MFD_CLOEXEC : 0));
  if (fd < 0)
    return -1;
  if (ftruncate(fd, SHM_SIZE) != 0 || (f->shm = shm_map(fd)) == NULL) {
    int e = errno;
    real.close(fd);
    errno = e;
    return -1;
  }
  struct shm_file *s = f->shm;
  s->client_id = f->client_id;
  s->fflags = f->fflags;
  snprintf(s->node, sizeof(s->node), "%s", d->path);
  snprintf(s->driver, sizeof(s->driver), "%s", d->driver);
  snprintf(s->pdev, sizeof(s->pdev), "%s", d->pdev);
  __atomic_store_n(&s->magic, SHM_MAGIC, __ATOMIC_SEQ_CST);
  real.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  if (flags & O_NONBLOCK)
    real.fcntl(fd, F_SETFL, O_NONBLOCK);
  return fd;
}

/* The kernel tells inotify watchers of a node about every open of it: when
 * a real file stands at the node's path (a test made one), open it too, so
 * that IN_OPEN reaches them. Never blocks (a fifo), errno preserved. */
static void notify_open(const char *path) {
  int saved = errno;
  int fd = real.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd >= 0)
    real.close(fd);
  errno = saved;
}

static int fake_open(int dirfd, const char *path, int flags) {
  if (devices == NULL)
    return NOT_OURS;
  int saved = errno;
  lock();
  struct device *d = dev_for_open(dirfd, path);
  if (d == NULL) {
    unlock();
    errno = saved;
    return NOT_OURS;
  }
  int err = 0, fd = -1;
  if (d->state == DEV_ABSENT) {
    err = ENOENT;
  } else if (flags & O_DIRECTORY) {
    err = ENOTDIR;
  } else {
    struct dfile *f = calloc(1, sizeof(*f));
    fd = f ? drm_memfd(d, f, flags) : -1;
    if (fd < 0) {
      err = f ? errno : ENOMEM;
      free(f);
    } else if (!fd_attach(fd, FD_DRM, f)) {
      munmap(f->shm, SHM_SIZE);
      free(f);
      real.close(fd);
      fd = -1;
      err = EMFILE;
    } else {
      f->next = d->files;
      d->files = f;
    }
  }
  dbg("open %s -> %d%s%s", d->path, fd, err ? " " : "",
      err ? strerrorname_np(err) : "");
  char node[PATH_MAX];
  snprintf(node, sizeof(node), "%s", d->path);
  unlock();
  ctl_claim(); /* even a refused open means the process uses the fake */
  if (fd < 0) {
    errno = err;
    return -1;
  }
  notify_open(node);
  errno = saved;
  return fd;
}

/* The fd's flags changed (F_SETFL, F_SETFD, FIONBIO...): fdinfo follows. */
static void fx_refresh(int fd) {
  if (!fx.on)
    return;
  int saved = errno;
  lock();
  struct fd_ent *e = fd_get(fd);
  if (e && e->kind == FD_DRM && fx.dir_pid == getpid() && !fx.exiting)
    fx_put_fd(fd, e->obj);
  unlock();
  errno = saved;
}

/* drm_copy_field(): copy at most *len bytes, no NUL, and always report the
 * full length so that callers can size their buffers. */
static void copy_field(char *ubuf, __kernel_size_t *ulen, const char *value) {
  size_t full = strlen(value);
  size_t n = full < *ulen ? full : *ulen;
  if (n && ubuf)
    memcpy(ubuf, value, n);
  *ulen = full;
}

static int drm_version_ioctl(const struct dfile *f, struct drm_version *v) {
  const char *name = f->dev->driver, *desc = name;
  int major = 1, minor = 0;
  if (strcmp(name, "xe") == 0) {
    minor = 1;
    desc = "Intel Xe2 Graphics";
  } else if (strcmp(name, "i915") == 0) {
    minor = 6;
    desc = "Intel Graphics";
  }
  v->version_major = major;
  v->version_minor = minor;
  v->version_patchlevel = 0;
  copy_field(v->name, &v->name_len, name);
  copy_field(v->date, &v->date_len, "0"); /* drivers lost their date in 6.14 */
  copy_field(v->desc, &v->desc_len, desc);
  return 0;
}

static int watch_ioctl(struct dfile *f, const struct drm_xe_watch_queue *a) {
  if (a->flags || a->pad || a->watch_id > DRM_XE_WATCH_ID_MAX)
    return -EINVAL;
  struct npipe *np = NULL;
  struct fd_ent *e = a->fd <= INT_MAX ? fd_get((int)a->fd) : NULL;
  if (e && (e->kind == FD_NP_READ || e->kind == FD_NP_WRITE)) {
    np = e->obj;
  } else {
    /* get_watch_queue(): anything but a notification pipe is EINVAL, a
     * plain pipe, another file and a closed fd alike. */
    return -EINVAL;
  }
  for (struct watch *w = f->watches; w; w = w->file_next)
    if (w->pipe == np)
      return -EBUSY;
  struct watch *w = calloc(1, sizeof(*w));
  if (w == NULL)
    return -ENOMEM;
  w->file = f;
  w->pipe = np;
  w->id = a->watch_id;
  w->file_next = f->watches;
  f->watches = w;
  w->pipe_next = np->watches;
  np->watches = w;
  dbg("watch %u: %s -> pipe fd %u", w->id, f->dev->path, a->fd);
  return 0;
}

/* drm_ioctl(): unplugged first, then the 'd' type, then the table by nr;
 * the argument is copied in and out by the sizes the command encodes. */
static int drm_ioctl(struct dfile *f, unsigned int cmd, void *arg) {
  if (dfile_unplugged(f))
    return -ENODEV;
  if (_IOC_TYPE(cmd) != DRM_IOCTL_BASE)
    return -ENOTTY;
  unsigned int nr = _IOC_NR(cmd);
  bool is_version = nr == _IOC_NR(DRM_IOCTL_VERSION);
  bool xe = f->dev->state != DEV_EINVAL && strcmp(f->dev->driver, "xe") == 0;
  /* Without uapi= in the table: the number the plugin is built to use. */
#ifdef XW_SYSTEM_WATCH_IOCTL
  unsigned int def_nr = _IOC_NR(XW_SYSTEM_WATCH_IOCTL);
#else
  unsigned int def_nr = _IOC_NR(DRM_IOCTL_XE_WATCH_QUEUE);
#endif
  unsigned int watch_nr =
      f->dev->uapi == 2   ? DRM_COMMAND_BASE + XW_UAPI_V2_WATCH_QUEUE
      : f->dev->uapi == 1 ? DRM_COMMAND_BASE + XW_UAPI_V1_WATCH_QUEUE
                          : def_nr;
  bool is_watch = nr == watch_nr && xe;
  /* uapi=2: 0x0f is drm-next's VM_GET_PROPERTY and 0x10 v2's VM_RESTART;
   * to the watch ioctl's 16 bytes they answer as for a VM id that does not
   * exist (the fd number read as a vm_id). */
  if (xe && f->dev->uapi == 2 &&
      (nr == DRM_COMMAND_BASE + 0x0f || nr == DRM_COMMAND_BASE + 0x10))
    return -ENOENT;
  if (!is_version && !is_watch)
    return -EINVAL; /* no such ioctl in this driver */

  union {
    struct drm_version v;
    struct drm_xe_watch_queue w;
    uint8_t raw[256];
  } k;
  size_t in = (cmd & IOC_IN) ? _IOC_SIZE(cmd) : 0;
  size_t out = (cmd & IOC_OUT) ? _IOC_SIZE(cmd) : 0;
  if (in > sizeof(k))
    in = sizeof(k);
  if (out > sizeof(k))
    out = sizeof(k);
  if ((in || out) && arg == NULL)
    return -EFAULT;
  memset(&k, 0, sizeof(k));
  if (in)
    memcpy(&k, arg, in);
  int r = is_version ? drm_version_ioctl(f, &k.v) : watch_ioctl(f, &k.w);
  if (r == 0 && out)
    memcpy(arg, &k, out);
  return r;
}

/* ---- notification pipe ioctls and reads -------------------------------- */

static int np_set_size(struct npipe *np, unsigned int nr_notes) {
  if (np->sized)
    return -EBUSY;
  if (nr_notes < 1 || nr_notes > WATCH_QUEUE_MAX_NOTES)
    return -EINVAL;
  unsigned int pages = (nr_notes + NOTES_PER_PAGE - 1) / NOTES_PER_PAGE;
  /* Over pipe-user-pages-soft the pipe was made with PIPE_MIN_DEF_BUFFERS
   * pages, and only growing past that is refused. */
  if (cfg.pages_soft && pages > PIPE_MIN_DEF_BUFFERS)
    return -EPERM;
  struct slot *ring = calloc(pages * NOTES_PER_PAGE, sizeof(*ring));
  if (ring == NULL)
    return -ENOMEM;
  np->ring = ring;
  np->cap = pages * NOTES_PER_PAGE;
  np->sized = true;
  dbg("notification pipe sized to %u notes", np->cap);
  return 0;
}

static int np_set_filter(struct npipe *np,
                         const struct watch_notification_filter *uf) {
  if (uf == NULL) { /* removes the filter */
    np->has_filter = false;
    np->nfilters = 0;
    return 0;
  }
  if (uf->nr_filters == 0 || uf->nr_filters > WATCH_QUEUE_MAX_FILTERS ||
      uf->__reserved != 0)
    return -EINVAL;
  struct filter kept[WATCH_QUEUE_MAX_FILTERS] = {{0}};
  unsigned int n = 0;
  for (unsigned int i = 0; i < uf->nr_filters; i++) {
    const struct watch_notification_type_filter *tf = &uf->filters[i];
    if ((tf->info_filter & ~tf->info_mask) ||
        (tf->info_mask & WATCH_INFO_LENGTH))
      return -EINVAL;
    /* Types the kernel does not know are dropped without a word. */
    if (tf->type > WATCH_TYPE_DRM_XE_NOTIFY)
      continue;
    kept[n].type = tf->type;
    kept[n].info_filter = tf->info_filter;
    kept[n].info_mask = tf->info_mask;
    kept[n].subtype_filter0 = tf->subtype_filter[0];
    n++;
  }
  memcpy(np->filters, kept, n * sizeof(kept[0]));
  np->nfilters = n;
  np->has_filter = true;
  return 0;
}

static unsigned int np_bytes(const struct npipe *np) {
  unsigned int b = 0;
  for (unsigned int i = 0; i < np->count; i++)
    b += np->ring[(np->head + i) % np->cap].len;
  return b;
}

/* pipe_read() for a notification pipe, entered and left with the lock held.
 * Whole records only; the loss record goes out at the top of the loop, i.e.
 * after its flagged record only if more records follow in the same call,
 * else on the next read(). */
static ssize_t np_read(int fd, struct npipe *np, uint8_t *buf, size_t count) {
  if (count == 0)
    return 0;
  size_t ret = 0;
  unsigned int nrec = 0;
  int err = 0;
  for (;;) {
    if (np->note_loss) {
      if (count - ret < sizeof(struct watch_notification)) {
        if (ret == 0)
          err = ENOBUFS;
        break;
      }
      struct watch_notification n = {
          .type = WATCH_TYPE_META,
          .subtype = WATCH_META_LOSS_NOTIFICATION,
          .info = (uint32_t)sizeof(n),
      };
      memcpy(buf + ret, &n, sizeof(n));
      ret += sizeof(n);
      nrec++;
      np->note_loss = false;
    }
    if (np->count > 0) {
      struct slot *s = &np->ring[np->head];
      if (s->len > count - ret) {
        if (ret == 0)
          err = ENOBUFS;
        break;
      }
      memcpy(buf + ret, s->data, s->len);
      ret += s->len;
      nrec++;
      if (s->loss)
        np->note_loss = true;
      np->head = (np->head + 1) % np->cap;
      np->count--;
      if (ret == count)
        break;
      if (np->count > 0)
        continue;
    }
    if (np->wrefs == 0 || ret > 0)
      break; /* EOF, or what we have */
    int fl = real.fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK)) {
      err = EAGAIN;
      break;
    }
    /* Block on the real fd (a token arrives with the next record) without
     * holding the lock; the fd may be closed meanwhile. */
    np_sync_tokens(np);
    unlock();
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int pr = poll(&p, 1, -1);
    int perr = errno;
    lock();
    struct fd_ent *e = fd_get(fd);
    if (e == NULL || e->kind != FD_NP_READ || e->obj != np) {
      err = EBADF;
      np = NULL;
      break;
    }
    if (pr < 0) {
      err = perr;
      break;
    }
    if (!(p.revents & POLLIN) && np->count == 0 && !np->note_loss)
      break; /* the real pipe lost its writers behind our back: EOF */
  }
  if (np)
    np_sync_tokens(np);
  if (ret > 0) {
    stats.reads++;
    stats.records_read += nrec;
    return (ssize_t)ret;
  }
  if (err) {
    errno = err;
    return -1;
  }
  return 0;
}

/* ---- interposed entry points ------------------------------------------- */

static int open_mode(int flags, va_list ap) {
  return __OPEN_NEEDS_MODE(flags) ? va_arg(ap, int) : 0;
}

XF_EXPORT int open(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  int mode = open_mode(flags, ap);
  va_end(ap);
  need_real();
  int r = fake_open(AT_FDCWD, path, flags);
  return r != NOT_OURS ? r : real.open(path, flags, mode);
}

XF_EXPORT int open64(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  int mode = open_mode(flags, ap);
  va_end(ap);
  need_real();
  int r = fake_open(AT_FDCWD, path, flags);
  return r != NOT_OURS ? r : real.open64(path, flags, mode);
}

XF_EXPORT int openat(int dirfd, const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  int mode = open_mode(flags, ap);
  va_end(ap);
  need_real();
  int r = fake_open(dirfd, path, flags);
  return r != NOT_OURS ? r : real.openat(dirfd, path, flags, mode);
}

XF_EXPORT int openat64(int dirfd, const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  int mode = open_mode(flags, ap);
  va_end(ap);
  need_real();
  int r = fake_open(dirfd, path, flags);
  return r != NOT_OURS ? r : real.openat64(dirfd, path, flags, mode);
}

/* The _FORTIFY_SOURCE entry points: glibc's check, then the plain path
 * (which for a real file ends in the same system call). */
static int fortify_open(int dirfd, const char *path, int flags, bool at64) {
  need_real();
  if (__OPEN_NEEDS_MODE(flags)) {
    say("invalid open call: O_CREAT or O_TMPFILE without mode");
    abort();
  }
  int r = fake_open(dirfd, path, flags);
  if (r != NOT_OURS)
    return r;
  return at64 ? real.openat64(dirfd, path, flags)
              : real.openat(dirfd, path, flags);
}

XF_EXPORT int __open_2(const char *path, int flags) {
  return fortify_open(AT_FDCWD, path, flags, false);
}

XF_EXPORT int __open64_2(const char *path, int flags) {
  return fortify_open(AT_FDCWD, path, flags, true);
}

XF_EXPORT int __openat_2(int dirfd, const char *path, int flags) {
  return fortify_open(dirfd, path, flags, false);
}

XF_EXPORT int __openat64_2(int dirfd, const char *path, int flags) {
  return fortify_open(dirfd, path, flags, true);
}

XF_EXPORT int close(int fd) {
  need_real();
  lock();
  if (fd_get(fd) == NULL) {
    unlock();
    return real.close(fd);
  }
  /* Close and forget under the lock, so the number cannot be reused and
   * tracked by another thread in between. */
  int saved = errno;
  int r = real.close(fd);
  int e = errno;
  fd_drop(fd);
  unlock();
  errno = r < 0 ? e : saved;
  return r;
}

XF_EXPORT int close_range(unsigned int first, unsigned int last, int flags) {
  need_real();
  if (real.close_range == NULL) {
    errno = ENOSYS;
    return -1;
  }
  lock();
  int r = real.close_range(first, last, flags);
  int saved = errno;
  if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC))
    for (long fd = first; fd <= (long)last && fd < fdtab_len; fd++)
      fd_drop((int)fd);
  unlock();
  errno = saved;
  return r;
}

XF_EXPORT void closefrom(int lowfd) {
  need_real();
  if (real.closefrom == NULL)
    return;
  lock();
  int saved = errno;
  real.closefrom(lowfd);
  for (int fd = lowfd < 0 ? 0 : lowfd; fd < fdtab_len; fd++)
    fd_drop(fd);
  errno = saved;
  unlock();
}

static ssize_t xf_read(int fd, void *buf, size_t count) {
  need_real();
  lock();
  struct fd_ent *e = fd_get(fd);
  if (e == NULL || e->kind == FD_NP_WRITE) { /* write end: EBADF, real */
    unlock();
    return real.read(fd, buf, count);
  }
  if (e->kind == FD_DRM) {
    const struct dfile *f = e->obj;
    bool wronly = f->accmode == O_WRONLY;
    unlock();
    if (wronly) {
      errno = EBADF;
      return -1;
    }
    if (count == 0)
      return 0;
    /* drm_read() with no events: EAGAIN if non-blocking, else wait for
     * events that never come (a handled signal ends it with EINTR). */
    int fl = real.fcntl(fd, F_GETFL);
    if (fl < 0)
      return -1;
    if (!(fl & O_NONBLOCK))
      ppoll(NULL, 0, NULL, NULL);
    errno = (fl & O_NONBLOCK) ? EAGAIN : EINTR;
    return -1;
  }
  /* "pause_reads on": the reader is off the CPU just before read(), so
   * records pile up in the ring (tests of what a full ring loses). */
  while (reads_paused) {
    unlock();
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
    lock();
    e = fd_get(fd);
    if (e == NULL || e->kind != FD_NP_READ) {
      unlock();
      errno = EBADF;
      return -1;
    }
  }
  int saved = errno;
  ssize_t r = np_read(fd, e->obj, buf, count);
  int err = errno;
  unlock();
  errno = r < 0 ? err : saved;
  return r;
}

XF_EXPORT ssize_t read(int fd, void *buf, size_t count) {
  return xf_read(fd, buf, count);
}

XF_EXPORT ssize_t __read_chk(int fd, void *buf, size_t nbytes, size_t buflen) {
  if (nbytes > buflen)
    __chk_fail();
  return xf_read(fd, buf, nbytes);
}

XF_EXPORT ssize_t write(int fd, const void *buf, size_t count) {
  need_real();
  lock();
  struct fd_ent *e = fd_get(fd);
  if (e == NULL || e->kind == FD_NP_READ) { /* read end: EBADF, real */
    unlock();
    return real.write(fd, buf, count);
  }
  int err;
  bool sigpipe = false;
  if (e->kind == FD_DRM) {
    /* No .write in DRM's file operations. */
    err = ((struct dfile *)e->obj)->accmode == O_RDONLY ? EBADF : EINVAL;
  } else if (count == 0) {
    unlock();
    return 0; /* pipe_write(): a null write succeeds */
  } else if (((struct npipe *)e->obj)->rrefs == 0) {
    err = EPIPE;
    sigpipe = true;
  } else {
    err = EXDEV; /* pipe_has_watch_queue() */
  }
  unlock();
  if (sigpipe)
    raise(SIGPIPE);
  errno = err;
  return -1;
}

XF_EXPORT int ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  need_real();
  unsigned int cmd = (unsigned int)request;
  /* Generic VFS ioctls act on the real file (O_NONBLOCK, FD_CLOEXEC). */
  if (cmd == FIOCLEX || cmd == FIONCLEX || cmd == FIONBIO || cmd == FIOASYNC) {
    int r = real.ioctl(fd, request, arg);
    if (r == 0)
      fx_refresh(fd);
    return r;
  }

  int saved = errno;
  lock();
  struct fd_ent *e = fd_get(fd);
  int r;
  if (e == NULL) {
    unlock();
    if (cfg.emulate_wq && (cmd == IOC_WATCH_QUEUE_SET_SIZE ||
                           cmd == IOC_WATCH_QUEUE_SET_FILTER)) {
      /* A plain pipe has no watch queue: ENODEV (not ENOTTY, as a kernel
       * without CONFIG_WATCH_QUEUE would say). */
      struct stat st;
      if (real.fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
        errno = ENODEV;
        return -1;
      }
      errno = saved;
    }
    return real.ioctl(fd, request, arg);
  }
  if (e->kind == FD_DRM) {
    r = drm_ioctl(e->obj, cmd, arg);
  } else {
    struct npipe *np = e->obj;
    switch (cmd) {
    case FIONREAD:
      if (arg == NULL) {
        r = -EFAULT;
      } else {
        int bytes = (int)np_bytes(np);
        memcpy(arg, &bytes, sizeof(bytes));
        r = 0;
      }
      break;
    case IOC_WATCH_QUEUE_SET_SIZE:
      r = np_set_size(np, (unsigned int)(uintptr_t)arg);
      break;
    case IOC_WATCH_QUEUE_SET_FILTER:
      r = np_set_filter(np, arg);
      break;
    default:
      unlock();
      return real.ioctl(fd, request, arg); /* ENOTTY from the real pipe */
    }
  }
  unlock();
  if (r < 0) {
    errno = -r;
    return -1;
  }
  errno = saved;
  return r;
}

XF_EXPORT int pipe2(int fds[2], int flags) {
  need_real();
  if (!(flags & O_NOTIFICATION_PIPE) || !cfg.emulate_wq)
    return real.pipe2(fds, flags); /* ENOPKG here, as the kernel says */
  if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT | O_NOTIFICATION_PIPE)) {
    errno = EINVAL;
    return -1;
  }
  int saved = errno;
  int pfd[2];
  if (real.pipe2(pfd, flags & ~O_NOTIFICATION_PIPE) < 0)
    return -1;
  struct npipe *np = calloc(1, sizeof(*np));
  lock();
  /* Reserve first: then neither attach can fail half-way. */
  bool ok = np != NULL && fd_reserve(pfd[0] > pfd[1] ? pfd[0] : pfd[1]);
  if (ok) {
    np->owner = getpid();
    np->rfd = np->wfd = -1;
    np->packet = (flags & O_DIRECT) != 0;
    fd_attach(pfd[0], FD_NP_READ, np);
    fd_attach(pfd[1], FD_NP_WRITE, np);
  }
  unlock();
  if (!ok) {
    free(np);
    real.close(pfd[0]);
    real.close(pfd[1]);
    errno = ENOMEM;
    return -1;
  }
  dbg("notification pipe %d/%d", pfd[0], pfd[1]);
  fds[0] = pfd[0];
  fds[1] = pfd[1];
  ctl_claim();
  errno = saved;
  return 0;
}

/* dup2/dup3/F_DUPFD: the new fd shares the open file, like the kernel's. */
static void dup_track(int oldfd, int newfd) {
  struct fd_ent *e = fd_get(oldfd);
  if (e == NULL) {
    fd_drop(newfd); /* whatever it was, it is not ours any more */
    return;
  }
  struct fd_ent copy = *e;
  if (!fd_attach(newfd, copy.kind, copy.obj))
    say("out of memory tracking fd %d", newfd);
}

XF_EXPORT int dup(int oldfd) {
  need_real();
  lock();
  int saved = errno;
  int r = real.dup(oldfd);
  int e = errno;
  if (r >= 0)
    dup_track(oldfd, r);
  unlock();
  errno = r < 0 ? e : saved;
  return r;
}

XF_EXPORT int dup2(int oldfd, int newfd) {
  need_real();
  lock();
  int saved = errno;
  int r = real.dup2(oldfd, newfd);
  int e = errno;
  if (r >= 0 && oldfd != newfd)
    dup_track(oldfd, r);
  unlock();
  errno = r < 0 ? e : saved;
  return r;
}

XF_EXPORT int dup3(int oldfd, int newfd, int flags) {
  need_real();
  lock();
  int saved = errno;
  int r = real.dup3(oldfd, newfd, flags);
  int e = errno;
  if (r >= 0)
    dup_track(oldfd, r);
  unlock();
  errno = r < 0 ? e : saved;
  return r;
}

/* glibc itself fetches fcntl's optional argument as one pointer-sized
 * value, whatever cmd is; passing it on unchanged is what libc does. */
static int do_fcntl(fcntl_fn fn, int fd, int cmd, void *arg) {
  if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) {
    lock();
    int saved = errno;
    int r = fn(fd, cmd, arg);
    int e = errno;
    if (r >= 0)
      dup_track(fd, r);
    unlock();
    errno = r < 0 ? e : saved;
    return r;
  }
  if (cmd == F_SETFD || cmd == F_SETFL) {
    int r = fn(fd, cmd, arg);
    if (r == 0)
      fx_refresh(fd);
    return r;
  }
  if (cmd == F_SETPIPE_SZ) {
    lock();
    struct fd_ent *e = fd_get(fd);
    bool np = e && (e->kind == FD_NP_READ || e->kind == FD_NP_WRITE);
    unlock();
    if (np) { /* pipe_set_size(): a watch queue's ring is fixed */
      errno = EBUSY;
      return -1;
    }
  }
  return fn(fd, cmd, arg);
}

XF_EXPORT int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  need_real();
  return do_fcntl(real.fcntl, fd, cmd, arg);
}

XF_EXPORT int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  need_real();
  return do_fcntl(real.fcntl64, fd, cmd, arg);
}

/* ---- DRM files of other processes (pidfd_getfd) ---------------------------
 */

/* fd was just duplicated from the process behind pidfd. If it is a DRM
 * file of a faked process, track it: the same file if we know its client
 * id already (our own, or taken before), else a new remote file that
 * lives as long as some process holds it. */
static void remote_adopt(int fd, int pidfd) {
  static const char prefix[] = "/memfd:xe-fake-drm:";
  char link[64], target[sizeof(prefix) + 16];
  int saved = errno;
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof(target) - 1);
  struct stat st;
  struct shm_file *s = NULL;
  if (n < (ssize_t)sizeof(prefix) - 1 ||
      memcmp(target, prefix, sizeof(prefix) - 1) != 0 ||
      real.fstat(fd, &st) != 0 || st.st_size < SHM_SIZE ||
      (s = shm_map(fd)) == NULL ||
      __atomic_load_n(&s->magic, __ATOMIC_SEQ_CST) != SHM_MAGIC) {
    if (s)
      munmap(s, SHM_SIZE);
    errno = saved;
    return;
  }
  bool is_remote = false;
  lock();
  struct dfile *f = dfile_by_id(s->client_id);
  if (f) { /* one file: a duplicate of what we have */
    munmap(s, SHM_SIZE);
    if (!fd_attach(fd, FD_DRM, f))
      say("out of memory tracking fd %d", fd);
    unlock();
    errno = saved;
    return;
  }
  struct device *d = remote_count < MAX_REMOTE ? dev_for_remote(s) : NULL;
  f = d ? calloc(1, sizeof(*f)) : NULL;
  if (f == NULL) {
    say("cannot track remote DRM file %llu (%s)",
        (unsigned long long)s->client_id,
        remote_count < MAX_REMOTE ? "out of memory" : "too many");
    munmap(s, SHM_SIZE);
  } else {
    f->dev = d;
    f->gen = d->gen;
    f->fflags = s->fflags;
    f->accmode = s->fflags & O_ACCMODE;
    f->client_id = s->client_id;
    f->shm = s;
    f->slot = -1;
    f->child_slot = -1;
    f->remote = true;
    /* Our own reference to that process: the caller may close its pidfd
     * at once. Readable when it exits. */
    f->pidfd = fd_move_high(real.fcntl(pidfd, F_DUPFD_CLOEXEC, 0));
    if (fd_attach(fd, FD_DRM, f)) {
      f->next = d->files;
      d->files = f;
      remote_count++;
      is_remote = true;
      dbg("fd %d: remote DRM file %llu on %s", fd,
          (unsigned long long)f->client_id, d->path);
    } else {
      if (f->pidfd >= 0)
        real.close(f->pidfd);
      munmap(s, SHM_SIZE);
      free(f);
    }
  }
  unlock();
  if (is_remote)
    ctl_claim_for(true); /* its owner's exit must be seen */
  errno = saved;
}

static int real_pidfd_getfd(int pidfd, int targetfd, unsigned int flags) {
  if (real.pidfd_getfd)
    return real.pidfd_getfd(pidfd, targetfd, flags);
  return (int)real.syscall(SYS_pidfd_getfd, pidfd, targetfd, flags);
}

/* targetfd, or the one "swap_getfd" put in its place (once). */
static int getfd_target(int targetfd) {
  lock();
  if (swap_getfd_to >= 0 &&
      (swap_getfd_for < 0 || swap_getfd_for == targetfd)) {
    dbg("pidfd_getfd: fd %d swapped for %d", targetfd, swap_getfd_to);
    targetfd = swap_getfd_to;
    swap_getfd_to = swap_getfd_for = -1;
  }
  unlock();
  return targetfd;
}

XF_EXPORT int pidfd_getfd(int pidfd, int targetfd, unsigned int flags) {
  need_real();
  targetfd = getfd_target(targetfd);
  int fd = real_pidfd_getfd(pidfd, targetfd, flags);
  if (fd >= 0)
    remote_adopt(fd, pidfd);
  return fd;
}

/* syscall(SYS_pidfd_getfd, ...) too. Like glibc's own syscall(), this
 * passes six argument words on, whatever the caller gave: the words past
 * the caller's arguments are read from its registers' save area or its
 * stack frame (always mapped), never used by the kernel. Sanitizers
 * would call that a stack underflow, hence no instrumentation here. */
__attribute__((no_sanitize_address)) XF_EXPORT long syscall(long number, ...) {
  va_list ap;
  va_start(ap, number);
  long a[6];
  for (int i = 0; i < 6; i++)
    a[i] = va_arg(ap, long);
  va_end(ap);
  need_real();
  if (number == SYS_pidfd_getfd)
    a[1] = getfd_target((int)a[1]);
  long r = real.syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
  if (number == SYS_pidfd_getfd && r >= 0)
    remote_adopt((int)r, (int)a[0]);
  return r;
}

/* ---- stat of a DRM fd: the char device it stands for -----------------------
 */

/* st of the node of DRM fd; false if fd is not one of our DRM files. */
#define FILL_DRM_STAT(st, d)                                                   \
  do {                                                                         \
    memset((st), 0, sizeof(*(st)));                                            \
    (st)->st_dev = devfs.dev;                                                  \
    (st)->st_ino = node_ino((d)->path);                                        \
    (st)->st_mode = S_IFCHR | 0666;                                            \
    (st)->st_nlink = 1;                                                        \
    (st)->st_rdev = makedev(DRM_MAJOR, node_minor((d)->path));                 \
    (st)->st_blksize = 4096;                                                   \
  } while (0)

static const struct device *drm_dev_of(int fd) {
  const struct device *d = NULL;
  lock();
  struct fd_ent *e = fd_get(fd);
  if (e && e->kind == FD_DRM) {
    d = ((const struct dfile *)e->obj)->dev;
    devfs_probe();
  }
  unlock();
  return d; /* devices are never freed */
}

static bool drm_stat(int fd, struct stat *st) {
  const struct device *d = drm_dev_of(fd);
  if (d)
    FILL_DRM_STAT(st, d);
  return d != NULL;
}

static bool drm_stat64(int fd, struct stat64 *st) {
  const struct device *d = drm_dev_of(fd);
  if (d)
    FILL_DRM_STAT(st, d);
  return d != NULL;
}

static bool empty_path(const char *path, int flags) {
  return (flags & AT_EMPTY_PATH) && path && path[0] == '\0';
}

XF_EXPORT int fstat(int fd, struct stat *st) {
  need_real();
  return drm_stat(fd, st) ? 0 : real.fstat(fd, st);
}

XF_EXPORT int fstat64(int fd, struct stat64 *st) {
  need_real();
  return drm_stat64(fd, st) ? 0 : real.fstat64(fd, st);
}

XF_EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags) {
  need_real();
  if (empty_path(path, flags) && drm_stat(dirfd, st))
    return 0;
  return real.fstatat(dirfd, path, st, flags);
}

XF_EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st,
                        int flags) {
  need_real();
  if (empty_path(path, flags) && drm_stat64(dirfd, st))
    return 0;
  return real.fstatat64(dirfd, path, st, flags);
}

/* Binaries built against glibc < 2.33 call these (_STAT_VER is 1 on
 * x86-64, 0 elsewhere: ver is passed on, not checked). */
XF_EXPORT int __fxstat(int ver, int fd, struct stat *st) {
  need_real();
  if (drm_stat(fd, st))
    return 0;
  return real.fxstat ? real.fxstat(ver, fd, st) : real.fstat(fd, st);
}

XF_EXPORT int __fxstat64(int ver, int fd, struct stat64 *st) {
  need_real();
  if (drm_stat64(fd, st))
    return 0;
  return real.fxstat64 ? real.fxstat64(ver, fd, st) : real.fstat64(fd, st);
}

XF_EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st,
                         int flags) {
  need_real();
  if (empty_path(path, flags) && drm_stat(dirfd, st))
    return 0;
  return real.fxstatat ? real.fxstatat(ver, dirfd, path, st, flags)
                       : real.fstatat(dirfd, path, st, flags);
}

XF_EXPORT int __fxstatat64(int ver, int dirfd, const char *path,
                           struct stat64 *st, int flags) {
  need_real();
  if (empty_path(path, flags) && drm_stat64(dirfd, st))
    return 0;
  return real.fxstatat64 ? real.fxstatat64(ver, dirfd, path, st, flags)
                         : real.fstatat64(dirfd, path, st, flags);
}

XF_EXPORT int statx(int dirfd, const char *path, int flags, unsigned int mask,
                    struct statx *stx) {
  need_real();
  struct stat st;
  if (empty_path(path, flags) && drm_stat(dirfd, &st)) {
    memset(stx, 0, sizeof(*stx));
    stx->stx_mask = STATX_BASIC_STATS & ~(unsigned int)STATX_BLOCKS;
    stx->stx_blksize = (uint32_t)st.st_blksize;
    stx->stx_nlink = (uint32_t)st.st_nlink;
    stx->stx_mode = (uint16_t)st.st_mode;
    stx->stx_ino = st.st_ino;
    stx->stx_rdev_major = major(st.st_rdev);
    stx->stx_rdev_minor = minor(st.st_rdev);
    stx->stx_dev_major = major(st.st_dev);
    stx->stx_dev_minor = minor(st.st_dev);
    return 0;
  }
  if (real.statx == NULL) {
    errno = ENOSYS;
    return -1;
  }
  return real.statx(dirfd, path, flags, mask, stx);
}

/* ---- fork ---------------------------------------------------------------- */

/* fork() itself runs our atfork handlers; here the parent learns the
 * child's pid, for the holder slots reserved in atfork_prepare. */
XF_EXPORT pid_t fork(void) {
  need_real();
  pid_t pid = real.fork();
  if (pid != 0) {
    int saved = errno;
    fork_settle(pid);
    errno = saved;
  }
  return pid;
}
