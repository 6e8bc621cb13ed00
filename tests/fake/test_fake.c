/* SPDX-License-Identifier: MIT */
/*
 * test_fake.c - proves that libxefake.so behaves like the kernel it stands
 * in for (DESIGN.md §1-2), using only libc calls and libdrm's drmGetVersion.
 *
 * Run it plainly: it writes its own device table into a temporary
 * directory and re-executes itself with the fake preloaded (keeping an
 * ASan runtime first when there is one). The fake is found as the library
 * this process already runs under, else $XE_FAKE_LIB, else libxefake.so
 * next to this binary (or in its .libs/, where libtool builds it). Every test
 * runs in its own forked child (Check's default), which also exercises the
 * fake's fork handling.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <xf86drm.h>

#include "xe_watch_uapi.h"

/* glibc's fortify entry points, called directly to prove they are faked. */
int __open_2(const char *path, int flags);
ssize_t __read_chk(int fd, void *buf, size_t nbytes, size_t buflen);

#define NODE_XE "/dev/dri/renderD128"

static char dir[PATH_MAX];
static char node_einval[PATH_MAX], node_i915[PATH_MAX], node_absent[PATH_MAX],
    node_xe2[PATH_MAX], node_card[PATH_MAX], node_nonum[PATH_MAX];
static char procroot[PATH_MAX]; /* XE_FAKE_PROCROOT */
static const char *fake_lib;
static char self_exe[PATH_MAX];  /* this binary, to re-execute */
static char xe_client[PATH_MAX]; /* the stand-in workload, next to us */
static char xe_inject[PATH_MAX];

/* ---- helpers ----------------------------------------------------------- */

static void set_paths(const char *d) {
  snprintf(dir, sizeof(dir), "%s", d);
  snprintf(node_einval, sizeof(node_einval), "%s/renderD129", d);
  snprintf(node_i915, sizeof(node_i915), "%s/renderD130", d);
  snprintf(node_absent, sizeof(node_absent), "%s/renderD131", d);
  snprintf(node_xe2, sizeof(node_xe2), "%s/renderD132", d);
  snprintf(node_card, sizeof(node_card), "%s/card0", d);
  snprintf(node_nonum, sizeof(node_nonum), "%s/xe-gpu", d);
  snprintf(procroot, sizeof(procroot), "%s/proc", d);
}

static int open_node(const char *node) {
  int fd = open(node, O_RDWR | O_CLOEXEC);
  ck_assert_msg(fd >= 0, "open %s: %s", node, strerror(errno));
  return fd;
}

/* A non-blocking notification pipe, sized to nr_notes unless 0. */
static void make_np(int fds[2], unsigned int nr_notes) {
  ck_assert_int_eq(pipe2(fds, O_NOTIFICATION_PIPE | O_CLOEXEC | O_NONBLOCK), 0);
  if (nr_notes)
    ck_assert_int_eq(ioctl(fds[0], IOC_WATCH_QUEUE_SET_SIZE, nr_notes), 0);
}

/* ioctl result as 0 or the errno it failed with. */
static int subscribe(int drm, int pipe_fd, unsigned int id) {
  struct drm_xe_watch_queue a = {.fd = (__u32)pipe_fd, .watch_id = id};
  return ioctl(drm, DRM_IOCTL_XE_WATCH_QUEUE, &a) == 0 ? 0 : errno;
}

static int ctl_connect(void) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  const char *path = getenv("XE_FAKE_CTL");
  ck_assert_ptr_nonnull(path);
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
                "connect %s: %s", path, strerror(errno));
  struct timeval tv = {.tv_sec = 3};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

/* One command on an open connection; the reply line, without newline. */
static const char *ctl_on(int fd, const char *fmt, ...) {
  static char reply[1024];
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
  va_end(ap);
  line[n++] = '\n';
  ck_assert_int_eq(send(fd, line, (size_t)n, MSG_NOSIGNAL), n);
  size_t got = 0;
  for (;;) {
    ssize_t r = recv(fd, reply + got, sizeof(reply) - 1 - got, 0);
    ck_assert_msg(r > 0, "no reply to '%.*s'", n - 1, line);
    got += (size_t)r;
    reply[got] = '\0';
    char *nl = strchr(reply, '\n');
    if (nl) {
      *nl = '\0';
      return reply;
    }
  }
}

static const char *ctl(const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  int fd = ctl_connect();
  const char *r = ctl_on(fd, "%s", line);
  close(fd);
  return r;
}

struct stats {
  unsigned long long posted, queued, lost, reads, records_read, filtered;
};

static struct stats get_stats(void) {
  struct stats s;
  const char *r = ctl("stats");
  ck_assert_int_eq(sscanf(r,
                          "ok posted=%llu queued=%llu lost=%llu reads=%llu "
                          "records_read=%llu filtered=%llu",
                          &s.posted, &s.queued, &s.lost, &s.reads,
                          &s.records_read, &s.filtered),
                   6);
  return s;
}

static struct watch_notification hdr_at(const uint8_t *p) {
  struct watch_notification n;
  memcpy(&n, p, sizeof(n));
  return n;
}

static void assert_vm_err(const uint8_t *p, unsigned int id, uint32_t vm,
                          int32_t code) {
  struct drm_xe_watch_notification_vm_err r;
  memcpy(&r, p, sizeof(r));
  ck_assert_uint_eq(r.base.type, WATCH_TYPE_DRM_XE_NOTIFY);
  ck_assert_uint_eq(r.base.subtype, DRM_XE_WATCH_EVENT_VM_ERR);
  ck_assert_uint_eq(r.base.info, 16u | id << 8);
  ck_assert_uint_eq(r.vm_id, vm);
  ck_assert_int_eq(r.error_code, code);
}

static void assert_meta(const uint8_t *p, unsigned int subtype, uint32_t info) {
  struct watch_notification n = hdr_at(p);
  ck_assert_uint_eq(n.type, WATCH_TYPE_META);
  ck_assert_uint_eq(n.subtype, subtype);
  ck_assert_uint_eq(n.info, info);
}

static void assert_empty(int fd) {
  uint8_t buf[128];
  int avail = -1;
  ck_assert_int_eq(ioctl(fd, FIONREAD, &avail), 0);
  ck_assert_int_eq(avail, 0);
  ck_assert_int_eq(read(fd, buf, sizeof(buf)), -1);
  ck_assert_int_eq(errno, EAGAIN);
}

static bool readable(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Each test child claims the control socket by faking something first. */
static void claim_ctl(void) {
  int fds[2];
  ck_assert_int_eq(pipe2(fds, O_NOTIFICATION_PIPE | O_CLOEXEC), 0);
  close(fds[0]);
  close(fds[1]);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

static void rm_rf(const char *path) {
  nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- DRM files --------------------------------------------------------- */

START_TEST(test_version_libdrm) {
  int fd = open_node(NODE_XE);
  drmVersionPtr v = drmGetVersion(fd);
  ck_assert_ptr_nonnull(v);
  ck_assert_str_eq(v->name, "xe");
  ck_assert_int_eq(v->name_len, 2);
  ck_assert_int_eq(v->version_major, 1);
  ck_assert_int_gt(v->desc_len, 0);
  drmFreeVersion(v);
  close(fd);

  fd = open_node(node_i915);
  v = drmGetVersion(fd);
  ck_assert_ptr_nonnull(v);
  ck_assert_str_eq(v->name, "i915");
  drmFreeVersion(v);
  close(fd);
}
END_TEST

START_TEST(test_version_copy_semantics) {
  int fd = open_node(NODE_XE);
  /* First call with zero lengths: only the lengths come back. */
  struct drm_version v = {0};
  ck_assert_int_eq(ioctl(fd, DRM_IOCTL_VERSION, &v), 0);
  ck_assert_uint_eq(v.name_len, 2);
  ck_assert_uint_gt(v.desc_len, 0);
  ck_assert_uint_gt(v.date_len, 0);
  /* A short buffer: at most its length copied, no NUL, full length told. */
  char name[4] = "ZZZ";
  memset(&v, 0, sizeof(v));
  v.name = name;
  v.name_len = 1;
  errno = EILSEQ;
  ck_assert_int_eq(ioctl(fd, DRM_IOCTL_VERSION, &v), 0);
  ck_assert_int_eq(errno, EILSEQ); /* untouched on success */
  ck_assert_int_eq(name[0], 'x');
  ck_assert_int_eq(name[1], 'Z');
  ck_assert_uint_eq(v.name_len, 2);
  close(fd);
}
END_TEST

START_TEST(test_unknown_ioctls) {
  int fd = open_node(NODE_XE);
  struct drm_get_cap cap = {.capability = DRM_CAP_PRIME};
  ck_assert_int_eq(ioctl(fd, DRM_IOCTL_GET_CAP, &cap), -1);
  ck_assert_int_eq(errno, EINVAL);
  struct drm_xe_watch_queue a = {0};
  ck_assert_int_eq(
      ioctl(fd, DRM_IOW(DRM_COMMAND_BASE + 0x30, struct drm_xe_watch_queue),
            &a),
      -1);
  ck_assert_int_eq(errno, EINVAL);
  struct termios t;
  ck_assert_int_eq(ioctl(fd, TCGETS, &t), -1);
  ck_assert_int_eq(errno, ENOTTY);
  int n;
  ck_assert_int_eq(ioctl(fd, FIONREAD, &n), -1);
  ck_assert_int_eq(errno, ENOTTY);
  /* Generic VFS ioctls still reach the file. */
  int on = 1;
  ck_assert_int_eq(ioctl(fd, FIONBIO, &on), 0);
  ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
  /* No write op on DRM files; read waits for events that never come. */
  ck_assert_int_eq(write(fd, "x", 1), -1);
  ck_assert_int_eq(errno, EINVAL);
  uint8_t buf[64];
  ck_assert_int_eq(read(fd, buf, sizeof(buf)), -1);
  ck_assert_int_eq(errno, EAGAIN);
  close(fd);
  fd = open(NODE_XE, O_RDONLY);
  ck_assert_int_eq(write(fd, "x", 1), -1);
  ck_assert_int_eq(errno, EBADF);
  close(fd);
}
END_TEST

START_TEST(test_open_variants) {
  ck_assert_int_eq(open(node_absent, O_RDWR), -1);
  ck_assert_int_eq(errno, ENOENT);
  ck_assert_int_eq(open64(node_absent, O_RDWR), -1);
  ck_assert_int_eq(errno, ENOENT);
  ck_assert_int_eq(openat(AT_FDCWD, node_absent, O_RDWR), -1);
  ck_assert_int_eq(errno, ENOENT);
  ck_assert_int_eq(__open_2(node_absent, O_RDWR), -1);
  ck_assert_int_eq(errno, ENOENT);

  /* O_CLOEXEC and O_NONBLOCK reach the backing fd. */
  int fd = open(NODE_XE, O_RDWR);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  close(fd);
  fd = open(NODE_XE, O_RDWR | O_CLOEXEC | O_NONBLOCK);
  ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
  close(fd);

  /* Lexically equal spellings and relative opens are the same node. */
  static const char *const spellings[] = {"/dev/dri/./renderD128",
                                          "//dev//dri/renderD128",
                                          "/dev/dri/../dri/renderD128"};
  for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
    fd = open(spellings[i], O_RDWR);
    ck_assert_msg(fd >= 0, "%s not faked", spellings[i]);
    struct drm_version v = {0};
    ck_assert_int_eq(ioctl(fd, DRM_IOCTL_VERSION, &v), 0);
    close(fd);
  }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ck_assert_int_ge(dfd, 0);
  fd = openat(dfd, "renderD132", O_RDWR);
  ck_assert_int_ge(fd, 0);
  drmVersionPtr v = drmGetVersion(fd);
  ck_assert_ptr_nonnull(v);
  drmFreeVersion(v);
  close(fd);
  close(dfd);
  fd = __open_2(NODE_XE, O_RDWR);
  ck_assert_int_ge(fd, 0);
  close(fd);
  ck_assert_int_eq(open(NODE_XE, O_RDONLY | O_DIRECTORY), -1);
  ck_assert_int_eq(errno, ENOTDIR);

  /* errno survives successful faked calls. */
  errno = EILSEQ;
  fd = open(NODE_XE, O_RDWR);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(close(fd), 0);
  ck_assert_int_eq(errno, EILSEQ);
}
END_TEST

START_TEST(test_einval_and_other_drivers) {
  int np[2];
  make_np(np, 32);
  int fd = open_node(node_einval);
  drmVersionPtr v = drmGetVersion(fd);
  ck_assert_ptr_nonnull(v);
  ck_assert_str_eq(v->name, "xe");
  drmFreeVersion(v);
  ck_assert_int_eq(subscribe(fd, np[0], 1), EINVAL);
  close(fd);
  fd = open_node(node_i915);
  ck_assert_int_eq(subscribe(fd, np[0], 1), EINVAL);
  close(fd);
  close(np[0]);
  close(np[1]);
}
END_TEST

/* ---- subscription ------------------------------------------------------ */

START_TEST(test_subscribe_rules) {
  int drm = open_node(NODE_XE);
  int np[2], plain[2];
  make_np(np, 32);
  ck_assert_int_eq(pipe2(plain, O_CLOEXEC), 0);
  struct drm_xe_watch_queue a = {.fd = (__u32)np[0], .watch_id = 1};

  a.flags = 1;
  ck_assert_int_eq(ioctl(drm, DRM_IOCTL_XE_WATCH_QUEUE, &a), -1);
  ck_assert_int_eq(errno, EINVAL);
  a.flags = 0;
  a.pad = 1;
  ck_assert_int_eq(ioctl(drm, DRM_IOCTL_XE_WATCH_QUEUE, &a), -1);
  ck_assert_int_eq(errno, EINVAL);
  a.pad = 0;
  a.watch_id = 256;
  ck_assert_int_eq(ioctl(drm, DRM_IOCTL_XE_WATCH_QUEUE, &a), -1);
  ck_assert_int_eq(errno, EINVAL);

  ck_assert_int_eq(subscribe(drm, drm, 1), EINVAL);      /* not a pipe */
  ck_assert_int_eq(subscribe(drm, 4000, 1), EINVAL);     /* no such fd */
  ck_assert_int_eq(subscribe(drm, plain[0], 1), EINVAL); /* plain pipe */

  ck_assert_int_eq(subscribe(drm, np[0], 255), 0);
  ck_assert_int_eq(subscribe(drm, np[0], 7), EBUSY);
  ck_assert_int_eq(subscribe(drm, np[1], 7), EBUSY); /* same pipe */
  int dupd = dup(drm);
  ck_assert_int_eq(subscribe(dupd, np[0], 7), EBUSY); /* same file */
  int drm2 = open_node(NODE_XE);                      /* another file */
  ck_assert_int_eq(subscribe(drm2, np[0], 3), 0);
  ck_assert_str_eq(ctl("watches %s", NODE_XE), "ok 2");

  close(drm2); /* its watch goes, with a removal record */
  ck_assert_str_eq(ctl("watches %s", NODE_XE), "ok 1");
  uint8_t buf[64];
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 8);
  assert_meta(buf, WATCH_META_REMOVAL_NOTIFICATION, 8u | 3u << 8);
  close(drm);
  close(dupd);
  close(np[0]);
  close(np[1]);
  close(plain[0]);
  close(plain[1]);
  ck_assert_str_eq(ctl("watches %s", NODE_XE), "ok 0");
}
END_TEST

START_TEST(test_set_size) {
  int drm = open_node(NODE_XE);
  int np[2];
  make_np(np, 0);
  ck_assert_int_eq(ioctl(np[0], IOC_WATCH_QUEUE_SET_SIZE, 0), -1);
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_int_eq(ioctl(np[0], IOC_WATCH_QUEUE_SET_SIZE, 513), -1);
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_int_eq(ioctl(np[0], IOC_WATCH_QUEUE_SET_SIZE, 1), 0);
  ck_assert_int_eq(ioctl(np[0], IOC_WATCH_QUEUE_SET_SIZE, 1), -1);
  ck_assert_int_eq(errno, EBUSY);
  ck_assert_int_eq(ioctl(np[1], IOC_WATCH_QUEUE_SET_SIZE, 0), -1);
  ck_assert_int_eq(errno, EBUSY); /* EBUSY is checked before the range */
  /* 1 note rounds up to a 32-note page. */
  ck_assert_int_eq(subscribe(drm, np[0], 1), 0);
  ck_assert_str_eq(ctl("vm_err %s 1 -12 40", NODE_XE), "ok 32 8");
  close(np[0]);
  close(np[1]);

  /* 33 notes: two pages; sized through the write end. */
  make_np(np, 0);
  ck_assert_int_eq(ioctl(np[1], IOC_WATCH_QUEUE_SET_SIZE, 33), 0);
  ck_assert_int_eq(subscribe(drm, np[0], 1), 0);
  ck_assert_str_eq(ctl("vm_err %s 1 -12 70", NODE_XE), "ok 64 6");
  close(np[0]);
  close(np[1]);

  /* Unsized: every post is lost, and no loss record can be flagged. */
  make_np(np, 0);
  ck_assert_int_eq(subscribe(drm, np[0], 1), 0);
  ck_assert_str_eq(ctl("vm_err %s 1 -12 3", NODE_XE), "ok 0 3");
  assert_empty(np[0]);
  close(np[0]);
  close(np[1]);

  /* A plain pipe has no watch queue. */
  ck_assert_int_eq(pipe2(np, O_CLOEXEC), 0);
  ck_assert_int_eq(ioctl(np[0], IOC_WATCH_QUEUE_SET_SIZE, 32), -1);
  ck_assert_int_eq(errno, ENODEV);
  close(np[0]);
  close(np[1]);
  close(drm);
}
END_TEST

static struct watch_notification_filter *new_filter(unsigned int n) {
  struct watch_notification_filter *f =
      calloc(1, sizeof(*f) + n * sizeof(f->filters[0]));
  ck_assert_ptr_nonnull(f);
  f->nr_filters = n;
  for (unsigned int i = 0; i < n; i++) {
    f->filters[i].type = WATCH_TYPE_DRM_XE_NOTIFY;
    f->filters[i].subtype_filter[0] = ~0u;
  }
  return f;
}

static int set_filter(int fd, struct watch_notification_filter *f) {
  return ioctl(fd, IOC_WATCH_QUEUE_SET_FILTER, f) == 0 ? 0 : errno;
}

START_TEST(test_filter_validation) {
  int np[2];
  make_np(np, 32);
  struct watch_notification_filter *f = new_filter(17);
  f->nr_filters = 0;
  ck_assert_int_eq(set_filter(np[0], f), EINVAL);
  f->nr_filters = 17;
  ck_assert_int_eq(set_filter(np[0], f), EINVAL);
  f->nr_filters = 16;
  ck_assert_int_eq(set_filter(np[0], f), 0);
  f->nr_filters = 1;
  f->__reserved = 1;
  ck_assert_int_eq(set_filter(np[0], f), EINVAL);
  f->__reserved = 0;
  f->filters[0].info_filter = 0x100; /* not within info_mask */
  ck_assert_int_eq(set_filter(np[0], f), EINVAL);
  f->filters[0].info_mask = WATCH_INFO_LENGTH | 0x100;
  ck_assert_int_eq(set_filter(np[0], f), EINVAL);
  f->filters[0].info_mask = 0x100;
  ck_assert_int_eq(set_filter(np[0], f), 0);
  ck_assert_int_eq(set_filter(np[0], NULL), 0); /* removes it */
  free(f);
  close(np[0]);
  close(np[1]);
}
END_TEST

START_TEST(test_filter_semantics) {
  int np[2];
  make_np(np, 32);
  struct watch_notification_filter *f = new_filter(2);
  f->filters[0].subtype_filter[0] = 1u << DRM_XE_WATCH_EVENT_VM_ERR;
  f->filters[0].info_mask = WATCH_INFO_ID;
  f->filters[0].info_filter = 5u << WATCH_INFO_ID__SHIFT;
  f->filters[1].type = 9; /* unknown to the kernel: silently dropped */
  ck_assert_int_eq(set_filter(np[0], f), 0);

  int d5 = open_node(NODE_XE), d6 = open_node(NODE_XE);
  ck_assert_int_eq(subscribe(d5, np[0], 5), 0);
  ck_assert_int_eq(subscribe(d6, np[0], 6), 0);
  struct stats before = get_stats();
  ck_assert_str_eq(ctl("vm_err %s 1 -28", NODE_XE), "ok 1 0");   /* id 6 out */
  ck_assert_str_eq(ctl("record %s 2 1 -", NODE_XE), "ok 0 0");   /* subtype */
  ck_assert_str_eq(ctl("record %s 9 0 -", NODE_XE), "ok 0 0");   /* type 9 */
  ck_assert_str_eq(ctl("record %s 1 0 -", NODE_XE), "ok 0 0");   /* type 1 */
  ck_assert_str_eq(ctl("raw %s 0102030405", NODE_XE), "ok 2 0"); /* no filter */
  struct stats after = get_stats();
  ck_assert_uint_eq(after.filtered - before.filtered, 7);

  uint8_t buf[256];
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 16 + 5 + 5);
  assert_vm_err(buf, 5, 1, -28);
  /* Removal records are never filtered. */
  close(d6);
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 8);
  assert_meta(buf, WATCH_META_REMOVAL_NOTIFICATION, 8u | 6u << 8);

  /* A filter whose types were all dropped rejects everything... */
  f->nr_filters = 1;
  f->filters[0].type = 9;
  ck_assert_int_eq(set_filter(np[0], f), 0);
  ck_assert_str_eq(ctl("vm_err %s 1 -28", NODE_XE), "ok 0 0");
  /* ...and removing the filter lets everything in again. */
  ck_assert_int_eq(set_filter(np[0], NULL), 0);
  ck_assert_str_eq(ctl("vm_err %s 1 -28", NODE_XE), "ok 1 0");
  free(f);
  close(d5);
  close(np[0]);
  close(np[1]);
}
END_TEST

/* ---- reading ----------------------------------------------------------- */

START_TEST(test_whole_records) {
  int drm = open_node(NODE_XE);
  int np[2];
  make_np(np, 32);
  ck_assert_int_eq(subscribe(drm, np[0], 9), 0);
  uint8_t buf[4096];

  ck_assert_str_eq(ctl("vm_err %s 7 -12 3", NODE_XE), "ok 3 0");
  int avail = 0;
  ck_assert_int_eq(ioctl(np[0], FIONREAD, &avail), 0);
  ck_assert_int_eq(avail, 48);
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 48); /* several per read */
  for (int i = 0; i < 3; i++)
    assert_vm_err(buf + 16 * i, 9, 7, -12);

  /* A buffer for one and a half records gets one. */
  ck_assert_str_eq(ctl("vm_err %s 8 -28 2", NODE_XE), "ok 2 0");
  ck_assert_int_eq(read(np[0], buf, 20), 16);
  assert_vm_err(buf, 9, 8, -28);
  ck_assert_int_eq(__read_chk(np[0], buf, 20, sizeof(buf)), 16);
  assert_vm_err(buf, 9, 8, -28);
  assert_empty(np[0]);

  /* The first record does not fit: ENOBUFS, and it stays queued. */
  ck_assert_str_eq(ctl("vm_err %s 9 -62", NODE_XE), "ok 1 0");
  ck_assert_int_eq(read(np[0], buf, 15), -1);
  ck_assert_int_eq(errno, ENOBUFS);
  ck_assert_int_eq(ioctl(np[0], FIONREAD, &avail), 0);
  ck_assert_int_eq(avail, 16);
  ck_assert_int_eq(read(np[0], buf, 0), 0);
  ck_assert_int_eq(read(np[0], buf, 16), 16);
  assert_vm_err(buf, 9, 9, -62);

  /* raw slots come back verbatim; record builds header and length. */
  ck_assert_str_eq(ctl("raw %s 0102030405", NODE_XE), "ok 1 0");
  ck_assert_str_eq(ctl("record %s 2 5 aabbccdd", NODE_XE), "ok 1 0");
  ck_assert_int_eq(ioctl(np[0], FIONREAD, &avail), 0);
  ck_assert_int_eq(avail, 5 + 12);
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 17);
  ck_assert_mem_eq(buf, "\x01\x02\x03\x04\x05", 5);
  struct watch_notification n = hdr_at(buf + 5);
  ck_assert_uint_eq(n.type, 2);
  ck_assert_uint_eq(n.subtype, 5);
  ck_assert_uint_eq(n.info, 12u | 9u << 8);
  ck_assert_mem_eq(buf + 13, "\xaa\xbb\xcc\xdd", 4);
  close(drm);
  close(np[0]);
  close(np[1]);
}
END_TEST

START_TEST(test_loss) {
  int drm = open_node(NODE_XE);
  int np[2];
  make_np(np, 32);
  ck_assert_int_eq(subscribe(drm, np[0], 4), 0);
  uint8_t buf[4096];

  /* Overflow flags the newest record; when it is the last one read, the
   * loss record waits for the next read(), and poll does not announce it
   * (pipe_read and pipe_poll do exactly this). */
  ck_assert_str_eq(ctl("vm_err %s 1 -12 40", NODE_XE), "ok 32 8");
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 32 * 16);
  for (int i = 0; i < 32; i++)
    assert_vm_err(buf + 16 * i, 4, 1, -12);
  ck_assert(!readable(np[0]));
  ck_assert_int_eq(read(np[0], buf, 7), -1); /* too small for it */
  ck_assert_int_eq(errno, ENOBUFS);
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 8);
  assert_meta(buf, WATCH_META_LOSS_NOTIFICATION, 8); /* watch id 0 */
  assert_empty(np[0]);

  /* With records behind the flagged one, it comes in the same read. */
  ck_assert_str_eq(ctl("vm_err %s 1 -12 33", NODE_XE), "ok 32 1");
  ck_assert_int_eq(read(np[0], buf, 16), 16);
  ck_assert_str_eq(ctl("vm_err %s 2 -12", NODE_XE), "ok 1 0");
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 31 * 16 + 8 + 16);
  assert_meta(buf + 31 * 16, WATCH_META_LOSS_NOTIFICATION, 8);
  assert_vm_err(buf + 31 * 16 + 8, 4, 2, -12);

  /* A buffer that ends with the flagged record leaves the loss pending. */
  ck_assert_str_eq(ctl("vm_err %s 1 -12 33", NODE_XE), "ok 32 1");
  ck_assert_int_eq(read(np[0], buf, 32 * 16 + 7), 32 * 16);
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 8);
  assert_meta(buf, WATCH_META_LOSS_NOTIFICATION, 8);
  assert_empty(np[0]);
  close(drm);
  close(np[0]);
  close(np[1]);
}
END_TEST

START_TEST(test_removal_on_last_close_only) {
  int np[2];
  make_np(np, 32);
  int a = open_node(NODE_XE);
  int b = dup(a);
  int c = fcntl(a, F_DUPFD_CLOEXEC, 100);
  ck_assert_int_ge(c, 100);
  ck_assert(fcntl(c, F_GETFD) & FD_CLOEXEC);
  int d = dup3(a, 200, O_CLOEXEC);
  ck_assert_int_eq(d, 200);
  int e = dup2(a, 201);
  ck_assert_int_eq(e, 201);
  ck_assert_int_eq(subscribe(a, np[0], 42), 0);

  /* Close every duplicate but the F_DUPFD one; dup2 over e drops e. */
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ck_assert_int_ge(null, 0);
  int fds[] = {a, b, d, -1};
  for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
    if (fds[i] >= 0)
      ck_assert_int_eq(close(fds[i]), 0);
    else
      ck_assert_int_eq(dup2(null, e), e);
    assert_empty(np[0]); /* a duplicate is still open */
    ck_assert_str_eq(ctl("watches %s", NODE_XE), "ok 1");
  }
  ck_assert_int_eq(close(c), 0);
  uint8_t buf[64];
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 8);
  assert_meta(buf, WATCH_META_REMOVAL_NOTIFICATION, 8u | 42u << 8);
  ck_assert_str_eq(ctl("watches %s", NODE_XE), "ok 0");
  close(e);
  close(null);
  assert_empty(np[0]);
  close(np[0]);
  close(np[1]);
}
END_TEST

START_TEST(test_pipe_release) {
  int d1 = open_node(NODE_XE), d2 = open_node(NODE_XE);
  int np[2];
  make_np(np, 32);
  ck_assert_int_eq(subscribe(d1, np[0], 1), 0);
  /* The watches live as long as the pipe: both ends, every dup. */
  close(np[0]);
  ck_assert_str_eq(ctl("watches %s", NODE_XE), "ok 1");
  ck_assert_int_eq(subscribe(d2, np[1], 2), 0);
  ck_assert_str_eq(ctl("watches %s", NODE_XE), "ok 2");
  close(np[1]);
  ck_assert_str_eq(ctl("watches %s", NODE_XE), "ok 0");
  /* The DRM files outlive it quietly and can subscribe afresh. */
  make_np(np, 32);
  ck_assert_int_eq(subscribe(d1, np[0], 1), 0);
  close(d1);
  close(d2);
  uint8_t buf[64];
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 8); /* d1's removal only */
  assert_empty(np[0]);
  close(np[0]);
  close(np[1]);
}
END_TEST

START_TEST(test_write_rules) {
  int np[2];
  make_np(np, 32);
  ck_assert_int_eq(write(np[1], "x", 1), -1);
  ck_assert_int_eq(errno, EXDEV);
  ck_assert_int_eq(write(np[1], "", 0), 0);
  ck_assert_int_eq(write(np[0], "x", 1), -1); /* read end: not writable */
  ck_assert_int_eq(errno, EBADF);
  uint8_t buf[16];
  ck_assert_int_eq(read(np[1], buf, sizeof(buf)), -1); /* write end */
  ck_assert_int_eq(errno, EBADF);
  int fl = fcntl(np[0], F_GETFL);
  ck_assert_int_eq(fcntl(np[0], F_SETPIPE_SZ, 1 << 20), -1);
  ck_assert_int_eq(errno, EBUSY);
  ck_assert_int_eq(fcntl(np[0], F_GETFL), fl);
  signal(SIGPIPE, SIG_IGN);
  close(np[0]);
  ck_assert_int_eq(write(np[1], "x", 1), -1);
  ck_assert_int_eq(errno, EPIPE);
  close(np[1]);
}
END_TEST

START_TEST(test_eagain_and_eof) {
  int drm = open_node(NODE_XE);
  int np[2];
  make_np(np, 32);
  ck_assert_int_eq(subscribe(drm, np[0], 1), 0);
  uint8_t buf[64];
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), -1);
  ck_assert_int_eq(errno, EAGAIN);
  /* Blocking now, but with the write end gone: records, then EOF. */
  ck_assert_int_eq(fcntl(np[0], F_SETFL, 0), 0);
  ck_assert_str_eq(ctl("vm_err %s 1 -12", NODE_XE), "ok 1 0");
  close(np[1]);
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 16);
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 0);
  /* No writers beats O_NONBLOCK: still EOF, not EAGAIN. */
  ck_assert_int_eq(fcntl(np[0], F_SETFL, O_NONBLOCK), 0);
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 0);
  close(drm);
  close(np[0]);
}
END_TEST

static void *post_later(void *arg) {
  (void)arg;
  struct timespec ts = {.tv_nsec = 50 * 1000000L};
  nanosleep(&ts, NULL);
  int fd = ctl_connect();
  ctl_on(fd, "vm_err %s 5 -5", NODE_XE);
  close(fd);
  return NULL;
}

static long long ms_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(test_blocking_read) {
  int drm = open_node(NODE_XE);
  int np[2];
  ck_assert_int_eq(pipe2(np, O_NOTIFICATION_PIPE | O_CLOEXEC), 0);
  ck_assert_int_eq(ioctl(np[0], IOC_WATCH_QUEUE_SET_SIZE, 32), 0);
  ck_assert_int_eq(subscribe(drm, np[0], 2), 0);
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, post_later, NULL), 0);
  long long start = ms_now();
  uint8_t buf[64];
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 16);
  ck_assert_int_ge(ms_now() - start, 30);
  assert_vm_err(buf, 2, 5, -5);
  pthread_join(t, NULL);
  close(drm);
  close(np[0]);
  close(np[1]);
}
END_TEST

static int ep_wait(int ep) {
  struct epoll_event ev;
  return epoll_wait(ep, &ev, 1, 0);
}

START_TEST(test_epoll_readiness) {
  int drm = open_node(NODE_XE);
  int np[2];
  make_np(np, 32);
  ck_assert_int_eq(subscribe(drm, np[0], 1), 0);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN};
  ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_ADD, np[0], &ev), 0);
  uint8_t buf[64];

  ck_assert_int_eq(ep_wait(ep), 0);
  ck_assert_str_eq(ctl("vm_err %s 1 -12 2", NODE_XE), "ok 2 0");
  ck_assert_int_eq(ep_wait(ep), 1);
  ck_assert_int_eq(read(np[0], buf, 16), 16);
  ck_assert_int_eq(ep_wait(ep), 1); /* level-triggered: one left */
  ck_assert(readable(np[0]));
  ck_assert_int_eq(read(np[0], buf, 16), 16);
  ck_assert_int_eq(ep_wait(ep), 0);
  ck_assert(!readable(np[0]));

  /* Edge-triggered: the kernel wakes readers on every post. */
  int et = epoll_create1(EPOLL_CLOEXEC);
  ev.events = EPOLLIN | EPOLLET;
  ck_assert_int_eq(epoll_ctl(et, EPOLL_CTL_ADD, np[0], &ev), 0);
  ck_assert_int_eq(ep_wait(et), 0);
  ck_assert_str_eq(ctl("vm_err %s 1 -12", NODE_XE), "ok 1 0");
  ck_assert_int_eq(ep_wait(et), 1);
  ck_assert_int_eq(ep_wait(et), 0);
  ck_assert_str_eq(ctl("vm_err %s 1 -12", NODE_XE), "ok 1 0");
  ck_assert_int_eq(ep_wait(et), 1);
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 32);
  ck_assert_int_eq(ep_wait(ep), 0);
  close(et);
  close(ep);
  close(drm);
  close(np[0]);
  close(np[1]);
}
END_TEST

/* ---- control socket ---------------------------------------------------- */

START_TEST(test_ctl_protocol) {
  int c = ctl_connect(); /* many commands, one connection */
  ck_assert_int_eq(strncmp(ctl_on(c, "stats"), "ok posted=", 10), 0);
  ck_assert_int_eq(strncmp(ctl_on(c, "bogus"), "err ", 4), 0);
  ck_assert_int_eq(strncmp(ctl_on(c, "watches /nope"), "err ", 4), 0);
  ck_assert_int_eq(strncmp(ctl_on(c, "vm_err %s x -12", NODE_XE), "err ", 4),
                   0);
  ck_assert_int_eq(strncmp(ctl_on(c, "raw %s 0", NODE_XE), "err ", 4), 0);
  char big[2 * 128 + 1];
  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  ck_assert_int_eq(strncmp(ctl_on(c, "raw %s %s", NODE_XE, big), "err ", 4), 0);
  ck_assert_int_eq(strncmp(ctl_on(c, "state %s gone", NODE_XE), "err ", 4), 0);
  ck_assert_str_eq(ctl_on(c, "raw %s 00", NODE_XE), "ok 0 0");
  ck_assert_str_eq(ctl_on(c, "watches renderD132"), "ok 0"); /* basename */
  ck_assert_int_eq(
      strncmp(ctl_on(c, "wait_watches %s 1 20", NODE_XE), "err timeout", 11),
      0);

  int drm = open_node(node_xe2);
  int np[2];
  make_np(np, 32);
  ck_assert_int_eq(subscribe(drm, np[0], 11), 0);
  ck_assert_str_eq(ctl_on(c, "wait_watches %s 1 1000", node_xe2), "ok 1");
  ck_assert_str_eq(ctl_on(c, "vm_err renderD132 3 0x10"), "ok 1 0");
  uint8_t buf[64];
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 16);
  assert_vm_err(buf, 11, 3, 16);

  /* A wait answered later; the command queued behind it waits its turn. */
  ck_assert_str_eq(ctl_on(c, "watches %s", node_xe2), "ok 1");
  const char two[] = "wait_watches renderD132 2 2000\nwatches renderD132\n";
  ck_assert_int_eq(send(c, two, sizeof(two) - 1, MSG_NOSIGNAL),
                   (ssize_t)sizeof(two) - 1);
  struct pollfd pc = {.fd = c, .events = POLLIN};
  ck_assert_int_eq(poll(&pc, 1, 50), 0); /* nothing yet */
  int drm2 = open_node(node_xe2);
  ck_assert_int_eq(subscribe(drm2, np[0], 12), 0);
  char replies[64] = "";
  size_t have = 0;
  while (have < sizeof(replies) - 1 && !strstr(replies, "ok 2\nok 2\n")) {
    ssize_t r = recv(c, replies + have, sizeof(replies) - 1 - have, 0);
    ck_assert_int_gt(r, 0);
    have += (size_t)r;
    replies[have] = '\0';
  }
  ck_assert_str_eq(replies, "ok 2\nok 2\n");
  close(drm2);
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 8); /* drm2's removal */

  /* An over-long line is refused, and the connection goes on. */
  size_t n = 6000;
  char *line = malloc(n + 1);
  memset(line, 'x', n);
  line[n] = '\n';
  ck_assert_int_eq(send(c, line, n + 1, MSG_NOSIGNAL), (ssize_t)n + 1);
  free(line);
  char reply[128];
  ssize_t got = recv(c, reply, sizeof(reply) - 1, 0);
  ck_assert_int_gt(got, 0);
  reply[got] = '\0';
  ck_assert_str_eq(reply, "err line too long\n");
  ck_assert_str_eq(ctl_on(c, "watches %s", node_xe2), "ok 1");
  close(c);
  close(drm);
  close(np[0]);
  close(np[1]);
}
END_TEST

/* A forked child that fakes on its own takes the control socket over and
 * answers about its own state; once it is gone, the parent answers again. */
START_TEST(test_fork_handoff) {
  int drm = open_node(NODE_XE);
  int np[2];
  make_np(np, 32);
  ck_assert_int_eq(subscribe(drm, np[0], 1), 0);
  ck_assert_str_eq(ctl("watches %s", NODE_XE), "ok 1");
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    /* Inherited: the same watch, as far as this process is concerned. */
    int d2 = open(node_xe2, O_RDWR | O_CLOEXEC);
    int p2[2];
    int ok = d2 >= 0 &&
             pipe2(p2, O_NOTIFICATION_PIPE | O_CLOEXEC | O_NONBLOCK) == 0 &&
             ioctl(p2[0], IOC_WATCH_QUEUE_SET_SIZE, 32) == 0 &&
             subscribe(d2, p2[0], 2) == 0;
    int fd = ok ? ctl_connect() : -1;
    ok = ok && strcmp(ctl_on(fd, "watches %s", node_xe2), "ok 1") == 0 &&
         strcmp(ctl_on(fd, "vm_err %s 1 -12", NODE_XE), "ok 1 0") == 0;
    _exit(ok ? 0 : 1);
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_int_eq(WEXITSTATUS(status), 0);
  /* The child's post went into its own copy of the ring, not ours. */
  assert_empty(np[0]);
  ck_assert_str_eq(ctl("watches %s", node_xe2), "ok 0");
  ck_assert_str_eq(ctl("watches %s", NODE_XE), "ok 1");
  close(drm);
  close(np[0]);
  close(np[1]);
}
END_TEST

START_TEST(test_remove_and_restore) {
  int np[2];
  make_np(np, 32);
  int old = open_node(node_xe2);
  ck_assert_int_eq(subscribe(old, np[0], 3), 0);
  ck_assert_str_eq(ctl("remove %s", node_xe2), "ok");
  /* drm_dev_unplug() releases no file: no removal record while it is open. */
  assert_empty(np[0]);
  ck_assert_str_eq(ctl("watches %s", node_xe2), "ok 0");
  ck_assert_str_eq(ctl("vm_err %s 1 -12", node_xe2), "ok 0 0");

  ck_assert_int_eq(open(node_xe2, O_RDWR), -1);
  ck_assert_int_eq(errno, ENOENT);
  struct drm_version v = {0};
  ck_assert_int_eq(ioctl(old, DRM_IOCTL_VERSION, &v), -1);
  ck_assert_int_eq(errno, ENODEV);
  ck_assert_int_eq(subscribe(old, np[0], 3), ENODEV);

  ck_assert_str_eq(ctl("restore %s", node_xe2), "ok");
  int fresh = open_node(node_xe2);
  ck_assert_int_eq(ioctl(fresh, DRM_IOCTL_VERSION, &v), 0);
  ck_assert_int_eq(subscribe(fresh, np[0], 4), 0);
  /* A file from before the unplug stays dead. */
  ck_assert_int_eq(ioctl(old, DRM_IOCTL_VERSION, &v), -1);
  ck_assert_int_eq(errno, ENODEV);
  /* Its final release ends its watch, unplugged or not. */
  ck_assert_int_eq(close(old), 0);
  uint8_t buf[64];
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 8);
  assert_meta(buf, WATCH_META_REMOVAL_NOTIFICATION, 8u | 3u << 8);
  assert_empty(np[0]);
  ck_assert_str_eq(ctl("watches %s", node_xe2), "ok 1");

  ck_assert_str_eq(ctl("state %s einval", node_xe2), "ok");
  int other = open_node(node_xe2);
  ck_assert_int_eq(subscribe(other, np[0], 5), EINVAL);
  ck_assert_str_eq(ctl("state %s absent", node_xe2), "ok");
  ck_assert_int_eq(open(node_xe2, O_RDWR), -1);
  ck_assert_int_eq(errno, ENOENT);
  ck_assert_int_eq(ioctl(other, DRM_IOCTL_VERSION, &v), 0); /* not unplugged */
  ck_assert_str_eq(ctl("state %s present", node_xe2), "ok");
  ck_assert_int_eq(subscribe(other, np[0], 5), 0);
  close(other);
  close(fresh);
  close(np[0]);
  close(np[1]);
}
END_TEST

/* A flood right before an unplug: the loss marker follows the records, no
 * removal record comes, and only the file's ENODEV tells. */
START_TEST(test_remove_into_full_ring) {
  int np[2];
  make_np(np, 32);
  int drm = open_node(node_xe2);
  ck_assert_int_eq(subscribe(drm, np[0], 3), 0);
  ck_assert_str_eq(ctl("remove %s 40", node_xe2), "ok 32 8");
  uint8_t buf[4096];
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 32 * 16);
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 8);
  assert_meta(buf, WATCH_META_LOSS_NOTIFICATION, 8); /* no removal behind */
  assert_empty(np[0]);
  ck_assert_str_eq(ctl("watches %s", node_xe2), "ok 0");
  struct drm_version v = {0};
  ck_assert_int_eq(ioctl(drm, DRM_IOCTL_VERSION, &v), -1);
  ck_assert_int_eq(errno, ENODEV);
  ck_assert_str_eq(ctl("remove %s x", node_xe2),
                   "err usage: remove <node> [flood count]");
  ck_assert_str_eq(ctl("restore %s", node_xe2), "ok");
  close(drm);
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 8);
  assert_meta(buf, WATCH_META_REMOVAL_NOTIFICATION, 8u | 3u << 8);
  close(np[0]);
  close(np[1]);
}
END_TEST

START_TEST(test_stats) {
  int drm = open_node(NODE_XE);
  int np[2];
  make_np(np, 32);
  ck_assert_int_eq(subscribe(drm, np[0], 1), 0);
  struct stats a = get_stats();
  ck_assert_str_eq(ctl("vm_err %s 1 -12 3", NODE_XE), "ok 3 0");
  uint8_t buf[256];
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 48);
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), -1); /* not counted */
  struct stats b = get_stats();
  ck_assert_uint_eq(b.posted - a.posted, 3);
  ck_assert_uint_eq(b.queued - a.queued, 3);
  ck_assert_uint_eq(b.lost - a.lost, 0);
  ck_assert_uint_eq(b.reads - a.reads, 1);
  ck_assert_uint_eq(b.records_read - a.records_read, 3);
  close(drm);
  close(np[0]);
  close(np[1]);
}
END_TEST

static ssize_t read_within(int fd, uint8_t *buf, size_t sz, int timeout_ms);

/* ---- DRM files shared across fork() ----------------------------------------
 */

/* A child that closes what it inherited (collectd's exec plugin does, before
 * exec) releases nothing: the parent still holds the file. Nor may its copy
 * of our state leave bytes in the real pipe (an epoll loop would spin). */
START_TEST(test_fork_child_closes_inherited) {
  int drm = open_node(NODE_XE);
  int np[2];
  make_np(np, 32);
  ck_assert_int_eq(subscribe(drm, np[0], 1), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    for (int fd = 3; fd < 256; fd++)
      close(fd);
    _exit(0);
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(!readable(np[0]));
  assert_empty(np[0]);
  ck_assert_str_eq(ctl("watches %s", NODE_XE), "ok 1");
  ck_assert_str_eq(ctl("vm_err %s 2 -12", NODE_XE), "ok 1 0");
  ck_assert(readable(np[0]));
  uint8_t buf[64];
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 16);
  assert_vm_err(buf, 1, 2, -12);
  ck_assert(!readable(np[0]));
  close(drm);
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 8);
  assert_meta(buf, WATCH_META_REMOVAL_NOTIFICATION, 8u | 1u << 8);
  close(np[0]);
  close(np[1]);
}
END_TEST

/* The other way round: while a child holds the inherited file, our close is
 * not the last one; the removal record comes once the child is gone. */
START_TEST(test_fork_child_keeps_file) {
  int drm = open_node(NODE_XE);
  int np[2], sync[2];
  make_np(np, 32);
  ck_assert_int_eq(subscribe(drm, np[0], 4), 0);
  ck_assert_int_eq(pipe2(sync, O_CLOEXEC), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    char c;
    close(sync[1]);
    (void)read(sync[0], &c, 1); /* EOF: the parent says go */
    _exit(0);                   /* no exit handlers: like a crash */
  }
  close(sync[0]);
  close(drm);
  assert_empty(np[0]);
  ck_assert_str_eq(ctl("watches %s", NODE_XE), "ok 1");
  ck_assert_str_eq(ctl("vm_err %s 3 -28", NODE_XE), "ok 1 0");
  uint8_t buf[64];
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 16);
  close(sync[1]);
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_int_eq(read_within(np[0], buf, sizeof(buf), 2000), 8);
  assert_meta(buf, WATCH_META_REMOVAL_NOTIFICATION, 8u | 4u << 8);
  ck_assert_str_eq(ctl("watches %s", NODE_XE), "ok 0");
  close(np[0]);
  close(np[1]);
}
END_TEST

/* ---- procfs fixture, fstat ---------------------------------------------- */

/* A fixture file's text; NULL if it does not exist. */
__attribute__((format(printf, 1, 2))) static const char *
fx_read(const char *fmt, ...) {
  static char text[4096];
  char path[PATH_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(path, sizeof(path), fmt, ap);
  va_end(ap);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  ssize_t n = read(fd, text, sizeof(text) - 1);
  close(fd);
  text[n > 0 ? n : 0] = '\0';
  return text;
}

/* fdinfo of (pid, fd) in the fixture: its drm-client-id and flags. */
static bool fx_fdinfo(pid_t pid, int fd, unsigned long long *id,
                      unsigned int *flags) {
  const char *t = fx_read("%s/%d/fdinfo/%d", procroot, (int)pid, fd);
  const char *idl = t ? strstr(t, "\ndrm-client-id:\t") : NULL;
  return idl && sscanf(idl, "\ndrm-client-id:\t%llu", id) == 1 &&
         sscanf(t, "pos:\t0\nflags:\t%o\n", flags) == 1;
}

static const char *fx_link(pid_t pid, int fd) {
  static char target[PATH_MAX];
  char path[PATH_MAX + 64];
  snprintf(path, sizeof(path), "%s/%d/fd/%d", procroot, (int)pid, fd);
  ssize_t n = readlink(path, target, sizeof(target) - 1);
  if (n < 0)
    return NULL;
  target[n] = '\0';
  return target;
}

static bool fx_exists(pid_t pid, const char *what) {
  char path[PATH_MAX + 64];
  struct stat st;
  snprintf(path, sizeof(path), "%s/%d%s", procroot, (int)pid, what);
  return lstat(path, &st) == 0;
}

/* The entries of dir (not . and ..). */
static int count_entries(const char *d) {
  DIR *dp = opendir(d);
  if (dp == NULL)
    return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(dp)) != NULL;)
    n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(dp);
  return n;
}

static void assert_real_copy(const char *real_path, const char *fixture) {
  char real_text[4096];
  int fd = open(real_path, O_RDONLY | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  ssize_t n = read(fd, real_text, sizeof(real_text) - 1);
  close(fd);
  real_text[n > 0 ? n : 0] = '\0';
  ck_assert_ptr_nonnull(fixture);
  ck_assert_str_eq(fixture, real_text);
}

START_TEST(test_procfs_fixture) {
  pid_t me = getpid();
  int fd = open_node(NODE_XE);
  const char *t = fx_read("%s/%d/fdinfo/%d", procroot, (int)me, fd);
  ck_assert_ptr_nonnull(t);
  /* fs/proc/fd.c's four lines, then drm_show_fdinfo()'s. */
  ck_assert_int_eq(strncmp(t, "pos:\t0\nflags:\t0", 15), 0);
  ck_assert_ptr_nonnull(strstr(t, "\nmnt_id:\t"));
  ck_assert_ptr_nonnull(strstr(t, "\nino:\t"));
  ck_assert_ptr_nonnull(strstr(t, "\ndrm-driver:\txe\n"));
  ck_assert_ptr_nonnull(strstr(t, "\ndrm-pdev:\t0000:03:00.0\n"));
  unsigned long long id, id2;
  unsigned int flags;
  ck_assert(fx_fdinfo(me, fd, &id, &flags));
  ck_assert_uint_eq(id / 1000000, (unsigned long long)me);
  ck_assert_uint_eq(flags & O_ACCMODE, O_RDWR);
  ck_assert(flags & O_CLOEXEC);
  ck_assert(!(flags & O_NONBLOCK));
#ifdef __x86_64__
  ck_assert_uint_eq(flags, 02100002); /* O_LARGEFILE, as the kernel says */
#endif
  ck_assert_str_eq(fx_link(me, fd), NODE_XE);
  assert_real_copy("/proc/self/comm", fx_read("%s/%d/comm", procroot, me));
  assert_real_copy("/proc/self/cgroup",
                   fx_read("%s/%d/cgroup", procroot, (int)me));

  /* A dup is the same file (same client id), with its own fd flags. */
  int dupd = dup(fd);
  ck_assert(fx_fdinfo(me, dupd, &id2, &flags));
  ck_assert_uint_eq(id2, id);
  ck_assert(!(flags & O_CLOEXEC));
  ck_assert_int_eq(fcntl(dupd, F_SETFL, O_NONBLOCK), 0);
  ck_assert(fx_fdinfo(me, dupd, &id2, &flags));
  ck_assert(flags & O_NONBLOCK);
  int hi = fcntl(fd, F_DUPFD_CLOEXEC, 150);
  ck_assert(fx_fdinfo(me, hi, &id2, &flags));
  ck_assert_uint_eq(id2, id);
  ck_assert(flags & O_CLOEXEC);

  /* Another open is another file; no pdev in the table, no drm-pdev. */
  int other = open_node(node_xe2);
  ck_assert(fx_fdinfo(me, other, &id2, &flags));
  ck_assert_uint_ne(id2, id);
  ck_assert_ptr_null(
      strstr(fx_read("%s/%d/fdinfo/%d", procroot, (int)me, other), "pdev"));
  ck_assert_str_eq(fx_link(me, other), node_xe2);

  /* Each close takes its fd's entries, and only those. */
  close(fd);
  ck_assert(!fx_exists(me, "/fd/0") || fd == 0);
  ck_assert_ptr_null(fx_link(me, fd));
  ck_assert(!fx_fdinfo(me, fd, &id2, &flags));
  ck_assert(fx_fdinfo(me, dupd, &id2, &flags));
  close(dupd);
  close(hi);
  close(other);
  char path[PATH_MAX + 64];
  snprintf(path, sizeof(path), "%s/%d/fd", procroot, (int)me);
  ck_assert_int_eq(count_entries(path), 0);
  snprintf(path, sizeof(path), "%s/%d/fdinfo", procroot, (int)me);
  ck_assert_int_eq(count_entries(path), 0);
  ck_assert(fx_exists(me, "/comm")); /* the process lives on */

  /* Files appear by rename: no temporary is left behind. */
  DIR *dp = opendir(procroot);
  ck_assert_ptr_nonnull(dp);
  for (struct dirent *e; (e = readdir(dp)) != NULL;)
    ck_assert_msg(strncmp(e->d_name, ".xe-fake-tmp", 12) != 0, "%s left",
                  e->d_name);
  closedir(dp);
}
END_TEST

static void assert_drm_stat(const struct stat *st, unsigned int minor_nr) {
  ck_assert(S_ISCHR(st->st_mode));
  ck_assert_uint_eq(major(st->st_rdev), 226);
  ck_assert_uint_eq(minor(st->st_rdev), minor_nr);
}

START_TEST(test_fstat) {
  int fd = open_node(NODE_XE);
  struct stat st, st2;
  ck_assert_int_eq(fstat(fd, &st), 0);
  assert_drm_stat(&st, 128);
  ck_assert_int_eq(fstatat(fd, "", &st2, AT_EMPTY_PATH), 0);
  assert_drm_stat(&st2, 128);
  ck_assert_uint_eq(st2.st_ino, st.st_ino);
  struct stat64 st64;
  ck_assert_int_eq(fstat64(fd, &st64), 0);
  ck_assert(S_ISCHR(st64.st_mode));
  ck_assert_uint_eq(st64.st_rdev, st.st_rdev);
  struct statx sx;
  ck_assert_int_eq(statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx), 0);
  ck_assert(S_ISCHR(sx.stx_mode));
  ck_assert_uint_eq(sx.stx_rdev_major, 226);
  ck_assert_uint_eq(sx.stx_rdev_minor, 128);
  ck_assert_uint_eq(sx.stx_ino, st.st_ino);
  /* What binaries built against older glibc call. */
  int (*fxstat)(int, int, struct stat *) =
      (int (*)(int, int, struct stat *))dlsym(RTLD_DEFAULT, "__fxstat");
  if (fxstat) {
    memset(&st2, 0, sizeof(st2));
    ck_assert_int_eq(fxstat(1, fd, &st2), 0);
    assert_drm_stat(&st2, 128);
  }
  /* fdinfo's ino: is the inode; every file of a node has the same. */
  unsigned long ino = 0;
  const char *t = fx_read("%s/%d/fdinfo/%d", procroot, (int)getpid(), fd);
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(sscanf(strstr(t, "\nino:\t"), "\nino:\t%lu", &ino), 1);
  ck_assert_uint_eq(ino, st.st_ino);
  int fd2 = open_node(NODE_XE);
  ck_assert_int_eq(fstat(fd2, &st2), 0);
  ck_assert_uint_eq(st2.st_ino, st.st_ino);
  close(fd2);

  /* The minor is the number ending the node's name, else 255. */
  static const struct {
    const char *node;
    unsigned int minor_nr;
  } nodes[] = {{node_xe2, 132}, {node_card, 0}, {node_nonum, 255}};
  for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
    fd2 = open_node(nodes[i].node);
    ck_assert_int_eq(fstat(fd2, &st2), 0);
    assert_drm_stat(&st2, nodes[i].minor_nr);
    ck_assert_uint_ne(st2.st_ino, st.st_ino);
    close(fd2);
  }

  /* Anything else is the real thing. */
  int p[2];
  ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
  ck_assert_int_eq(fstat(p[0], &st2), 0);
  ck_assert(S_ISFIFO(st2.st_mode));
  ck_assert_int_eq(fstatat(fd, "", &st2, 0), -1);
  ck_assert_int_eq(errno, ENOENT);
  close(p[0]);
  close(p[1]);
  close(fd);
  ck_assert_int_eq(fstat(fd, &st2), -1);
  ck_assert_int_eq(errno, EBADF);
}
END_TEST

/* ---- other processes' DRM files (pidfd_getfd) -----------------------------
 */

/* One line from fd, waiting at most timeout_ms in all. */
static bool read_line(int fd, char *buf, size_t sz, int timeout_ms) {
  size_t n = 0;
  long long end = ms_now() + timeout_ms;
  while (n < sz - 1) {
    long long left = end - ms_now();
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, left > 0 ? (int)left : 0) != 1 || read(fd, buf + n, 1) != 1)
      return false;
    if (buf[n] == '\n') {
      buf[n] = '\0';
      return true;
    }
    n++;
  }
  return false;
}

/* fork+exec argv as a separate faked process: the fake preloaded, with our
 * device table and procfs root, but no control socket. */
static pid_t spawn_faked(char *const argv[], const char *env1, int *in,
                         int *out) {
  int pin[2], pout[2];
  ck_assert_int_eq(pipe2(pin, O_CLOEXEC), 0);
  ck_assert_int_eq(pipe2(pout, O_CLOEXEC), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dup2(pin[0], 0);
    dup2(pout[1], 1);
    unsetenv("XE_FAKE_CTL");
    if (env1)
      putenv((char *)env1);
    const char *cur = getenv("LD_PRELOAD");
    char *pre;
    if (asprintf(&pre, "%s%s%s", cur ? cur : "", cur && *cur ? ":" : "",
                 fake_lib) < 0)
      _exit(126);
    setenv("LD_PRELOAD", pre, 1);
    execv(argv[0], argv);
    _exit(127);
  }
  close(pin[0]);
  close(pout[1]);
  *in = pin[1];
  *out = pout[0];
  return pid;
}

struct client {
  pid_t pid;
  int in, out; /* its stdin and stdout */
  unsigned long long id[4];
  int fd[4];
};

/* xe-client with the given arguments (NULL-terminated), which opens
 * nfiles files; their ids and fds from its output. */
static void client_start(struct client *c, int nfiles, const char *env1, ...) {
  char *argv[16];
  int argc = 0;
  argv[argc++] = xe_client;
  va_list ap;
  va_start(ap, env1);
  for (char *a; argc < 15 && (a = va_arg(ap, char *)) != NULL;)
    argv[argc++] = a;
  va_end(ap);
  argv[argc] = NULL;
  ck_assert_msg(access(xe_client, X_OK) == 0, "%s: %s (set XE_CLIENT)",
                xe_client, strerror(errno));
  memset(c, 0, sizeof(*c));
  c->pid = spawn_faked(argv, env1, &c->in, &c->out);
  for (int i = 0; i < nfiles; i++) {
    char line[PATH_MAX + 64], node[PATH_MAX];
    int pid;
    ck_assert_msg(read_line(c->out, line, sizeof(line), 3000),
                  "no line %d from xe-client", i);
    ck_assert_int_eq(sscanf(line, "client %d %llu %4095s %d", &pid, &c->id[i],
                            node, &c->fd[i]),
                     4);
    ck_assert_int_eq(pid, c->pid);
    ck_assert_uint_eq(c->id[i] / 1000000, (unsigned long long)pid);
  }
}

/* Waits (boundedly) for pid to exit and reaps it; its wait status. */
static int wait_exit(pid_t pid, int timeout_ms) {
  int pfd = pidfd_open(pid, 0);
  ck_assert_int_ge(pfd, 0);
  struct pollfd p = {.fd = pfd, .events = POLLIN};
  int r = poll(&p, 1, timeout_ms);
  close(pfd);
  if (r != 1)
    kill(pid, SIGKILL);
  ck_assert_msg(r == 1, "pid %d did not exit within %d ms", (int)pid,
                timeout_ms);
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  return status;
}

/* EOF on its stdin: it closes its files and exits 0. */
static void client_stop(struct client *c) {
  close(c->in);
  int status = wait_exit(c->pid, 3000);
  ck_assert(WIFEXITED(status));
  ck_assert_int_eq(WEXITSTATUS(status), 0);
  close(c->out);
}

/* What the plugin does: pidfd_open + pidfd_getfd, closing the pidfd. */
static int take_fd(pid_t pid, int fd, bool raw_syscall) {
  int pidfd = pidfd_open(pid, 0);
  ck_assert_msg(pidfd >= 0, "pidfd_open %d: %s", (int)pid, strerror(errno));
  int dupd = raw_syscall ? (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0)
                         : pidfd_getfd(pidfd, fd, 0);
  ck_assert_msg(dupd >= 0, "pidfd_getfd %d/%d: %s", (int)pid, fd,
                strerror(errno));
  close(pidfd);
  return dupd;
}

/* Waits (at most timeout_ms) for the pipe to turn readable, then reads. */
static ssize_t read_within(int fd, uint8_t *buf, size_t sz, int timeout_ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  ck_assert_msg(poll(&p, 1, timeout_ms) == 1, "nothing within %d ms",
                timeout_ms);
  return read(fd, buf, sz);
}

START_TEST(test_remote_file) {
  static char cg[] = "XE_FAKE_CGROUP=0::/system.slice/docker-"
                     "0123456789abcdef0123456789abcdef"
                     "0123456789abcdef0123456789abcdef.scope";
  struct client c;
  client_start(&c, 1, cg, NODE_XE, (char *)NULL);
  unsigned long long id;
  unsigned int flags;

  /* What the plugin will find in ProcRoot. */
  ck_assert_str_eq(fx_link(c.pid, c.fd[0]), NODE_XE);
  ck_assert(fx_fdinfo(c.pid, c.fd[0], &id, &flags));
  ck_assert_uint_eq(id, c.id[0]);
  ck_assert_str_eq(fx_read("%s/%d/comm", procroot, (int)c.pid), "xe-client\n");
  char cgline[sizeof(cg) + 1];
  snprintf(cgline, sizeof(cgline), "%s\n", cg + strlen("XE_FAKE_CGROUP="));
  ck_assert_str_eq(fx_read("%s/%d/cgroup", procroot, (int)c.pid), cgline);
  /* Then: take the fd, subscribe through it, close the duplicate. */
  int dupd = take_fd(c.pid, c.fd[0], false);
  ck_assert(fcntl(dupd, F_GETFD) & FD_CLOEXEC);
  struct stat st;
  ck_assert_int_eq(fstat(dupd, &st), 0);
  assert_drm_stat(&st, 128);
  drmVersionPtr v = drmGetVersion(dupd);
  ck_assert_ptr_nonnull(v);
  ck_assert_str_eq(v->name, "xe");
  drmFreeVersion(v);
  ck_assert(fx_fdinfo(getpid(), dupd, &id, &flags)); /* ours, meanwhile */
  ck_assert_uint_eq(id, c.id[0]);
  int np[2];
  make_np(np, 32);
  ck_assert_int_eq(subscribe(dupd, np[0], 7), 0);
  ck_assert_str_eq(ctl("wait_clients 1 1000"), "ok 1");
  close(dupd);

  /* The client still holds its file: nothing released. */
  char want[64];
  snprintf(want, sizeof(want), "ok 1 %llu", c.id[0]);
  ck_assert_str_eq(ctl("clients"), want);
  ck_assert_str_eq(ctl("watches %s", NODE_XE), "ok 1");
  assert_empty(np[0]);
  ck_assert(!fx_fdinfo(getpid(), dupd, &id, &flags));

  /* Its VM errors reach us with the watch's id. */
  ck_assert_str_eq(ctl("vm_err_client %llu 5 -28 2", c.id[0]), "ok 2 0");
  uint8_t buf[256];
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 32);
  assert_vm_err(buf, 7, 5, -28);
  assert_vm_err(buf + 16, 7, 5, -28);
  ck_assert_str_eq(ctl("vm_err renderD128 6 -12"), "ok 1 0");
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 16);
  assert_vm_err(buf, 7, 6, -12);

  /* Another duplicate (raw syscall this time) is the same file. */
  dupd = take_fd(c.pid, c.fd[0], true);
  ck_assert_int_eq(subscribe(dupd, np[0], 8), EBUSY);
  close(dupd);
  assert_empty(np[0]);

  /* The client exits: removal record with our watch id, at once. */
  long long t0 = ms_now();
  client_stop(&c);
  ck_assert_int_eq(read_within(np[0], buf, sizeof(buf), 2000), 8);
  assert_meta(buf, WATCH_META_REMOVAL_NOTIFICATION, 8u | 7u << 8);
  ck_assert_int_lt(ms_now() - t0, 1000);
  assert_empty(np[0]);
  ck_assert_str_eq(ctl("clients"), "ok 0");
  ck_assert_str_eq(ctl("watches %s", NODE_XE), "ok 0");
  ck_assert_int_eq(
      strncmp(ctl("vm_err_client %llu 5 -28", c.id[0]), "err no DRM file", 15),
      0);
  ck_assert(!fx_exists(c.pid, "")); /* its procfs directory went with it */
  close(np[0]);
  close(np[1]);
}
END_TEST

/* Closing its files without exiting releases them too (the tick). */
START_TEST(test_remote_owner_closes) {
  struct client c;
  client_start(&c, 2, NULL, "--files", "2", NODE_XE, (char *)NULL);
  ck_assert_uint_ne(c.id[0], c.id[1]);
  int np[2];
  make_np(np, 32);
  for (int i = 0; i < 2; i++) {
    int dupd = take_fd(c.pid, c.fd[i], false);
    ck_assert_int_eq(subscribe(dupd, np[0], 3 + (unsigned int)i), 0);
    close(dupd);
  }
  ck_assert_str_eq(ctl("wait_clients 2 1000"), "ok 2");
  ck_assert_int_eq(write(c.in, "close\n", 6), 6);
  char line[64];
  ck_assert(read_line(c.out, line, sizeof(line), 3000));
  ck_assert_int_eq(strncmp(line, "closed ", 7), 0);

  uint8_t buf[64];
  unsigned int seen = 0;
  long long end = ms_now() + 2000;
  while (seen != 3 && ms_now() < end) {
    ssize_t n = read_within(np[0], buf, sizeof(buf), 2000);
    for (ssize_t off = 0; off + 8 <= n; off += 8) {
      struct watch_notification h = hdr_at(buf + off);
      ck_assert_uint_eq(h.type, WATCH_TYPE_META);
      ck_assert_uint_eq(h.subtype, WATCH_META_REMOVAL_NOTIFICATION);
      seen |= 1u << ((h.info >> 8) - 3);
    }
  }
  ck_assert_uint_eq(seen, 3);
  ck_assert_str_eq(ctl("clients"), "ok 0");
  /* It lives, with no DRM fd in its procfs directory. */
  ck_assert_int_eq(kill(c.pid, 0), 0);
  char path[PATH_MAX + 64];
  snprintf(path, sizeof(path), "%s/%d/fd", procroot, (int)c.pid);
  ck_assert_int_eq(count_entries(path), 0);
  client_stop(&c);
  close(np[0]);
  close(np[1]);
}
END_TEST

/* --close-after-ms: the files go, the process stays. */
START_TEST(test_client_close_after) {
  struct client c;
  client_start(&c, 1, NULL, "--close-after-ms", "50", NODE_XE, (char *)NULL);
  ck_assert(fx_exists(c.pid, "/fdinfo"));
  char line[64];
  ck_assert(read_line(c.out, line, sizeof(line), 3000));
  char want[32];
  snprintf(want, sizeof(want), "closed %d", (int)c.pid);
  ck_assert_str_eq(line, want);
  ck_assert_ptr_null(fx_link(c.pid, c.fd[0]));
  ck_assert(fx_exists(c.pid, "/comm"));
  /* SIGTERM ends it cleanly too. */
  ck_assert_int_eq(kill(c.pid, SIGTERM), 0);
  int status = wait_exit(c.pid, 3000);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(c.in);
  close(c.out);
  ck_assert(!fx_exists(c.pid, ""));
}
END_TEST

/* While our duplicate is open the file lives, whoever else closed it. */
START_TEST(test_remote_kept_by_our_dup) {
  struct client c;
  client_start(&c, 1, NULL, NODE_XE, (char *)NULL);
  int dupd = take_fd(c.pid, c.fd[0], false);
  int np[2];
  make_np(np, 32);
  ck_assert_int_eq(subscribe(dupd, np[0], 9), 0);
  client_stop(&c);
  char want[64];
  snprintf(want, sizeof(want), "ok 1 %llu", c.id[0]);
  ck_assert_str_eq(ctl("clients"), want);
  assert_empty(np[0]);
  ck_assert_str_eq(ctl("vm_err_client %llu 1 -12", c.id[0]), "ok 1 0");
  uint8_t buf[64];
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 16);
  assert_vm_err(buf, 9, 1, -12);
  close(dupd); /* the last fput: released now */
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 8);
  assert_meta(buf, WATCH_META_REMOVAL_NOTIFICATION, 8u | 9u << 8);
  ck_assert_str_eq(ctl("clients"), "ok 0");
  close(np[0]);
  close(np[1]);
}
END_TEST

/* SIGKILL: no exit handler ran, the pidfd still tells. The procfs
 * directory stays behind, stale, for the plugin to cope with (ESRCH). */
START_TEST(test_remote_sigkill) {
  struct client c;
  client_start(&c, 1, NULL, NODE_XE, (char *)NULL);
  int dupd = take_fd(c.pid, c.fd[0], false);
  int np[2];
  make_np(np, 32);
  ck_assert_int_eq(subscribe(dupd, np[0], 5), 0);
  close(dupd);
  ck_assert_int_eq(kill(c.pid, SIGKILL), 0);
  int status = wait_exit(c.pid, 3000);
  ck_assert(WIFSIGNALED(status));
  uint8_t buf[64];
  ck_assert_int_eq(read_within(np[0], buf, sizeof(buf), 2000), 8);
  assert_meta(buf, WATCH_META_REMOVAL_NOTIFICATION, 8u | 5u << 8);
  ck_assert_str_eq(fx_link(c.pid, c.fd[0]), NODE_XE); /* stale */
  ck_assert_int_eq(pidfd_open(c.pid, 0), -1);
  ck_assert_int_eq(errno, ESRCH);
  char path[PATH_MAX + 64];
  snprintf(path, sizeof(path), "%s/%d", procroot, (int)c.pid);
  rm_rf(path);
  close(c.in);
  close(c.out);
  close(np[0]);
  close(np[1]);
}
END_TEST

/* A file shared with a forked child lives until both are done with it:
 * taking it from the parent, its exit alone releases nothing. */
START_TEST(test_remote_shared_by_fork) {
  char *argv[] = {self_exe, "--probe", "holder", NULL};
  int in, out;
  pid_t a = spawn_faked(argv, NULL, &in, &out);
  char line[128];
  ck_assert(read_line(out, line, sizeof(line), 3000));
  int pa, pb, fd;
  ck_assert_int_eq(sscanf(line, "holder %d %d %d", &pa, &pb, &fd), 3);
  ck_assert_int_eq(pa, a);
  int bfd = pidfd_open(pb, 0); /* not our child: watch it this way */
  ck_assert_int_ge(bfd, 0);
  int dupd = take_fd(a, fd, false);
  int np[2];
  make_np(np, 32);
  ck_assert_int_eq(subscribe(dupd, np[0], 6), 0);
  close(dupd);
  close(in); /* A exits; B, its child, holds the file on */
  int status = wait_exit(a, 3000);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ck_assert_int_eq(strncmp(ctl("clients"), "ok 1 ", 5), 0);
  assert_empty(np[0]);
  ck_assert_int_eq(kill(pb, SIGTERM), 0); /* B dies without exit handler */
  struct pollfd p = {.fd = bfd, .events = POLLIN};
  ck_assert_int_eq(poll(&p, 1, 3000), 1);
  close(bfd);
  uint8_t buf[64];
  ck_assert_int_eq(read_within(np[0], buf, sizeof(buf), 2000), 8);
  assert_meta(buf, WATCH_META_REMOVAL_NOTIFICATION, 8u | 6u << 8);
  ck_assert_str_eq(ctl("clients"), "ok 0");
  close(out);
  close(np[0]);
  close(np[1]);
}
END_TEST

START_TEST(test_ctl_clients) {
  int c = ctl_connect();
  ck_assert_str_eq(ctl_on(c, "clients"), "ok 0");
  ck_assert_int_eq(strncmp(ctl_on(c, "clients 1"), "err usage", 9), 0);
  ck_assert_int_eq(strncmp(ctl_on(c, "vm_err_client 1 1"), "err usage", 9), 0);
  ck_assert_int_eq(strncmp(ctl_on(c, "vm_err_client x 1 -12"), "err usage", 9),
                   0);
  ck_assert_int_eq(
      strncmp(ctl_on(c, "vm_err_client 1 1 -12 0x"), "err usage", 9), 0);
  ck_assert_int_eq(
      strncmp(ctl_on(c, "vm_err_client 1 1 -12"), "err no DRM file", 15), 0);
  ck_assert_int_eq(strncmp(ctl_on(c, "wait_clients 1"), "err usage", 9), 0);
  ck_assert_int_eq(strncmp(ctl_on(c, "wait_clients 1 20"), "err timeout", 11),
                   0);
  ck_assert_str_eq(ctl_on(c, "wait_clients 0 20"), "ok 0");
  ck_assert_ptr_nonnull(strstr(ctl_on(c, "help"), " wait_clients"));

  /* Our own files have client ids too. */
  int drm = open_node(NODE_XE);
  unsigned long long id;
  unsigned int flags;
  ck_assert(fx_fdinfo(getpid(), drm, &id, &flags));
  int np[2];
  make_np(np, 32);
  ck_assert_int_eq(subscribe(drm, np[0], 2), 0);
  ck_assert_str_eq(ctl_on(c, "vm_err_client %llu 4 -12 3", id), "ok 3 0");
  ck_assert_str_eq(ctl_on(c, "vm_err_client 0x%llx 4 -12", id), "ok 1 0");
  uint8_t buf[128];
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 64);
  assert_vm_err(buf + 48, 2, 4, -12);
  ck_assert_str_eq(ctl_on(c, "clients"), "ok 0"); /* not a remote file */
  ck_assert_str_eq(ctl_on(c, "wait_clients 1 0"),
                   "err timeout (0 of 1 watched clients)");

  /* pidfd_getfd of our own file is a dup of it, not a remote file. */
  int self = take_fd(getpid(), drm, false);
  ck_assert_int_eq(subscribe(self, np[0], 3), EBUSY);
  close(drm);
  assert_empty(np[0]);
  close(self);
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 8);
  close(c);
  close(np[0]);
  close(np[1]);
}
END_TEST

/* "swap_getfd FD": the next pidfd_getfd() gets the workload's FD instead
 * of the one asked for (once), as when the fd number was reused between
 * the caller's fdinfo read and its duplicate. */
START_TEST(test_swap_getfd) {
  struct client c;
  client_start(&c, 2, NULL, "--files", "2", NODE_XE, (char *)NULL);
  unsigned long long id;
  unsigned int flags;
  int cc = ctl_connect();
  ck_assert_int_eq(strncmp(ctl_on(cc, "swap_getfd"), "err usage", 9), 0);
  ck_assert_int_eq(strncmp(ctl_on(cc, "swap_getfd x"), "err usage", 9), 0);
  ck_assert_int_eq(strncmp(ctl_on(cc, "swap_getfd -1"), "err usage", 9), 0);
  ck_assert_ptr_nonnull(strstr(ctl_on(cc, "help"), " swap_getfd"));

  /* Another DRM file of the same device: same major, another client id. */
  ck_assert_str_eq(ctl_on(cc, "swap_getfd %d", c.fd[1]), "ok");
  int dupd = take_fd(c.pid, c.fd[0], false);
  struct stat st;
  ck_assert_int_eq(fstat(dupd, &st), 0);
  assert_drm_stat(&st, 128);
  ck_assert(fx_fdinfo(getpid(), dupd, &id, &flags));
  ck_assert_uint_eq(id, c.id[1]);
  close(dupd);
  /* Once only. */
  dupd = take_fd(c.pid, c.fd[0], true);
  ck_assert(fx_fdinfo(getpid(), dupd, &id, &flags));
  ck_assert_uint_eq(id, c.id[0]);
  close(dupd);

  /* With FOR: only a duplicate of that fd is swapped. */
  ck_assert_str_eq(ctl_on(cc, "swap_getfd %d %d", c.fd[0], c.fd[1]), "ok");
  dupd = take_fd(c.pid, c.fd[0], false);
  ck_assert(fx_fdinfo(getpid(), dupd, &id, &flags));
  ck_assert_uint_eq(id, c.id[0]); /* not the one named: as asked */
  close(dupd);
  dupd = take_fd(c.pid, c.fd[1], false);
  ck_assert(fx_fdinfo(getpid(), dupd, &id, &flags));
  ck_assert_uint_eq(id, c.id[0]); /* swapped */
  close(dupd);
  ck_assert_int_eq(strncmp(ctl_on(cc, "swap_getfd 1 x"), "err usage", 9), 0);

  /* Not a DRM file at all: its stdin, a pipe (raw syscall path too). */
  ck_assert_str_eq(ctl_on(cc, "swap_getfd 0"), "ok");
  dupd = take_fd(c.pid, c.fd[0], true);
  ck_assert_int_eq(fstat(dupd, &st), 0);
  ck_assert(S_ISFIFO(st.st_mode));
  ck_assert(!fx_fdinfo(getpid(), dupd, &id, &flags));
  close(dupd);
  close(cc);
  client_stop(&c);
}
END_TEST

/* With a real file at the node's path, an open of the node is seen by
 * inotify (IN_OPEN), as a kernel node's is. */
START_TEST(test_open_notifies_inotify) {
  char tmp[PATH_MAX + 16];
  snprintf(tmp, sizeof(tmp), "%.*s/stand-in", PATH_MAX - 16, dir);
  int fd = creat(tmp, 0644);
  ck_assert_int_ge(fd, 0);
  close(fd);
  /* rename: an open(O_CREAT) of the node's path would open the node */
  ck_assert_int_eq(rename(tmp, node_xe2), 0);
  int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  ck_assert_int_ge(in, 0);
  ck_assert_int_ge(inotify_add_watch(in, node_xe2, IN_OPEN), 0);
  char buf[4096];
  ck_assert_int_eq(read(in, buf, sizeof(buf)), -1); /* nothing yet */
  int drm = open_node(node_xe2);
  struct stat st;
  ck_assert_int_eq(fstat(drm, &st), 0);
  ck_assert(S_ISCHR(st.st_mode)); /* still the fake's node */
  ssize_t n = read(in, buf, sizeof(buf));
  ck_assert_int_ge(n, (ssize_t)sizeof(struct inotify_event));
  ck_assert(((struct inotify_event *)buf)->mask & IN_OPEN);
  close(drm);
  close(in);
  ck_assert_int_eq(unlink(node_xe2), 0);
}
END_TEST

/* xe-inject speaks the new commands. */
static int inject(char *out, size_t outsz, ...) {
  char *argv[16];
  int argc = 0;
  argv[argc++] = xe_inject;
  va_list ap;
  va_start(ap, outsz);
  for (char *a; argc < 15 && (a = va_arg(ap, char *)) != NULL;)
    argv[argc++] = a;
  va_end(ap);
  argv[argc] = NULL;
  int p[2];
  ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dup2(p[1], 1);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    execv(argv[0], argv);
    _exit(127);
  }
  close(p[1]);
  size_t got = 0;
  ssize_t n;
  while (got < outsz - 1 && (n = read(p[0], out + got, outsz - 1 - got)) > 0)
    got += (size_t)n;
  out[got] = '\0';
  close(p[0]);
  int status = wait_exit(pid, 5000);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_xe_inject_clients) {
  ck_assert_msg(access(xe_inject, X_OK) == 0, "%s: %s (set XE_INJECT)",
                xe_inject, strerror(errno));
  struct client c;
  client_start(&c, 1, NULL, NODE_XE, (char *)NULL);
  int dupd = take_fd(c.pid, c.fd[0], false);
  int np[2];
  make_np(np, 32);
  ck_assert_int_eq(subscribe(dupd, np[0], 12), 0);
  close(dupd);
  char out[256], id[32], want[64];
  snprintf(id, sizeof(id), "%llu", c.id[0]);
  ck_assert_int_eq(inject(out, sizeof(out), "wait-clients", "1", "--timeout-ms",
                          "1000", (char *)NULL),
                   0);
  ck_assert_str_eq(out, "ok 1\n");
  ck_assert_int_eq(inject(out, sizeof(out), "clients", (char *)NULL), 0);
  snprintf(want, sizeof(want), "ok 1 %s\n", id);
  ck_assert_str_eq(out, want);
  ck_assert_int_eq(inject(out, sizeof(out), "vm-err", "--client", id, "--vm",
                          "3", "--errno", "ENOSPC", (char *)NULL),
                   0);
  ck_assert_str_eq(out, "ok 1 0\n");
  uint8_t buf[64];
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 16);
  assert_vm_err(buf, 12, 3, -ENOSPC);
  ck_assert_int_eq(
      inject(out, sizeof(out), "vm-err", "--client", "1", (char *)NULL),
      1); /* err: no such file */
  ck_assert_int_eq(inject(out, sizeof(out), "vm-err", "--client", id,
                          "renderD128", (char *)NULL),
                   2); /* a node and a client: usage */
  ck_assert_int_eq(
      inject(out, sizeof(out), "vm-err", "--client", "x", (char *)NULL), 2);
  ck_assert_int_eq(inject(out, sizeof(out), "wait-clients", (char *)NULL), 2);
  client_stop(&c);
  ck_assert_int_eq(read_within(np[0], buf, sizeof(buf), 2000), 8);
  assert_meta(buf, WATCH_META_REMOVAL_NOTIFICATION, 8u | 12u << 8);
  close(np[0]);
  close(np[1]);
}
END_TEST

/* ---- environment, in fresh processes ------------------------------------ */

/* Runs this binary as "--probe MODE" with extra environment; with_fake puts
 * the fake back into LD_PRELOAD (it took itself out of ours). */
static int run_probe(const char *mode, const char *env1, bool with_fake) {
  char sock[PATH_MAX + 32];
  snprintf(sock, sizeof(sock), "XE_FAKE_CTL=%s/probe.sock", dir);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    if (env1)
      putenv((char *)env1);
    if (strcmp(mode, "low-fds") == 0)
      putenv(sock); /* a socket of its own to serve */
    if (with_fake) {
      const char *cur = getenv("LD_PRELOAD");
      char *pre;
      if (asprintf(&pre, "%s%s%s", cur ? cur : "", cur && *cur ? ":" : "",
                   fake_lib) < 0)
        _exit(126);
      setenv("LD_PRELOAD", pre, 1);
    }
    execl(self_exe, "test_fake", "--probe", mode, (char *)NULL);
    _exit(127);
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status), "probe %s died", mode);
  return WEXITSTATUS(status);
}

START_TEST(test_watch_queue_off) {
  ck_assert_int_eq(run_probe("wq-off", "XE_FAKE_WATCH_QUEUE=0", true), 0);
}
END_TEST

START_TEST(test_children_not_faked) {
  const char *pre = getenv("LD_PRELOAD");
  ck_assert_msg(pre == NULL || strstr(pre, "libxefake") == NULL,
                "LD_PRELOAD still names the fake: %s", pre);
  ck_assert_int_eq(run_probe("unfaked", NULL, false), 0);
}
END_TEST

/* A program that dup2()s over every low fd (a shell's "exec 3<", a daemon
 * tidying up) must not take the control socket with them. */
START_TEST(test_low_fds_left_alone) {
  ck_assert_int_eq(run_probe("low-fds", NULL, true), 0);
}
END_TEST

START_TEST(test_pipe_user_pages_soft) {
  ck_assert_int_eq(
      run_probe("pages-soft", "XE_FAKE_PIPE_USER_PAGES_SOFT=1", true), 0);
}
END_TEST

#define PROBE_CHECK(cond)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "probe %s:%d: %s failed (errno %s)\n", mode, __LINE__,   \
              #cond, strerrorname_np(errno));                                  \
      return 1;                                                                \
    }                                                                          \
  } while (0)

static bool kernel_has_watch_queue(void) {
  int fds[2];
  if (syscall(SYS_pipe2, fds, O_NOTIFICATION_PIPE | O_CLOEXEC) != 0)
    return false;
  syscall(SYS_close, fds[0]);
  syscall(SYS_close, fds[1]);
  return true;
}

static int probe(const char *mode) {
  bool faked = dlsym(RTLD_DEFAULT, "xe_fake_present") != NULL;
  int fds[2];
  if (strcmp(mode, "wq-off") == 0) {
    /* pipe2() goes to the kernel: ENOPKG without CONFIG_WATCH_QUEUE. */
    PROBE_CHECK(faked);
    int r = pipe2(fds, O_NOTIFICATION_PIPE | O_CLOEXEC);
    if (!kernel_has_watch_queue())
      PROBE_CHECK(r == -1 && errno == ENOPKG);
    int drm = open(NODE_XE, O_RDWR | O_CLOEXEC);
    PROBE_CHECK(drm >= 0); /* devices are still faked */
    PROBE_CHECK(pipe2(fds, O_CLOEXEC) == 0);
    struct drm_xe_watch_queue a = {.fd = (__u32)fds[0], .watch_id = 1};
    PROBE_CHECK(ioctl(drm, DRM_IOCTL_XE_WATCH_QUEUE, &a) == -1 &&
                errno == EINVAL);
    return 0;
  }
  if (strcmp(mode, "unfaked") == 0) {
    PROBE_CHECK(!faked);
    int r = pipe2(fds, O_NOTIFICATION_PIPE | O_CLOEXEC);
    if (!kernel_has_watch_queue())
      PROBE_CHECK(r == -1 && errno == ENOPKG);
    return 0;
  }
  if (strcmp(mode, "pages-soft") == 0) {
    PROBE_CHECK(faked);
    PROBE_CHECK(pipe2(fds, O_NOTIFICATION_PIPE | O_CLOEXEC) == 0);
    /* Over the soft limit a pipe may not grow past 2 pages (64 notes). */
    PROBE_CHECK(ioctl(fds[0], IOC_WATCH_QUEUE_SET_SIZE, 65) == -1 &&
                errno == EPERM);
    PROBE_CHECK(ioctl(fds[0], IOC_WATCH_QUEUE_SET_SIZE, 64) == 0);
    PROBE_CHECK(ioctl(fds[0], IOC_WATCH_QUEUE_SET_SIZE, 1) == -1 &&
                errno == EBUSY);
    return 0;
  }
  if (strcmp(mode, "holder") == 0) {
    /* A workload sharing its DRM file with a forked child, B, which holds
     * it until killed; A exits at EOF on stdin. */
    int fd = open(NODE_XE, O_RDWR | O_CLOEXEC);
    PROBE_CHECK(fd >= 0);
    pid_t b = fork();
    PROBE_CHECK(b >= 0);
    if (b == 0)
      for (;;)
        pause();
    printf("holder %d %d %d\n", (int)getpid(), (int)b, fd);
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof(buf)) > 0)
      ;
    return 0;
  }
  if (strcmp(mode, "low-fds") == 0) {
    PROBE_CHECK(faked);
    PROBE_CHECK(pipe2(fds, O_NOTIFICATION_PIPE | O_CLOEXEC) == 0); /* claim */
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    PROBE_CHECK(null >= 0);
    for (int fd = 3; fd < 64; fd++)
      if (fd != null)
        dup2(null, fd);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", getenv("XE_FAKE_CTL"));
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 3};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    PROBE_CHECK(connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    PROBE_CHECK(send(c, "stats\n", 6, MSG_NOSIGNAL) == 6);
    char reply[16] = "";
    PROBE_CHECK(recv(c, reply, sizeof(reply) - 1, 0) > 0);
    PROBE_CHECK(strncmp(reply, "ok posted=", 10) == 0);
    return 0;
  }
  fprintf(stderr, "unknown probe %s\n", mode);
  return 2;
}

/* ---- main: outer process sets up, inner process runs the suite --------- */

static Suite *fake_suite(void) {
  Suite *s = suite_create("xe_fake_kernel");
  struct {
    const char *name;
    const TTest *tests[8];
  } cases[] = {
      {"drm",
       {test_version_libdrm, test_version_copy_semantics, test_unknown_ioctls,
        test_open_variants, test_einval_and_other_drivers}},
      {"subscribe",
       {test_subscribe_rules, test_set_size, test_filter_validation,
        test_filter_semantics}},
      {"read",
       {test_whole_records, test_loss, test_removal_on_last_close_only,
        test_pipe_release, test_write_rules, test_eagain_and_eof,
        test_blocking_read, test_epoll_readiness}},
      {"control",
       {test_ctl_protocol, test_fork_handoff, test_remove_and_restore,
        test_remove_into_full_ring, test_stats}},
      {"environment",
       {test_watch_queue_off, test_children_not_faked, test_low_fds_left_alone,
        test_pipe_user_pages_soft}},
      {"fork", {test_fork_child_closes_inherited, test_fork_child_keeps_file}},
      {"fixture",
       {test_procfs_fixture, test_fstat, test_client_close_after,
        test_open_notifies_inotify}},
      {"clients",
       {test_remote_file, test_remote_owner_closes, test_remote_kept_by_our_dup,
        test_remote_sigkill, test_remote_shared_by_fork, test_ctl_clients,
        test_swap_getfd, test_xe_inject_clients}},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    TCase *tc = tcase_create(cases[i].name);
    tcase_add_checked_fixture(tc, claim_ctl, NULL);
    for (size_t j = 0; j < 8 && cases[i].tests[j]; j++)
      tcase_add_test(tc, cases[i].tests[j]);
    suite_add_tcase(s, tc);
  }
  return s;
}

static int inner(void) {
  if (dlsym(RTLD_DEFAULT, "xe_fake_present") == NULL) {
    fprintf(stderr, "test_fake: not running under libxefake.so\n");
    return 99;
  }
  set_paths(getenv("XE_FAKE_TEST_DIR"));
  fake_lib = getenv("XE_FAKE_TEST_LIB");
  SRunner *sr = srunner_create(fake_suite());
  srunner_run_all(sr, CK_ENV); /* CK_VERBOSITY=verbose lists each test */
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}

static bool find_fake(char *out, size_t outsz) {
  Dl_info info;
  void *sym = dlsym(RTLD_DEFAULT, "xe_fake_present");
  char cand[PATH_MAX];
  if (sym && dladdr(sym, &info) && info.dli_fname)
    snprintf(cand, sizeof(cand), "%s", info.dli_fname);
  else if (getenv("XE_FAKE_LIB"))
    snprintf(cand, sizeof(cand), "%s", getenv("XE_FAKE_LIB"));
  else {
    /* Next to this binary, or where libtool puts it (.libs/). */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
      return false;
    exe[n] = '\0';
    const char *d = dirname(exe);
    snprintf(cand, sizeof(cand), "%s/libxefake.so", d);
    if (access(cand, R_OK) != 0)
      snprintf(cand, sizeof(cand), "%s/.libs/libxefake.so", d);
  }
  return outsz >= PATH_MAX && realpath(cand, out) != NULL;
}

/* An ASan-built test needs the ASan runtime first in LD_PRELOAD. */
static void asan_first(char *preload, size_t sz, const char *fake) {
  const char *cur = getenv("LD_PRELOAD");
  Dl_info info;
  void *asan = dlsym(RTLD_DEFAULT, "__asan_init");
  bool need_asan = asan && dladdr(asan, &info) && info.dli_fname &&
                   strstr(info.dli_fname, "libasan") &&
                   !(cur && strstr(cur, "libasan"));
  snprintf(preload, sz, "%s%s%s%s%s", need_asan ? info.dli_fname : "",
           need_asan ? ":" : "", cur ? cur : "", cur && *cur ? ":" : "", fake);
}

static int outer(void) {
  char lib[PATH_MAX];
  if (!find_fake(lib, sizeof(lib))) {
    fprintf(stderr, "test_fake: cannot find libxefake.so (set XE_FAKE_LIB)\n");
    return 99;
  }
  char tmpl[] = "/tmp/xe-fake-test.XXXXXX";
  if (mkdtemp(tmpl) == NULL) {
    perror("test_fake: mkdtemp");
    return 99;
  }
  set_paths(tmpl);
  char table[PATH_MAX], sock[PATH_MAX];
  snprintf(table, sizeof(table), "%s/devices", tmpl);
  snprintf(sock, sizeof(sock), "%s/ctl.sock", tmpl);
  FILE *fp = fopen(table, "we");
  if (fp == NULL) {
    perror("test_fake: devices");
    return 99;
  }
  fprintf(fp,
          "# written by test_fake\n"
          "%s driver=xe pdev=0000:03:00.0\n"
          "%s state=einval   # an xe kernel without the RFC\n"
          "%s driver=i915\n"
          "%s state=absent\n"
          "%s\n"
          "%s pdev=0000:03:00.0\n"
          "%s\n",
          NODE_XE, node_einval, node_i915, node_absent, node_xe2, node_card,
          node_nonum);
  fclose(fp);
  mkdir(procroot, 0755);

  char preload[3 * PATH_MAX];
  asan_first(preload, sizeof(preload), lib);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("XE_FAKE_DEVICES", table, 1);
    setenv("XE_FAKE_CTL", sock, 1);
    setenv("XE_FAKE_TEST_DIR", tmpl, 1);
    setenv("XE_FAKE_TEST_LIB", lib, 1);
    setenv("XE_FAKE_PROCROOT", procroot, 1);
    setenv("LD_PRELOAD", preload, 1);
    unsetenv("XE_FAKE_WATCH_QUEUE");
    unsetenv("XE_FAKE_PIPE_USER_PAGES_SOFT");
    unsetenv("XE_FAKE_CGROUP");
    execl(self_exe, "test_fake", (char *)NULL);
    perror("test_fake: exec");
    _exit(99);
  }
  int status = 99;
  if (pid < 0 || waitpid(pid, &status, 0) != pid)
    status = 99 << 8;
  unlink(table);
  unlink(sock);
  snprintf(sock, sizeof(sock), "%s/probe.sock", tmpl);
  unlink(sock);
  rm_rf(procroot); /* and what a SIGKILLed client left there */
  rmdir(tmpl);
  if (WIFSIGNALED(status)) {
    fprintf(stderr, "test_fake: killed by signal %d\n", WTERMSIG(status));
    return 99;
  }
  return WEXITSTATUS(status);
}

int main(int argc, char **argv) {
  /* argv[0] when it is a path: under valgrind /proc/self/exe is the tool. */
  if (!(strchr(argv[0], '/') && realpath(argv[0], self_exe))) {
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
    self_exe[n > 0 ? n : 0] = '\0';
  }
  /* The helper programs live next to us (or say where with env). */
  char base[PATH_MAX];
  snprintf(base, sizeof(base), "%s", self_exe);
  const char *bin = dirname(base);
  const char *env = getenv("XE_CLIENT");
  snprintf(xe_client, sizeof(xe_client), "%s", env ? env : "");
  if (env == NULL)
    snprintf(xe_client, sizeof(xe_client), "%.*s/xe-client", PATH_MAX - 16,
             bin);
  env = getenv("XE_INJECT");
  snprintf(xe_inject, sizeof(xe_inject), "%s", env ? env : "");
  if (env == NULL)
    snprintf(xe_inject, sizeof(xe_inject), "%.*s/xe-inject", PATH_MAX - 16,
             bin);
  if (argc == 3 && strcmp(argv[1], "--probe") == 0)
    return probe(argv[2]);
  if (getenv("XE_FAKE_TEST_DIR"))
    return inner();
  return outer();
}
