/* SPDX-License-Identifier: MIT */
/* Device identity: open a node, check that xe drives it, name the GPU by
 * its PCI slot (from sysfs, without opening the node), explain failures. */
#include "device.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xf86drm.h>

const char *xw_errno_name(int err, char *buf, size_t len) {
  if (err < 0)
    err = -err;
  const char *name = strerrorname_np(err);
  if (name != NULL)
    return name;
  snprintf(buf, len, "E%d", err);
  return buf;
}

static void copy_name(char *out, size_t len, const char *src) {
  size_t n = strlen(src);
  if (n >= len)
    n = len - 1;
  memcpy(out, src, n);
  out[n] = '\0';
}

/* The node's own name ("renderD128"), following by-path/by-id links, for
 * devices sysfs cannot place on a PCI bus. */
static void node_name(const char *node, char *out, size_t len) {
  char resolved[PATH_MAX];
  const char *path = realpath(node, resolved) != NULL ? resolved : node;
  const char *slash = strrchr(path, '/');
  copy_name(out, len, slash != NULL ? slash + 1 : path);
}

static const char *sysfs_root = "/sys";

void xw_set_sysfs_root(const char *root) {
  sysfs_root = root != NULL ? root : "/sys";
}

const char *xw_sysfs_root(void) { return sysfs_root; }

int xw_node_rdev(const char *node, unsigned long *rdev) {
  struct stat st;
  if (stat(node, &st) != 0)
    return -errno;
  if (!S_ISCHR(st.st_mode))
    return -ENOTTY;
  *rdev = (unsigned long)st.st_rdev;
  return 0;
}

int xw_node_pci_slot(const char *node, char *out, size_t len) {
  unsigned long rdev;
  int err = xw_node_rdev(node, &rdev);
  if (err != 0)
    return err;
  char path[PATH_MAX + 16], dev[PATH_MAX], sub[PATH_MAX];
  snprintf(path, sizeof(path), "%s/dev/char/%u:%u/device", sysfs_root,
           major(rdev), minor(rdev));
  if (realpath(path, dev) == NULL)
    return -ENODEV;
  /* The device's bus: its "subsystem" link ends in /bus/pci. */
  snprintf(path, sizeof(path), "%s/subsystem", dev);
  ssize_t n = readlink(path, sub, sizeof(sub) - 1);
  if (n <= 0)
    return -ENODEV;
  sub[n] = '\0';
  const char *bus = strrchr(sub, '/');
  if (strcmp(bus != NULL ? bus + 1 : sub, "pci") != 0)
    return -ENODEV;
  const char *slash = strrchr(dev, '/');
  copy_name(out, len, slash != NULL ? slash + 1 : dev);
  return 0;
}

int xw_node_driver(const char *node, char *out, size_t len) {
  unsigned long rdev;
  int err = xw_node_rdev(node, &rdev);
  if (err != 0)
    return err;
  char path[PATH_MAX], link[PATH_MAX];
  snprintf(path, sizeof(path), "%s/dev/char/%u:%u/device/driver", sysfs_root,
           major(rdev), minor(rdev));
  ssize_t n = readlink(path, link, sizeof(link) - 1);
  if (n <= 0)
    return -ENODEV;
  link[n] = '\0';
  const char *slash = strrchr(link, '/');
  copy_name(out, len, slash != NULL ? slash + 1 : link);
  return 0;
}

/* udev's /dev/dri/by-path/pci-DDDD:BB:DD.F-render (or -card) names the GPU
 * even while the link dangles: the driver is not bound yet. */
static int by_path_slot(const char *node, char *out, size_t len) {
  const char *base = strrchr(node, '/');
  base = base != NULL ? base + 1 : node;
  unsigned dom, bus, dev, fn;
  int end = 0;
  if (sscanf(base, "pci-%4x:%2x:%2x.%1u-%n", &dom, &bus, &dev, &fn, &end) !=
          4 ||
      end != 17 ||
      (strcmp(base + end, "render") != 0 && strcmp(base + end, "card") != 0))
    return -EINVAL;
  snprintf(out, len, "%.12s", base + 4);
  return 0;
}

void xw_node_display_name(const char *node, char *out, size_t len) {
  if (xw_node_pci_slot(node, out, len) != 0 &&
      by_path_slot(node, out, len) != 0)
    node_name(node, out, len);
}

static void device_name(int fd, const char *node, char *out, size_t len) {
  drmDevicePtr dev = NULL;
  if (drmGetDevice2(fd, 0, &dev) == 0 && dev != NULL &&
      dev->bustype == DRM_BUS_PCI && dev->businfo.pci != NULL) {
    const drmPciBusInfo *pci = dev->businfo.pci;
    snprintf(out, len, "%04x:%02x:%02x.%u", pci->domain, pci->bus, pci->dev,
             pci->func);
  } else {
    node_name(node, out, len);
  }
  drmFreeDevice(&dev);
}

int xw_device_open(const char *node, struct xw_identity *id,
                   enum xw_stage *stage) {
  memset(id, 0, sizeof(*id));
  int fd = open(node, O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    *stage = XW_STAGE_OPEN;
    return -errno;
  }

  errno = 0;
  drmVersionPtr v = drmGetVersion(fd);
  if (v == NULL) {
    int err = errno != 0 ? errno : ENOTTY;
    close(fd);
    *stage = XW_STAGE_VERSION;
    return -err;
  }
  snprintf(id->driver, sizeof(id->driver), "%.*s", v->name_len, v->name);
  drmFreeVersion(v);
  if (strcmp(id->driver, "xe") != 0) {
    close(fd);
    *stage = XW_STAGE_DRIVER;
    return -ENODEV;
  }

  device_name(fd, node, id->name, sizeof(id->name));
  *stage = XW_STAGE_NONE;
  return fd;
}

bool xw_device_gone(int fd) {
  errno = 0;
  drmVersionPtr v = drmGetVersion(fd);
  if (v != NULL) {
    drmFreeVersion(v);
    return false;
  }
  return errno == ENODEV;
}

const char *xw_failure_text(enum xw_stage stage, int err, const char *driver,
                            int notes, char *buf, size_t len) {
  char nb[16];
  const char *en = xw_errno_name(err, nb, sizeof(nb));
  const char *es = strerror(err < 0 ? -err : err);
  if (err < 0)
    err = -err;

  switch (stage) {
  case XW_STAGE_OPEN:
    if (err == ENOENT || err == ENXIO || err == ENODEV)
      snprintf(buf, len,
               "no such device node (%s): check the path and that the xe "
               "driver is loaded",
               en);
    else if (err == EACCES || err == EPERM)
      snprintf(buf, len,
               "permission denied opening the node (%s); run collectd as "
               "root or as a member of the node's group (usually 'render')",
               en);
    else
      snprintf(buf, len, "cannot open the node: %s (%s)", en, es);
    break;
  case XW_STAGE_VERSION:
    snprintf(buf, len,
             "not a DRM device: DRM_IOCTL_VERSION failed with %s (%s); "
             "point Device at a /dev/dri card or render node",
             en, es);
    break;
  case XW_STAGE_DRIVER:
    snprintf(buf, len,
             "driven by '%s', not 'xe'; only xe devices have watch queues, "
             "remove this Device",
             driver != NULL && *driver ? driver : "an unknown driver");
    break;
  case XW_STAGE_PIPE:
    if (err == ENOPKG)
      snprintf(buf, len,
               "the kernel has no watch queue support (CONFIG_WATCH_QUEUE is "
               "not set): pipe2(O_NOTIFICATION_PIPE) failed with ENOPKG; "
               "boot a kernel built with CONFIG_WATCH_QUEUE=y");
    else
      snprintf(buf, len, "cannot create a notification pipe: %s (%s)", en, es);
    break;
  case XW_STAGE_SIZE:
    if (err == EPERM)
      snprintf(buf, len,
               "cannot size the notification pipe to %d notes: EPERM; the "
               "user is over fs.pipe-user-pages-soft: raise that sysctl or "
               "lower QueueSize",
               notes);
    else
      snprintf(buf, len,
               "cannot size the notification pipe to %d notes: %s "
               "(%s)",
               notes, en, es);
    break;
  case XW_STAGE_SUBSCRIBE:
    if (err == EINVAL || err == ENOTTY)
      snprintf(buf, len,
               "this xe kernel has no watch queue ioctl: "
               "DRM_IOCTL_XE_WATCH_QUEUE failed with %s; it needs the Xe "
               "watch-queue series",
               en);
    else if (err == ENODEV)
      snprintf(buf, len, "the device is gone (ENODEV); waiting for it");
    else
      snprintf(buf, len, "DRM_IOCTL_XE_WATCH_QUEUE failed: %s (%s)", en, es);
    break;
  case XW_STAGE_READ:
    if (err == 0)
      snprintf(buf, len, "the notification pipe was closed (end of file)");
    else
      snprintf(buf, len, "reading the notification pipe failed: %s (%s)", en,
               es);
    break;
  case XW_STAGE_REMOVED:
    snprintf(buf, len,
             "the kernel ended the watch (removal record): the DRM file was "
             "released");
    break;
  case XW_STAGE_UNPLUGGED:
    /* No removal record comes: the kernel posts one only when the file is
     * finally released, and our own fd keeps it open. */
    if (err == 0)
      snprintf(buf, len,
               "the device was unplugged or its driver unbound (udev removed "
               "the node); its file is closed until the node returns");
    else
      snprintf(buf, len,
               "the device was unplugged or its driver unbound (its DRM file "
               "answers %s); its file is closed until the node returns",
               en);
    break;
  case XW_STAGE_PRIMARY:
    snprintf(buf, len,
             "a primary node (cardN) whose render node sysfs does not show; "
             "not opening it, since its first opener becomes DRM master: "
             "configure the GPU's /dev/dri/renderD* node instead");
    break;
  case XW_STAGE_NONE:
  default:
    snprintf(buf, len, "%s (%s)", en, es);
    break;
  }
  return buf;
}
