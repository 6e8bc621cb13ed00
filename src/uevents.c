/* SPDX-License-Identifier: MIT */
/* udev: wedged GPUs, device coredumps, node add/remove, and discovery of
 * xe render nodes. */
#include "uevents.h"

#include <errno.h>
#include <libudev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct xw_uevents {
  struct udev *udev;
  struct udev_monitor *mon;
};

static void copy(char *out, size_t len, const char *s) {
  size_t n = s != NULL ? strlen(s) : 0;
  if (n >= len)
    n = len - 1;
  if (n > 0)
    memcpy(out, s, n);
  out[n] = '\0';
}

unsigned xw_wedge_methods(const char *value) {
  static const struct {
    const char *name;
    unsigned bit;
  } names[] = {{"none", XW_WEDGE_NONE},
               {"rebind", XW_WEDGE_REBIND},
               {"bus-reset", XW_WEDGE_BUS_RESET},
               {"vendor-specific", XW_WEDGE_VENDOR},
               {"unknown", XW_WEDGE_UNKNOWN}};
  unsigned bits = 0;
  for (const char *p = value; p != NULL && *p != '\0';) {
    size_t n = strcspn(p, ",");
    unsigned bit = XW_WEDGE_UNKNOWN;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
      if (strlen(names[i].name) == n && strncmp(p, names[i].name, n) == 0)
        bit = names[i].bit;
    if (n > 0)
      bits |= bit;
    p += n;
    if (*p == ',')
      p++;
  }
  return bits != 0 ? bits : XW_WEDGE_UNKNOWN;
}

const char *xw_wedge_advice(unsigned methods, char *buf, size_t len) {
  /* In the kernel's order of preference: the least disruptive first. */
  if (methods & XW_WEDGE_NONE)
    snprintf(buf, len, "none needed (the driver recovered by itself)");
  else if (methods & XW_WEDGE_REBIND)
    snprintf(buf, len, "rebind: unbind and rebind the xe driver");
  else if (methods & XW_WEDGE_BUS_RESET)
    snprintf(buf, len,
             "bus-reset: unbind the driver, reset or re-enumerate the PCI "
             "device, bind again");
  else if (methods & XW_WEDGE_VENDOR)
    snprintf(buf, len,
             "vendor-specific: follow Intel's procedure (e.g. a firmware "
             "flash) for this GPU");
  else
    snprintf(buf, len,
             "unknown: the driver cannot tell; reboot or follow your "
             "recovery policy");
  return buf;
}

int xw_discover_xe_nodes(void (*cb)(void *ctx, const char *node), void *ctx) {
  struct udev *udev = udev_new();
  if (udev == NULL)
    return -ENOMEM;
  struct udev_enumerate *e = udev_enumerate_new(udev);
  int found = 0;
  int err = e == NULL ? -ENOMEM : 0;
  if (err == 0)
    err = udev_enumerate_add_match_subsystem(e, "drm");
  if (err >= 0)
    err = udev_enumerate_add_match_sysname(e, "renderD*");
  if (err >= 0)
    err = udev_enumerate_scan_devices(e);
  if (err >= 0) {
    struct udev_list_entry *it;
    udev_list_entry_foreach(it, udev_enumerate_get_list_entry(e)) {
      struct udev_device *d =
          udev_device_new_from_syspath(udev, udev_list_entry_get_name(it));
      if (d == NULL)
        continue;
      struct udev_device *pci =
          udev_device_get_parent_with_subsystem_devtype(d, "pci", NULL);
      const char *driver = pci != NULL ? udev_device_get_driver(pci) : NULL;
      const char *node = udev_device_get_devnode(d);
      if (driver != NULL && strcmp(driver, "xe") == 0 && node != NULL) {
        cb(ctx, node);
        found++;
      }
      udev_device_unref(d);
    }
  }
  udev_enumerate_unref(e);
  udev_unref(udev);
  return err < 0 ? err : found;
}

int xw_uevents_open(struct xw_uevents **out) {
  struct xw_uevents *u = calloc(1, sizeof(*u));
  if (u == NULL)
    return -ENOMEM;
  u->udev = udev_new();
  if (u->udev != NULL)
    u->mon = udev_monitor_new_from_netlink(u->udev, "udev");
  int err = 0;
  if (u->mon == NULL)
    err = errno != 0 ? -errno : -ENOMEM;
  else if ((err = udev_monitor_filter_add_match_subsystem_devtype(u->mon, "drm",
                                                                  NULL)) >= 0 &&
           (err = udev_monitor_filter_add_match_subsystem_devtype(
                u->mon, "devcoredump", NULL)) >= 0)
    err = udev_monitor_enable_receiving(u->mon);
  if (err < 0) {
    xw_uevents_close(u);
    return err;
  }
  *out = u;
  return 0;
}

int xw_uevents_fd(const struct xw_uevents *u) {
  return udev_monitor_get_fd(u->mon);
}

/* The PCI slot of the GPU behind a drm card or a devcoredump (whose
 * "failing_device" is the GPU). */
static void pci_slot_of(struct udev_device *d, char *out, size_t len) {
  struct udev_device *pci =
      udev_device_get_parent_with_subsystem_devtype(d, "pci", NULL);
  copy(out, len, pci != NULL ? udev_device_get_sysname(pci) : NULL);
}

int xw_uevents_next(struct xw_uevents *u, struct xw_uevent *ev) {
  struct udev_device *d = udev_monitor_receive_device(u->mon);
  if (d == NULL)
    return 0;
  memset(ev, 0, sizeof(*ev));
  const char *subsystem = udev_device_get_subsystem(d);
  const char *action = udev_device_get_action(d);
  copy(ev->sysname, sizeof(ev->sysname), udev_device_get_sysname(d));
  copy(ev->devnode, sizeof(ev->devnode), udev_device_get_devnode(d));

  if (subsystem != NULL && strcmp(subsystem, "drm") == 0 && action != NULL &&
      strcmp(action, "add") == 0) {
    ev->kind = XW_UEVENT_ADDED;
    pci_slot_of(d, ev->pci_slot, sizeof(ev->pci_slot));
    struct udev_device *pci =
        udev_device_get_parent_with_subsystem_devtype(d, "pci", NULL);
    copy(ev->driver, sizeof(ev->driver),
         pci != NULL ? udev_device_get_driver(pci) : NULL);
  } else if (subsystem != NULL && strcmp(subsystem, "drm") == 0 &&
             action != NULL && strcmp(action, "remove") == 0) {
    /* The parent is gone from sysfs by now: match by devnode only. */
    ev->kind = XW_UEVENT_REMOVED;
  } else if (subsystem != NULL && strcmp(subsystem, "drm") == 0 &&
             action != NULL && strcmp(action, "change") == 0) {
    const char *wedged = udev_device_get_property_value(d, "WEDGED");
    if (wedged != NULL) {
      ev->kind = XW_UEVENT_WEDGED;
      ev->methods = xw_wedge_methods(wedged);
      pci_slot_of(d, ev->pci_slot, sizeof(ev->pci_slot));
    }
  } else if (subsystem != NULL && strcmp(subsystem, "devcoredump") == 0 &&
             action != NULL && strcmp(action, "add") == 0) {
    ev->kind = XW_UEVENT_COREDUMP;
    /* devcdN/failing_device links to the device that dumped: for xe the
     * GPU's PCI device, named by the link's last component. */
    char path[512], link[512];
    snprintf(path, sizeof(path), "%s/failing_device",
             udev_device_get_syspath(d));
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    if (n > 0) {
      link[n] = '\0';
      const char *slash = strrchr(link, '/');
      copy(ev->pci_slot, sizeof(ev->pci_slot),
           slash != NULL ? slash + 1 : link);
    }
  }
  udev_device_unref(d);
  return 1;
}

void xw_uevents_close(struct xw_uevents *u) {
  if (u == NULL)
    return;
  udev_monitor_unref(u->mon);
  udev_unref(u->udev);
  free(u);
}
