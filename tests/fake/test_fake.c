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
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
    node_xe2[PATH_MAX];
static const char *fake_lib;
static char self_exe[PATH_MAX]; /* this binary, to re-execute */

/* ---- helpers ----------------------------------------------------------- */

static void set_paths(const char *d) {
  snprintf(dir, sizeof(dir), "%s", d);
  snprintf(node_einval, sizeof(node_einval), "%s/renderD129", d);
  snprintf(node_i915, sizeof(node_i915), "%s/renderD130", d);
  snprintf(node_absent, sizeof(node_absent), "%s/renderD131", d);
  snprintf(node_xe2, sizeof(node_xe2), "%s/renderD132", d);
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

  ck_assert_int_eq(subscribe(drm, drm, 1), EBADF);       /* not a pipe */
  ck_assert_int_eq(subscribe(drm, 4000, 1), EBADF);      /* no such fd */
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
  uint8_t buf[64];
  ck_assert_int_eq(read(np[0], buf, sizeof(buf)), 8);
  assert_meta(buf, WATCH_META_REMOVAL_NOTIFICATION, 8u | 3u << 8);
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
  ck_assert_int_eq(close(old), 0);
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
        test_stats}},
      {"environment",
       {test_watch_queue_off, test_children_not_faked, test_low_fds_left_alone,
        test_pipe_user_pages_soft}},
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
          "%s\n",
          NODE_XE, node_einval, node_i915, node_absent, node_xe2);
  fclose(fp);

  char preload[3 * PATH_MAX];
  asan_first(preload, sizeof(preload), lib);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("XE_FAKE_DEVICES", table, 1);
    setenv("XE_FAKE_CTL", sock, 1);
    setenv("XE_FAKE_TEST_DIR", tmpl, 1);
    setenv("XE_FAKE_TEST_LIB", lib, 1);
    setenv("LD_PRELOAD", preload, 1);
    unsetenv("XE_FAKE_WATCH_QUEUE");
    unsetenv("XE_FAKE_PIPE_USER_PAGES_SOFT");
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
  if (argc == 3 && strcmp(argv[1], "--probe") == 0)
    return probe(argv[2]);
  if (getenv("XE_FAKE_TEST_DIR"))
    return inner();
  return outer();
}
