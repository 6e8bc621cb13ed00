/* SPDX-License-Identifier: MIT */
/*
 * xw-probe.c - asserts every kernel behaviour xe_watch relies on (DESIGN.md
 * §1-2, REALKERNEL.md), against whichever kernel it runs on: the patched
 * Linux with the test driver "xe" in a QEMU guest, or tests/fake's
 * libxefake.so on the host. One set of checks, two backends for what only
 * a test can do (post a record, unplug and replug the GPU, read fdinfo), so
 * the fake is held to what the real kernel does.
 *
 * xw-probe [--backend kernel|fake] [--uapi 1|2] [CHECK...]
 * The backend defaults to "fake" when $XE_FAKE_CTL is set, else "kernel".
 * --uapi 2 uses the RFC v2 watch ioctl number (the test driver booted with
 * xe.uapi=2).
 * Prints "ok - NAME" or "not ok - NAME: why" per check, then
 * "# N passed, M failed"; exits 1 when a check failed, 77 when the kernel
 * has no watch queue or no xe device.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xf86drm.h>

#include "xe_watch_uapi.h"

/* ---- reporting ----------------------------------------------------------- */

static int passed, failed;
static char why[512];

/* Records why the current check failed and makes it return false. */
#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fail_at(__LINE__, __VA_ARGS__);                                          \
      return false;                                                            \
    }                                                                          \
  } while (0)

__attribute__((format(printf, 2, 3))) static void
fail_at(int line, const char *fmt, ...) {
  va_list ap;
  int n = snprintf(why, sizeof(why), "line %d: ", line);
  va_start(ap, fmt);
  vsnprintf(why + n, sizeof(why) - (size_t)n, fmt, ap);
  va_end(ap);
}

/* ---- backends: what only a test can make the kernel do ------------------- */

struct backend {
  const char *name;
  /* Finds the xe node; false when there is none. */
  bool (*setup)(void);
  /* Posts COUNT VM_ERR records to the DRM file with drm-client-id CLIENT
   * (ours or another process's); 0 or -errno. */
  int (*vm_err)(unsigned long long client, uint32_t vm_id, int32_t error_code,
                unsigned count);
  /* Posts one xe record of an unknown SUBTYPE to the DRM file behind FD. */
  int (*unknown)(int fd, unsigned subtype);
  /* Unplugs the GPU (as PCI remove does) and plugs it back in. */
  int (*unplug)(void);
  int (*replug)(void);
  /* Path of FD's fdinfo, as the plugin would read it. */
  void (*fdinfo_path)(int fd, char *buf, size_t size);
};

static char node[PATH_MAX]; /* the xe render node */
static char pdev[64];       /* its PCI slot, "" if unknown */

static bool read_text(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  if (n < 0)
    return false;
  buf[n] = '\0';
  return true;
}

static int write_text(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  ssize_t n = write(fd, text, strlen(text));
  int err = n < 0 ? -errno : 0;
  close(fd);
  return err;
}

/* Value of KEY ("drm-client-id") in an fdinfo text, or NULL. */
static const char *fdinfo_value(const char *text, const char *key, char *buf,
                                size_t size) {
  size_t len = strlen(key);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p) {
    if (strncmp(p, key, len) == 0 && p[len] == ':') {
      p += len + 1;
      p += strspn(p, " \t");
      size_t n = strcspn(p, "\n");
      snprintf(buf, size, "%.*s", (int)n, p);
      return buf;
    }
  }
  return NULL;
}

static const struct backend *be;

static unsigned long long client_id(int fd) {
  char path[PATH_MAX], text[4096], v[64];
  be->fdinfo_path(fd, path, sizeof(path));
  if (!read_text(path, text, sizeof(text)) ||
      !fdinfo_value(text, "drm-client-id", v, sizeof(v)))
    return 0;
  return strtoull(v, NULL, 10);
}

static bool is_xe(int fd) {
  drmVersionPtr v = drmGetVersion(fd);
  bool xe = v && strcmp(v->name, "xe") == 0;
  drmFreeVersion(v);
  return xe;
}

/* -- the real kernel: the test driver's debugfs controls and PCI sysfs -- */

#define XE_DEBUGFS "/sys/kernel/debug/xe_test"

static void kernel_fdinfo_path(int fd, char *buf, size_t size) {
  snprintf(buf, size, "/proc/self/fdinfo/%d", fd);
}

/* The first render node whose driver is xe, and its PCI slot. */
static bool kernel_find_node(void) {
  DIR *d = opendir("/dev/dri");
  struct dirent *de;
  bool found = false;
  while (d && !found && (de = readdir(d))) {
    if (strncmp(de->d_name, "renderD", 7) != 0)
      continue;
    snprintf(node, sizeof(node), "/dev/dri/%s", de->d_name);
    int fd = open(node, O_RDWR | O_CLOEXEC);
    found = fd >= 0 && is_xe(fd);
    if (fd >= 0)
      close(fd);
    if (found) {
      char link[PATH_MAX], target[PATH_MAX];
      snprintf(link, sizeof(link), "/sys/class/drm/%s/device", de->d_name);
      ssize_t n = readlink(link, target, sizeof(target) - 1);
      target[n > 0 ? n : 0] = '\0';
      const char *slash = strrchr(target, '/');
      snprintf(pdev, sizeof(pdev), "%.63s", slash ? slash + 1 : target);
    }
  }
  if (d)
    closedir(d);
  return found;
}

static bool kernel_setup(void) { return kernel_find_node(); }

static int kernel_vm_err(unsigned long long client, uint32_t vm_id,
                         int32_t error_code, unsigned count) {
  char line[128];
  snprintf(line, sizeof(line), "client:%llu %u %d %u\n", client, vm_id,
           error_code, count);
  return write_text(XE_DEBUGFS "/vm_err", line);
}

static int kernel_unknown(int fd, unsigned subtype) {
  char line[128];
  snprintf(line, sizeof(line), "client:%llu %u\n", client_id(fd), subtype);
  return write_text(XE_DEBUGFS "/unknown", line);
}

static int kernel_unplug(void) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/remove", pdev);
  return write_text(path, "1");
}

static int kernel_replug(void) {
  int err = write_text("/sys/bus/pci/rescan", "1");
  if (err)
    return err;
  /* A new DRM device: the old minor stays taken while files are open. */
  return kernel_find_node() ? 0 : -ENODEV;
}

static const struct backend kernel_backend = {
    .name = "kernel",
    .setup = kernel_setup,
    .vm_err = kernel_vm_err,
    .unknown = kernel_unknown,
    .unplug = kernel_unplug,
    .replug = kernel_replug,
    .fdinfo_path = kernel_fdinfo_path,
};

/* -- tests/fake: its control socket and procfs fixture -- */

static int ctl_fd = -1;

/* Sends one command line; 0 on "ok", -EIO on "err". */
__attribute__((format(printf, 1, 2))) static int fake_ctl(const char *fmt,
                                                          ...) {
  char line[256], reply[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line) - 1, fmt, ap);
  va_end(ap);
  strcat(line, "\n");
  if (ctl_fd < 0) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", getenv("XE_FAKE_CTL"));
    ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ctl_fd < 0 || connect(ctl_fd, (struct sockaddr *)&sa, sizeof(sa)))
      return -errno;
  }
  if (write(ctl_fd, line, strlen(line)) < 0)
    return -errno;
  size_t n = 0;
  while (n < sizeof(reply) - 1) {
    ssize_t r = read(ctl_fd, reply + n, 1);
    if (r <= 0)
      return -EIO;
    if (reply[n++] == '\n')
      break;
  }
  reply[n] = '\0';
  return strncmp(reply, "ok", 2) == 0 ? 0 : -EIO;
}

static void fake_fdinfo_path(int fd, char *buf, size_t size) {
  snprintf(buf, size, "%s/%d/fdinfo/%d", getenv("XE_FAKE_PROCROOT"),
           (int)getpid(), fd);
}

/* The first xe node of the device table (present, not einval). */
static bool fake_setup(void) {
  const char *table = getenv("XE_FAKE_DEVICES");
  char line[512];
  FILE *f = table ? fopen(table, "re") : NULL;
  bool found = false;
  while (f && !found && fgets(line, sizeof(line), f)) {
    char path[PATH_MAX], *hash = strchr(line, '#');
    if (hash)
      *hash = '\0';
    if (sscanf(line, "%4095s", path) != 1)
      continue;
    if (strstr(line, "state=") ||
        (strstr(line, "driver=") && !strstr(line, "driver=xe")))
      continue;
    snprintf(node, sizeof(node), "%s", path);
    const char *p = strstr(line, "pdev=");
    if (p)
      sscanf(p + 5, "%63s", pdev);
    found = true;
  }
  if (f)
    fclose(f);
  return found && getenv("XE_FAKE_CTL") && getenv("XE_FAKE_PROCROOT");
}

static int fake_vm_err(unsigned long long client, uint32_t vm_id,
                       int32_t error_code, unsigned count) {
  return fake_ctl("vm_err_client %llu %u %d %u", client, vm_id, error_code,
                  count);
}

static int fake_unknown(int fd, unsigned subtype) {
  (void)fd; /* the fake posts per node; the checks hold one file at a time */
  return fake_ctl("record %s 2 %u 0000000000000000", node, subtype);
}

static int fake_unplug(void) { return fake_ctl("remove %s", node); }

static int fake_replug(void) { return fake_ctl("restore %s", node); }

static const struct backend fake_backend = {
    .name = "fake",
    .setup = fake_setup,
    .vm_err = fake_vm_err,
    .unknown = fake_unknown,
    .unplug = fake_unplug,
    .replug = fake_replug,
    .fdinfo_path = fake_fdinfo_path,
};

/* ---- helpers ---------------------------------------------------------------
 */

static int open_node(void) { return open(node, O_RDWR | O_CLOEXEC); }

/* A notification pipe (non-blocking read end), sized unless NOTES is 0. */
static bool make_np(int fds[2], unsigned notes) {
  if (pipe2(fds, O_NOTIFICATION_PIPE | O_CLOEXEC | O_NONBLOCK))
    return false;
  return notes == 0 || ioctl(fds[0], IOC_WATCH_QUEUE_SET_SIZE, notes) == 0;
}

static void close_np(int fds[2]) {
  close(fds[0]);
  close(fds[1]);
}

/* The watch ioctl's number: the RFC v1 one, or v2's (--uapi 2). */
static int uapi = 1;
#define WATCH_IOCTL_V2                                                         \
  _IOW(DRM_IOCTL_BASE, DRM_COMMAND_BASE + 0x11, struct drm_xe_watch_queue)

/* The watch ioctl; 0 or -errno. */
static int watch(int drm, int pipe_fd, unsigned id, unsigned flags,
                 unsigned pad) {
  struct drm_xe_watch_queue w = {
      .fd = (__u32)pipe_fd, .watch_id = id, .flags = flags, .pad = pad};
  unsigned long cmd = uapi == 2 ? WATCH_IOCTL_V2 : DRM_IOCTL_XE_WATCH_QUEUE;
  return ioctl(drm, cmd, &w) ? -errno : 0;
}

/* read() into BUF; bytes or -errno. */
static ssize_t rd(int fd, void *buf, size_t size) {
  ssize_t n = read(fd, buf, size);
  return n < 0 ? -errno : n;
}

static struct watch_notification hdr(const uint8_t *p) {
  struct watch_notification h;
  memcpy(&h, p, sizeof(h));
  return h;
}

static bool is_vm_err(const uint8_t *p, unsigned id, uint32_t vm,
                      int32_t code) {
  struct drm_xe_watch_notification_vm_err r;
  memcpy(&r, p, sizeof(r));
  return r.base.type == WATCH_TYPE_DRM_XE_NOTIFY &&
         r.base.subtype == DRM_XE_WATCH_EVENT_VM_ERR &&
         r.base.info == (16u | id << 8) && r.vm_id == vm &&
         r.error_code == code;
}

static bool is_meta(const uint8_t *p, unsigned subtype, unsigned id) {
  struct watch_notification h = hdr(p);
  return h.type == WATCH_TYPE_META && h.subtype == subtype &&
         h.info == (8u | id << 8);
}

static bool readable(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Records the fake delivers through its control thread arrive at once in
 * the kernel and within milliseconds in the fake: wait for readability. */
static bool wait_readable(int fd, int ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, ms) == 1;
}

/* ---- the checks ------------------------------------------------------------
 */

static bool check_version(void) {
  int drm = open_node();
  CHECK(drm >= 0, "open %s: %s", node, strerror(errno));
  CHECK(is_xe(drm), "drmGetVersion of %s does not say xe", node);
  close(drm);
  return true;
}

static bool check_set_size(void) {
  int fds[2];
  CHECK(make_np(fds, 0), "pipe2(O_NOTIFICATION_PIPE): %s", strerror(errno));
  errno = 0;
  CHECK(ioctl(fds[0], IOC_WATCH_QUEUE_SET_SIZE, 0) == -1 && errno == EINVAL,
        "SET_SIZE 0: %s, not EINVAL", strerror(errno));
  errno = 0;
  CHECK(ioctl(fds[0], IOC_WATCH_QUEUE_SET_SIZE, 513) == -1 && errno == EINVAL,
        "SET_SIZE 513: %s, not EINVAL", strerror(errno));
  CHECK(ioctl(fds[0], IOC_WATCH_QUEUE_SET_SIZE, 512) == 0, "SET_SIZE 512: %s",
        strerror(errno));
  errno = 0;
  CHECK(ioctl(fds[0], IOC_WATCH_QUEUE_SET_SIZE, 32) == -1 && errno == EBUSY,
        "second SET_SIZE: %s, not EBUSY", strerror(errno));
  close_np(fds);
  return true;
}

static bool check_vm_err_record(void) {
  uint8_t buf[128];
  int fds[2], drm = open_node();
  CHECK(drm >= 0 && make_np(fds, 32), "set-up: %s", strerror(errno));
  CHECK(watch(drm, fds[0], 7, 0, 0) == 0, "subscribe: %s", strerror(errno));
  CHECK(be->vm_err(client_id(drm), 3, -ENOMEM, 1) == 0, "inject VM_ERR");
  CHECK(wait_readable(fds[0], 2000), "no record");
  ssize_t n = rd(fds[0], buf, sizeof(buf));
  CHECK(n == 16, "read gave %zd, not one 16-byte record", n);
  CHECK(is_vm_err(buf, 7, 3, -ENOMEM),
        "record is not VM_ERR(info 0x710, "
        "vm 3, -ENOMEM): info %#x",
        hdr(buf).info);
  close(drm);
  close_np(fds);
  return true;
}

static bool check_never_sized(void) {
  uint8_t buf[128];
  int fds[2], drm = open_node();
  CHECK(drm >= 0 && make_np(fds, 0), "set-up: %s", strerror(errno));
  CHECK(watch(drm, fds[0], 1, 0, 0) == 0, "subscribing an unsized pipe: %s",
        strerror(errno));
  CHECK(be->vm_err(client_id(drm), 1, -ENOSPC, 3) == 0, "inject VM_ERR");
  CHECK(!wait_readable(fds[0], 300), "an unsized pipe became readable");
  ssize_t n = rd(fds[0], buf, sizeof(buf));
  CHECK(n == -EAGAIN, "read gave %zd, not EAGAIN (records and LOSS vanish)", n);
  close(drm);
  close_np(fds);
  return true;
}

static bool check_whole_records(void) {
  uint8_t buf[128];
  int fds[2], drm = open_node();
  CHECK(drm >= 0 && make_np(fds, 32), "set-up: %s", strerror(errno));
  CHECK(watch(drm, fds[0], 2, 0, 0) == 0, "subscribe: %s", strerror(errno));
  CHECK(be->vm_err(client_id(drm), 9, -EFAULT, 3) == 0, "inject VM_ERR");
  CHECK(wait_readable(fds[0], 2000), "no record");
  ssize_t n = rd(fds[0], buf, 15);
  CHECK(n == -ENOBUFS, "read(15) gave %zd, not ENOBUFS", n);
  n = rd(fds[0], buf, 40);
  CHECK(n == 32, "read(40) gave %zd, not two whole records", n);
  CHECK(is_vm_err(buf, 2, 9, -EFAULT) && is_vm_err(buf + 16, 2, 9, -EFAULT),
        "not two VM_ERR records");
  n = rd(fds[0], buf, sizeof(buf));
  CHECK(n == 16, "third record: %zd", n);
  close(drm);
  close_np(fds);
  return true;
}

static bool check_loss_next_read(void) {
  uint8_t buf[4096];
  int fds[2], drm = open_node();
  CHECK(drm >= 0 && make_np(fds, 1), "set-up: %s", strerror(errno));
  CHECK(watch(drm, fds[0], 5, 0, 0) == 0, "subscribe: %s", strerror(errno));
  /* 1 note rounds up to a page of 32: the last 8 of 40 are dropped. */
  CHECK(be->vm_err(client_id(drm), 1, -ENOMEM, 40) == 0, "inject VM_ERR");
  CHECK(wait_readable(fds[0], 2000), "no record");
  ssize_t n = rd(fds[0], buf, sizeof(buf));
  CHECK(n == (ssize_t)(32 * 16), "first read gave %zd bytes, not 32 records",
        n);
  for (int i = 0; i < 32; i++)
    CHECK(is_vm_err(buf + 16 * i, 5, 1, -ENOMEM), "record %d not VM_ERR", i);
  CHECK(!readable(fds[0]), "poll announced the pending LOSS record alone");
  n = rd(fds[0], buf, sizeof(buf));
  CHECK(n == 8, "second read gave %zd, not the 8-byte LOSS record", n);
  CHECK(is_meta(buf, WATCH_META_LOSS_NOTIFICATION, 0),
        "not META/LOSS with watch id 0: info %#x", hdr(buf).info);
  n = rd(fds[0], buf, sizeof(buf));
  CHECK(n == -EAGAIN, "third read gave %zd, not EAGAIN", n);
  close(drm);
  close_np(fds);
  return true;
}

static bool check_loss_same_read(void) {
  uint8_t buf[4096];
  int fds[2], drm = open_node();
  CHECK(drm >= 0 && make_np(fds, 1), "set-up: %s", strerror(errno));
  CHECK(watch(drm, fds[0], 5, 0, 0) == 0, "subscribe: %s", strerror(errno));
  CHECK(be->vm_err(client_id(drm), 1, -ENOMEM, 33) == 0, "inject VM_ERR");
  CHECK(wait_readable(fds[0], 2000), "no record");
  ssize_t n = rd(fds[0], buf, 31 * 16);
  CHECK(n == (ssize_t)(31 * 16), "read gave %zd, not 31 records", n);
  CHECK(be->vm_err(client_id(drm), 2, -ENOSPC, 1) == 0, "inject VM_ERR");
  /* The 32nd record carries the mark; a record follows it: same read. */
  n = rd(fds[0], buf, sizeof(buf));
  CHECK(n == (ssize_t)(16 + 8 + 16),
        "read gave %zd, not VM_ERR + LOSS + VM_ERR", n);
  CHECK(is_vm_err(buf, 5, 1, -ENOMEM), "first is not the marked VM_ERR");
  CHECK(is_meta(buf + 16, WATCH_META_LOSS_NOTIFICATION, 0),
        "LOSS does not follow the marked record: info %#x", hdr(buf + 16).info);
  CHECK(is_vm_err(buf + 24, 5, 2, -ENOSPC), "last is not the new VM_ERR");
  close(drm);
  close_np(fds);
  return true;
}

static bool check_write_exdev(void) {
  int fds[2];
  CHECK(make_np(fds, 32), "set-up: %s", strerror(errno));
  errno = 0;
  CHECK(write(fds[1], "x", 1) == -1 && errno == EXDEV,
        "write on a notification pipe: %s, not EXDEV", strerror(errno));
  close_np(fds);
  return true;
}

static struct watch_notification_filter *filter(unsigned n) {
  struct watch_notification_filter *f =
      calloc(1, sizeof(*f) + n * sizeof(f->filters[0]));
  if (f)
    f->nr_filters = n;
  return f;
}

/* A pipe filtered to TYPE (with subtype bit SUBTYPE); then VM_ERR and an
 * unknown-subtype record are posted: which arrive? */
static bool filtered(unsigned type, unsigned subtype, bool *got_vm_err,
                     bool *got_unknown, int *set_filter_err) {
  uint8_t buf[256];
  int fds[2], drm = open_node();
  struct watch_notification_filter *f = filter(1);
  *got_vm_err = *got_unknown = false;
  if (drm < 0 || !f || !make_np(fds, 32))
    return false;
  f->filters[0].type = type;
  f->filters[0].subtype_filter[0] = 1u << subtype;
  *set_filter_err =
      ioctl(fds[0], IOC_WATCH_QUEUE_SET_FILTER, f) == 0 ? 0 : errno;
  free(f);
  bool ok = watch(drm, fds[0], 4, 0, 0) == 0 &&
            be->vm_err(client_id(drm), 1, -ENOMEM, 1) == 0 &&
            be->unknown(drm, 5) == 0;
  wait_readable(fds[0], 300);
  ssize_t n = rd(fds[0], buf, sizeof(buf));
  for (ssize_t off = 0; off + 8 <= n; off += hdr(buf + off).info & 0x7f) {
    if ((hdr(buf + off).info & 0x7f) < 8)
      break;
    if (hdr(buf + off).type == WATCH_TYPE_DRM_XE_NOTIFY)
      *(hdr(buf + off).subtype == 0 ? got_vm_err : got_unknown) = true;
  }
  close(drm);
  close_np(fds);
  return ok;
}

static bool check_filter(void) {
  bool vm, unk;
  int err;
  CHECK(filtered(WATCH_TYPE_DRM_XE_NOTIFY, 0, &vm, &unk, &err), "set-up");
  CHECK(err == 0 && vm && !unk, "filter xe/VM_ERR: err %d vm_err %d other %d",
        err, vm, unk);
  CHECK(filtered(WATCH_TYPE_DRM_XE_NOTIFY, 5, &vm, &unk, &err), "set-up");
  CHECK(err == 0 && !vm && unk, "filter xe/5: err %d vm_err %d other %d", err,
        vm, unk);
  /* A type the kernel does not know is dropped silently: nothing passes. */
  CHECK(filtered(7, 0, &vm, &unk, &err), "set-up");
  CHECK(err == 0, "filter on unknown type 7: %s, not silently dropped",
        strerror(err));
  CHECK(!vm && !unk, "records passed a filter of unknown types only");
  return true;
}

static bool check_removal_passes_filter(void) {
  uint8_t buf[64];
  int fds[2], drm = open_node();
  struct watch_notification_filter *f = filter(1);
  CHECK(drm >= 0 && f && make_np(fds, 32), "set-up: %s", strerror(errno));
  f->filters[0].type = WATCH_TYPE_KEY_NOTIFY;
  f->filters[0].subtype_filter[0] = ~0u;
  CHECK(ioctl(fds[0], IOC_WATCH_QUEUE_SET_FILTER, f) == 0, "SET_FILTER: %s",
        strerror(errno));
  free(f);
  CHECK(watch(drm, fds[0], 9, 0, 0) == 0, "subscribe: %s", strerror(errno));
  close(drm);
  CHECK(wait_readable(fds[0], 2000), "no removal record through the filter");
  ssize_t n = rd(fds[0], buf, sizeof(buf));
  CHECK(n == 8 && is_meta(buf, WATCH_META_REMOVAL_NOTIFICATION, 9),
        "read gave %zd bytes, info %#x: not the removal of watch 9", n,
        n > 0 ? hdr(buf).info : 0);
  close_np(fds);
  return true;
}

static bool check_ebusy(void) {
  int fds[2], drm = open_node();
  CHECK(drm >= 0 && make_np(fds, 32), "set-up: %s", strerror(errno));
  CHECK(watch(drm, fds[0], 1, 0, 0) == 0, "subscribe: %s", strerror(errno));
  int err = watch(drm, fds[0], 2, 0, 0);
  CHECK(err == -EBUSY, "second watch, other id: %s, not EBUSY", strerror(-err));
  int dup_fd = fcntl(drm, F_DUPFD_CLOEXEC, 0);
  err = watch(dup_fd, fds[0], 1, 0, 0);
  CHECK(err == -EBUSY, "second watch through a dup: %s, not EBUSY",
        strerror(-err));
  close(dup_fd);
  /* Another DRM file may share the pipe. */
  int drm2 = open_node();
  CHECK(watch(drm2, fds[0], 2, 0, 0) == 0, "another file on the pipe: %s",
        strerror(errno));
  close(drm2);
  close(drm);
  close_np(fds);
  return true;
}

static bool check_einval(void) {
  int fds[2], plain[2], drm = open_node();
  CHECK(drm >= 0 && make_np(fds, 32) && pipe2(plain, O_CLOEXEC) == 0,
        "set-up: %s", strerror(errno));
  int err = watch(drm, fds[0], 1, 1, 0);
  CHECK(err == -EINVAL, "flags 1: %s", strerror(-err));
  err = watch(drm, fds[0], 1, 0, 1);
  CHECK(err == -EINVAL, "pad 1: %s", strerror(-err));
  err = watch(drm, fds[0], 256, 0, 0);
  CHECK(err == -EINVAL, "watch_id 256: %s", strerror(-err));
  err = watch(drm, plain[0], 1, 0, 0);
  CHECK(err == -EINVAL, "ordinary pipe: %s", strerror(-err));
  err = watch(drm, drm, 1, 0, 0);
  CHECK(err == -EINVAL, "the DRM fd itself: %s", strerror(-err));
  err = watch(drm, 1000, 1, 0, 0);
  CHECK(err == -EINVAL, "a closed fd: %s", strerror(-err));
  CHECK(watch(drm, fds[0], 255, 0, 0) == 0, "watch_id 255: %s",
        strerror(errno));
  close(drm);
  close_np(fds);
  close_np(plain);
  return true;
}

static bool check_removal_final_release(void) {
  uint8_t buf[64];
  int a[2], b[2], drm = open_node();
  CHECK(drm >= 0 && make_np(a, 32) && make_np(b, 32), "set-up: %s",
        strerror(errno));
  CHECK(watch(drm, a[0], 3, 0, 0) == 0 && watch(drm, b[0], 4, 0, 0) == 0,
        "subscribe: %s", strerror(errno));
  int dup_fd = fcntl(drm, F_DUPFD_CLOEXEC, 0);
  close(drm);
  CHECK(!wait_readable(a[0], 300), "removal while a dup is open");
  ssize_t n = rd(a[0], buf, sizeof(buf));
  CHECK(n == -EAGAIN, "read gave %zd while a dup is open", n);
  close(dup_fd);
  CHECK(wait_readable(a[0], 2000) && wait_readable(b[0], 2000),
        "no removal record after the last close");
  n = rd(a[0], buf, sizeof(buf));
  CHECK(n == 8 && is_meta(buf, WATCH_META_REMOVAL_NOTIFICATION, 3),
        "pipe a: %zd bytes, info %#x: not one 8-byte removal of watch 3", n,
        n > 0 ? hdr(buf).info : 0);
  n = rd(b[0], buf, sizeof(buf));
  CHECK(n == 8 && is_meta(buf, WATCH_META_REMOVAL_NOTIFICATION, 4),
        "pipe b: %zd bytes, info %#x: not one 8-byte removal of watch 4", n,
        n > 0 ? hdr(buf).info : 0);
  CHECK(rd(a[0], buf, sizeof(buf)) == -EAGAIN, "more than one removal");
  close_np(a);
  close_np(b);
  return true;
}

static bool check_shared_pipe_ids(void) {
  uint8_t buf[128];
  int fds[2], d1 = open_node(), d2 = open_node();
  CHECK(d1 >= 0 && d2 >= 0 && make_np(fds, 32), "set-up: %s", strerror(errno));
  CHECK(watch(d1, fds[0], 10, 0, 0) == 0 && watch(d2, fds[0], 20, 0, 0) == 0,
        "subscribe: %s", strerror(errno));
  CHECK(be->vm_err(client_id(d2), 6, -ETIME, 1) == 0, "inject VM_ERR");
  CHECK(wait_readable(fds[0], 2000), "no record");
  ssize_t n = rd(fds[0], buf, sizeof(buf));
  CHECK(n == 16 && is_vm_err(buf, 20, 6, -ETIME),
        "%zd bytes, info %#x: not only file 2's VM_ERR with id 20", n,
        n > 0 ? hdr(buf).info : 0);
  close(d1);
  close(d2);
  close_np(fds);
  return true;
}

static bool check_eof_hup(void) {
  uint8_t buf[64];
  int fds[2];
  CHECK(make_np(fds, 32), "set-up: %s", strerror(errno));
  close(fds[1]);
  ssize_t n = rd(fds[0], buf, sizeof(buf));
  CHECK(n == 0, "read after closing the write end: %zd, not EOF", n);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN}, out;
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fds[0], &ev) == 0, "epoll_ctl: %s",
        strerror(errno));
  for (int i = 0; i < 2; i++)
    CHECK(epoll_wait(ep, &out, 1, 0) == 1 && (out.events & EPOLLHUP),
          "epoll_wait %d: no EPOLLHUP", i + 1);
  close(ep);
  close(fds[0]);
  return true;
}

static bool check_epoll_edge(void) {
  int fds[2], drm = open_node();
  CHECK(drm >= 0 && make_np(fds, 32), "set-up: %s", strerror(errno));
  CHECK(watch(drm, fds[0], 1, 0, 0) == 0, "subscribe: %s", strerror(errno));
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLET}, out;
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fds[0], &ev) == 0, "epoll_ctl: %s",
        strerror(errno));
  CHECK(be->vm_err(client_id(drm), 1, -ENOMEM, 1) == 0, "inject");
  CHECK(epoll_wait(ep, &out, 1, 2000) == 1, "EPOLLET: no wake-up");
  CHECK(epoll_wait(ep, &out, 1, 100) == 0, "EPOLLET: woke twice");
  CHECK(be->vm_err(client_id(drm), 1, -ENOMEM, 1) == 0, "inject");
  CHECK(epoll_wait(ep, &out, 1, 2000) == 1, "EPOLLET: no wake-up on a post "
                                            "while unread records are queued");
  close(ep);
  close(drm);
  close_np(fds);
  return true;
}

static bool check_fdinfo(void) {
  char path[PATH_MAX], text[4096], v[128];
  int drm = open_node(), drm2 = open_node();
  CHECK(drm >= 0 && drm2 >= 0, "open: %s", strerror(errno));
  int dup_fd = fcntl(drm, F_DUPFD_CLOEXEC, 0);
  be->fdinfo_path(drm, path, sizeof(path));
  CHECK(read_text(path, text, sizeof(text)), "%s: %s", path, strerror(errno));
  CHECK(fdinfo_value(text, "drm-driver", v, sizeof(v)) && !strcmp(v, "xe"),
        "drm-driver is not xe");
  CHECK(fdinfo_value(text, "drm-client-id", v, sizeof(v)), "no drm-client-id");
  if (pdev[0])
    CHECK(fdinfo_value(text, "drm-pdev", v, sizeof(v)) && !strcmp(v, pdev),
          "drm-pdev is not %s", pdev);
  unsigned long long id = client_id(drm);
  CHECK(id != 0 && client_id(dup_fd) == id, "a dup has another client id");
  CHECK(client_id(drm2) != id && client_id(drm2) != 0,
        "two opens share client id %llu", id);
  close(dup_fd);
  close(drm);
  close(drm2);
  return true;
}

static bool check_unknown_ioctl(void) {
  int drm = open_node(), fds[2];
  CHECK(drm >= 0 && pipe2(fds, O_CLOEXEC) == 0, "set-up: %s", strerror(errno));
  struct drm_xe_watch_queue w = {.fd = (__u32)fds[0]};
  errno = 0;
  if (uapi == 1) {
    CHECK(ioctl(drm, WATCH_IOCTL_V2, &w) == -1 && errno == EINVAL,
          "an ioctl number the driver lacks: %s, not EINVAL", strerror(errno));
  } else {
    /* v1's number reaches another ioctl (VM_GET_PROPERTY): no such VM. */
    CHECK(ioctl(drm, DRM_IOCTL_XE_WATCH_QUEUE, &w) == -1 && errno == ENOENT,
          "the v1 watch ioctl on a v2 kernel: %s, not ENOENT", strerror(errno));
  }
  errno = 0;
  CHECK(ioctl(fds[0], DRM_IOCTL_XE_WATCH_QUEUE, &w) == -1 && errno == ENOTTY,
        "the watch ioctl on a pipe: %s, not ENOTTY", strerror(errno));
  close(drm);
  close_np(fds);
  return true;
}

/* The fake library this process runs under ("" on the real kernel), for
 * the workloads it starts. */
static char fake_lib[PATH_MAX];

static bool find_fake_lib(void) {
  char line[4096];
  FILE *f = fopen("/proc/self/maps", "re");
  while (f && !fake_lib[0] && fgets(line, sizeof(line), f)) {
    char *p = strchr(line, '/');
    if (p && strstr(p, "libxefake")) {
      p[strcspn(p, "\n")] = '\0';
      snprintf(fake_lib, sizeof(fake_lib), "%s", p);
    }
  }
  if (f)
    fclose(f);
  return fake_lib[0] != '\0';
}

struct workload {
  pid_t pid;
  int in;                /* its stdin: closing it ends the workload */
  unsigned long long id; /* drm-client-id of its file */
  int fd;                /* that file's fd number in the workload */
};

/* Starts tests/fake/xe-client (next to this binary's directory) holding
 * one DRM file of the node, under the fake when we run under it. */
static bool workload_start(struct workload *w) {
  char self[PATH_MAX], client[PATH_MAX + 16], line[PATH_MAX + 64];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0)
    return false;
  self[n] = '\0';
  *strrchr(self, '/') = '\0';
  snprintf(client, sizeof(client), "%s/fake/xe-client", self);
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
    return false;
  w->pid = fork();
  if (w->pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    if (fake_lib[0]) {
      setenv("LD_PRELOAD", fake_lib, 1);
      unsetenv("XE_FAKE_CTL"); /* the control socket stays ours */
    }
    execl(client, client, node, (char *)NULL);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  w->in = in[1];
  FILE *f = fdopen(out[0], "re");
  bool ok = f && fgets(line, sizeof(line), f) &&
            sscanf(line, "client %*d %llu %*s %d", &w->id, &w->fd) == 2;
  if (f)
    fclose(f);
  return ok;
}

static int workload_stop(struct workload *w) {
  int status = -1;
  close(w->in);
  waitpid(w->pid, &status, 0);
  return status;
}

/* The client-attach path: another process's DRM file, duplicated with
 * pidfd_getfd, is that same file (its client id, EBUSY on a second watch);
 * closing the duplicate releases nothing; the workload's exit does. */
static bool check_pidfd_getfd(void) {
  uint8_t buf[64];
  int fds[2];
  struct workload w;
  CHECK(make_np(fds, 32), "set-up: %s", strerror(errno));
  CHECK(workload_start(&w), "xe-client did not start");
  int pidfd = (int)syscall(SYS_pidfd_open, w.pid, 0);
  int dup_fd = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, w.fd, 0);
  CHECK(dup_fd >= 0, "pidfd_getfd: %s", strerror(errno));
  close(pidfd);
  CHECK(client_id(dup_fd) == w.id,
        "the duplicate has client id %llu, the "
        "workload's file %llu",
        client_id(dup_fd), w.id);
  CHECK(watch(dup_fd, fds[0], 8, 0, 0) == 0,
        "subscribe through the "
        "duplicate: %s",
        strerror(errno));
  int err = watch(dup_fd, fds[0], 9, 0, 0);
  CHECK(err == -EBUSY, "second watch: %s, not EBUSY", strerror(-err));
  close(dup_fd);
  CHECK(be->vm_err(w.id, 4, -ENOSPC, 1) == 0, "inject VM_ERR");
  CHECK(wait_readable(fds[0], 2000), "no VM_ERR from the workload's file");
  ssize_t n = rd(fds[0], buf, sizeof(buf));
  CHECK(n == 16 && is_vm_err(buf, 8, 4, -ENOSPC), "read gave %zd bytes", n);
  CHECK(!wait_readable(fds[0], 300),
        "a record came after closing the "
        "duplicate while the workload holds the file");
  int status = workload_stop(&w);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "xe-client ended with status %#x", status);
  CHECK(wait_readable(fds[0], 2000), "no removal when the workload exited");
  n = rd(fds[0], buf, sizeof(buf));
  CHECK(n == 8 && is_meta(buf, WATCH_META_REMOVAL_NOTIFICATION, 8),
        "read gave %zd bytes, info %#x: not the removal of watch 8", n,
        n > 0 ? hdr(buf).info : 0);
  close_np(fds);
  return true;
}

/* Last: the GPU goes away. Open files stay, ioctls give ENODEV, and no
 * removal record comes until the file's final release. */
static bool check_unplug(void) {
  uint8_t buf[64];
  int fds[2], other[2], drm = open_node();
  CHECK(drm >= 0 && make_np(fds, 32) && make_np(other, 32), "set-up: %s",
        strerror(errno));
  CHECK(watch(drm, fds[0], 6, 0, 0) == 0, "subscribe: %s", strerror(errno));
  CHECK(be->unplug() == 0, "unplug");
  CHECK(!wait_readable(fds[0], 500), "a record came at unplug");
  ssize_t n = rd(fds[0], buf, sizeof(buf));
  CHECK(n == -EAGAIN, "read after unplug gave %zd (info %#x), not EAGAIN", n,
        n > 0 ? hdr(buf).info : 0);
  int err = watch(drm, other[0], 1, 0, 0);
  CHECK(err == -ENODEV, "watch ioctl after unplug: %s, not ENODEV",
        strerror(-err));
  errno = 0;
  drmVersionPtr v = drmGetVersion(drm);
  CHECK(v == NULL, "DRM_IOCTL_VERSION works after unplug");
  close(drm);
  CHECK(wait_readable(fds[0], 2000), "no removal record at the final close");
  n = rd(fds[0], buf, sizeof(buf));
  CHECK(n == 8 && is_meta(buf, WATCH_META_REMOVAL_NOTIFICATION, 6),
        "final close after unplug: %zd bytes, info %#x", n,
        n > 0 ? hdr(buf).info : 0);
  CHECK(be->replug() == 0, "replug");
  drm = open_node();
  CHECK(drm >= 0, "open %s after replug: %s", node, strerror(errno));
  CHECK(watch(drm, other[0], 1, 0, 0) == 0, "subscribe after replug: %s",
        strerror(errno));
  CHECK(be->vm_err(client_id(drm), 2, -ENOMEM, 1) == 0, "inject after replug");
  CHECK(wait_readable(other[0], 2000), "no record after replug");
  close(drm);
  close_np(fds);
  close_np(other);
  return true;
}

static const struct {
  const char *name;
  bool (*fn)(void);
} checks[] = {
    {"version-names-xe", check_version},
    {"set-size-bounds-and-ebusy", check_set_size},
    {"vm-err-record-16-bytes", check_vm_err_record},
    {"never-sized-loses-silently", check_never_sized},
    {"whole-records-and-enobufs", check_whole_records},
    {"loss-record-on-next-read", check_loss_next_read},
    {"loss-record-in-same-read", check_loss_same_read},
    {"write-exdev", check_write_exdev},
    {"filter-drops-unknown-types", check_filter},
    {"removal-passes-any-filter", check_removal_passes_filter},
    {"ebusy-second-watch", check_ebusy},
    {"einval-bad-arguments", check_einval},
    {"removal-only-at-final-release", check_removal_final_release},
    {"shared-pipe-watch-ids", check_shared_pipe_ids},
    {"eof-and-epollhup", check_eof_hup},
    {"epoll-edge-triggered", check_epoll_edge},
    {"fdinfo-keys", check_fdinfo},
    {"unknown-ioctl-einval", check_unknown_ioctl},
    {"pidfd-getfd-same-file", check_pidfd_getfd},
    {"unplug-enodev-no-removal", check_unplug},
};

/* The fake's procfs fixture (fdinfo) needs XE_FAKE_PROCROOT before it
 * loads: set it and run again under the same preload. */
static void fake_reexec(char **argv) {
  char tmpl[] = "/tmp/xw-probe.XXXXXX";
  if (!find_fake_lib() || !mkdtemp(tmpl)) {
    fprintf(stderr, "xw-probe: libxefake is not loaded\n");
    exit(77);
  }
  const char *old = getenv("LD_PRELOAD");
  char preload[2 * PATH_MAX];
  snprintf(preload, sizeof(preload), "%s%s%s", old && *old ? old : "",
           old && *old ? ":" : "", fake_lib);
  setenv("LD_PRELOAD", preload, 1);
  setenv("XE_FAKE_PROCROOT", tmpl, 1);
  setenv("XW_PROBE_TMP", tmpl, 1);
  /* readlink, not execv("/proc/self/exe"): under valgrind that is valgrind. */
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  self[n > 0 ? n : 0] = '\0';
  execv(self, argv);
  perror("xw-probe: execv");
  exit(1);
}

int main(int argc, char **argv) {
  const char *backend = getenv("XE_FAKE_CTL") ? "fake" : "kernel";
  int first = 1;
  for (; first + 1 < argc && argv[first][0] == '-'; first += 2) {
    if (strcmp(argv[first], "--backend") == 0)
      backend = argv[first + 1];
    else if (strcmp(argv[first], "--uapi") == 0)
      uapi = atoi(argv[first + 1]);
    else
      break;
  }
  if (strcmp(backend, "fake") == 0) {
    if (!getenv("XE_FAKE_PROCROOT"))
      fake_reexec(argv);
    find_fake_lib();
    be = &fake_backend;
  } else if (strcmp(backend, "kernel") == 0) {
    be = &kernel_backend;
  } else {
    fprintf(stderr, "usage: xw-probe [--backend kernel|fake] [--uapi 1|2] "
                    "[CHECK...]\n");
    return 2;
  }

  int fds[2];
  if (pipe2(fds, O_NOTIFICATION_PIPE | O_CLOEXEC)) {
    printf("# SKIP: pipe2(O_NOTIFICATION_PIPE): %s (no CONFIG_WATCH_QUEUE)\n",
           strerror(errno));
    return 77;
  }
  close_np(fds);
  if (!be->setup()) {
    printf("# SKIP: no xe render node (%s backend)\n", be->name);
    return 77;
  }
  printf("# backend %s, uapi %d, node %s, pdev %s\n", be->name, uapi, node,
         pdev[0] ? pdev : "-");

  for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
    bool wanted = first >= argc;
    for (int a = first; a < argc; a++)
      wanted |= strcmp(argv[a], checks[i].name) == 0;
    if (!wanted)
      continue;
    why[0] = '\0';
    if (checks[i].fn()) {
      passed++;
      printf("ok - %s\n", checks[i].name);
    } else {
      failed++;
      printf("not ok - %s: %s\n", checks[i].name, why);
    }
    fflush(stdout);
  }
  printf("# %d passed, %d failed\n", passed, failed);

  const char *tmp = getenv("XW_PROBE_TMP");
  if (tmp) {
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
      fprintf(stderr, "xw-probe: could not remove %s\n", tmp);
  }
  return failed ? 1 : 0;
}
