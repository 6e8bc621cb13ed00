/* SPDX-License-Identifier: MIT */
/* Client watches: attach a device's pipe to workloads' DRM files and keep
 * the watch ids they use. */
#include "collectd.h"

#include "attach.h"

#include "plugin.h"
#include "utils/common/common.h"

#include <sys/pidfd.h>

#include "discovery.h"
#include "listener.h"
#include "transport.h"

struct xw_attach {
  struct xw_device **devs;
  size_t ndev;
  struct xw_attach_config cfg;
  c_complain_t attach_complaint, scan_complaint;
};

int xw_attach_create(struct xw_attach **out, struct xw_device **devs,
                     size_t ndev, const struct xw_attach_config *cfg) {
  struct xw_attach *a = calloc(1, sizeof(*a));
  if (a == NULL)
    return -ENOMEM;
  a->devs = devs;
  a->ndev = ndev;
  a->cfg = *cfg;
  a->attach_complaint = (c_complain_t)C_COMPLAIN_INIT_STATIC;
  a->scan_complaint = (c_complain_t)C_COMPLAIN_INIT_STATIC;
  *out = a;
  return 0;
}

void xw_attach_destroy(struct xw_attach *a) { free(a); }

void xw_watch_slots_free(struct xw_watch_slots *ws) {
  for (size_t i = 0; i < XW_WATCH_SLOTS; i++) {
    free(ws->attr[i]);
    ws->attr[i] = NULL;
  }
}

bool xw_device_client(struct xw_device *dev, unsigned watch_id, uint32_t serial,
                      struct xw_client_attr *out) {
  if (watch_id == 0 || watch_id >= XW_WATCH_SLOTS)
    return false;
  pthread_mutex_lock(&dev->lock);
  const struct xw_client_attr *a = dev->watches.attr[watch_id];
  bool ok = a != NULL && a->serial == serial;
  if (ok)
    *out = *a;
  pthread_mutex_unlock(&dev->lock);
  return ok;
}

int xw_client_dup(pid_t pid, int fd) {
  int pidfd = pidfd_open(pid, 0);
  if (pidfd < 0)
    return -errno;
  /* pidfd_getfd sets O_CLOEXEC on the new fd. */
  int dup = pidfd_getfd(pidfd, fd, 0);
  int err = errno;
  close(pidfd);
  return dup >= 0 ? dup : -err;
}

static unsigned free_slot(const struct xw_watch_slots *ws) {
  for (unsigned n = 0; n < XW_WATCH_SLOTS - 1; n++) {
    unsigned slot = 1 + (ws->next + n) % (XW_WATCH_SLOTS - 1);
    if (ws->attr[slot] == NULL || !ws->attr[slot]->live)
      return slot;
  }
  return 0;
}

/* The slot of the live watch on DRM client client_id; 0 if none. */
static unsigned slot_of(const struct xw_watch_slots *ws, uint64_t client_id) {
  if (ws->n == 0)
    return 0;
  for (unsigned i = 1; i < XW_WATCH_SLOTS; i++) {
    const struct xw_client_attr *a = ws->attr[i];
    if (a != NULL && a->live && a->client_id == client_id)
      return i;
  }
  return 0;
}

/* Subscribe dev's pipe to a workload's DRM file through a duplicate that is
 * closed at once: the watch holds no reference to the file, so the
 * workload's lifetime and resources are never extended, and its removal
 * record tells when the file is gone. */
static void attach_client(struct xw_attach *at, struct xw_device *dev,
                          const struct xw_client *c) {
  struct xw_watch_slots *ws = &dev->watches;
  if (slot_of(ws, c->client_id) != 0)
    return;
  unsigned slot = free_slot(ws);
  if (slot == 0) {
    c_complain(LOG_WARNING, &at->attach_complaint,
               "xe_watch plugin: %s (%s): %u client watches, the most one "
               "notification pipe carries; pid %d (%s) is not watched",
               dev->node, dev->name, ws->n, (int)c->pid, c->comm);
    return;
  }
  int fd = xw_client_dup(c->pid, c->fd);
  if (fd < 0) {
    if (fd == -ESRCH || fd == -EBADF)
      return; /* the process or its file went away meanwhile */
    if (fd == -EPERM || fd == -EACCES)
      c_complain(LOG_ERR, &at->attach_complaint,
                 "xe_watch plugin: cannot attach to pid %d (%s), a DRM client "
                 "of %s: pidfd_getfd failed with %s; collectd needs "
                 "CAP_SYS_PTRACE (see contrib/systemd/xe_watch.conf). "
                 "Device nodes are still watched.",
                 (int)c->pid, c->comm, dev->name,
                 fd == -EPERM ? "EPERM" : "EACCES");
    else if (fd == -ENOSYS)
      c_complain(LOG_ERR, &at->attach_complaint,
                 "xe_watch plugin: cannot attach to DRM clients: this kernel "
                 "has no pidfd_getfd (Linux 5.6 or later is needed)");
    else
      c_complain(LOG_ERR, &at->attach_complaint,
                 "xe_watch plugin: cannot attach to pid %d (%s) on %s: %s",
                 (int)c->pid, c->comm, dev->name, STRERROR(-fd));
    return;
  }
  int err = xw_subscribe(fd, dev->pipe_rd, slot);
  close(fd);
  if (err != 0) {
    if (err != -EBUSY) /* EBUSY: that file is already on this pipe */
      c_complain(LOG_ERR, &at->attach_complaint,
                 "xe_watch plugin: cannot watch pid %d (%s) on %s: "
                 "DRM_IOCTL_XE_WATCH_QUEUE failed: %s",
                 (int)c->pid, c->comm, dev->name, STRERROR(-err));
    return;
  }
  struct xw_client_attr *a = calloc(1, sizeof(*a));
  if (a == NULL)
    return; /* the watch stays; its records are counted, not attributed */
  a->serial = ++ws->serial;
  a->live = true;
  a->client_id = c->client_id;
  a->pid = c->pid;
  sstrncpy(a->comm, c->comm, sizeof(a->comm));
  sstrncpy(a->cgroup, c->cgroup, sizeof(a->cgroup));
  sstrncpy(a->container, c->container, sizeof(a->container));
  pthread_mutex_lock(&dev->lock);
  struct xw_client_attr *old = ws->attr[slot];
  ws->attr[slot] = a;
  pthread_mutex_unlock(&dev->lock);
  free(old);
  ws->n++;
  ws->next = slot;
  ws->seen[slot] = true; /* attached during a recheck scan */
  c_release(LOG_INFO, &at->attach_complaint,
            "xe_watch plugin: attaching to DRM clients works again");
  INFO("xe_watch plugin: %s (%s): watching the VMs of pid %d (%s), DRM "
       "client %" PRIu64 "%s%s",
       dev->node, dev->name, (int)c->pid, c->comm, c->client_id,
       c->cgroup[0] ? ", cgroup " : "", c->cgroup);
}

/* During a recheck scan: the client's file still exists, so its watch
 * does too. */
static void mark_seen(struct xw_attach *at, uint64_t client_id) {
  for (size_t i = 0; i < at->ndev; i++) {
    struct xw_watch_slots *ws = &at->devs[i]->watches;
    unsigned slot = ws->recheck ? slot_of(ws, client_id) : 0;
    if (slot != 0)
      ws->seen[slot] = true;
  }
}

static bool matches(const regex_t *rx, const char *s) {
  return rx == NULL || regexec(rx, s, 0, NULL, 0) == 0;
}

static void on_client(void *ctx, const struct xw_client *c) {
  struct xw_attach *at = ctx;
  mark_seen(at, c->client_id);
  if (!matches(at->cfg.client_process, c->comm) ||
      !matches(at->cfg.client_cgroup, c->cgroup))
    return;
  for (size_t i = 0; i < at->ndev; i++) {
    struct xw_device *d = at->devs[i];
    if (atomic_load(&d->state) != XW_DEV_LISTENING)
      continue;
    /* The PCI slot names the GPU whichever node the client opened; the
     * node path covers devices sysfs does not place on PCI. */
    if ((c->pdev[0] != '\0' && strcmp(c->pdev, d->name) == 0) ||
        strcmp(c->link, d->node_real) == 0 || strcmp(c->link, d->node) == 0) {
      attach_client(at, d, c);
      return;
    }
  }
}

static void client_removed(struct xw_device *dev, unsigned watch_id,
                           const char *how) {
  struct xw_watch_slots *ws = &dev->watches;
  struct xw_client_attr *a = ws->attr[watch_id];
  pthread_mutex_lock(&dev->lock);
  a->live = false;
  pthread_mutex_unlock(&dev->lock);
  ws->n--;
  INFO("xe_watch plugin: %s (%s): pid %d (%s) released DRM client %" PRIu64
       "; its watch ended%s",
       dev->node, dev->name, (int)a->pid, a->comm, a->client_id, how);
}

bool xw_attach_removed(struct xw_device *dev, unsigned watch_id) {
  struct xw_watch_slots *ws = &dev->watches;
  if (watch_id == 0 || watch_id >= XW_WATCH_SLOTS ||
      ws->attr[watch_id] == NULL || !ws->attr[watch_id]->live)
    return false;
  client_removed(dev, watch_id, "");
  return true;
}

void xw_attach_lost(struct xw_device *dev) {
  if (dev->watches.n > 0)
    dev->watches.recheck = true;
}

void xw_attach_pipe_closed(struct xw_device *dev) {
  struct xw_watch_slots *ws = &dev->watches;
  if (ws->n == 0)
    return;
  pthread_mutex_lock(&dev->lock);
  for (size_t i = 1; i < XW_WATCH_SLOTS; i++)
    if (ws->attr[i] != NULL)
      ws->attr[i]->live = false;
  pthread_mutex_unlock(&dev->lock);
  ws->n = 0;
}

void xw_attach_scan(struct xw_attach *at) {
  for (size_t i = 0; i < at->ndev; i++) {
    struct xw_watch_slots *ws = &at->devs[i]->watches;
    if (ws->recheck)
      memset(ws->seen, 0, sizeof(ws->seen));
  }
  int n = xw_discovery_scan(at->cfg.proc_root, "xe", on_client, at);
  if (n < 0) {
    c_complain(LOG_ERR, &at->scan_complaint,
               "xe_watch plugin: cannot scan %s for DRM clients: %s; check "
               "ProcRoot",
               at->cfg.proc_root, STRERROR(-n));
    return; /* a recheck needs a complete scan: keep it for the next */
  }
  c_release(LOG_INFO, &at->scan_complaint,
            "xe_watch plugin: scanning %s for DRM clients works again",
            at->cfg.proc_root);
  /* A live watch whose file no process holds any more: the kernel ended it
   * and its removal record was among the lost ones. */
  for (size_t i = 0; i < at->ndev; i++) {
    struct xw_device *d = at->devs[i];
    struct xw_watch_slots *ws = &d->watches;
    if (!ws->recheck)
      continue;
    ws->recheck = false;
    for (unsigned s = 1; s < XW_WATCH_SLOTS && ws->n > 0; s++)
      if (ws->attr[s] != NULL && ws->attr[s]->live && !ws->seen[s])
        client_removed(d, s,
                       " (no process holds it any more; its removal record "
                       "was lost in a full queue)");
  }
}
