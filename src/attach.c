/* SPDX-License-Identifier: MIT */
/* Client watches: attach a device's pipe to workloads' DRM files and keep
 * the watch ids they use. */
#include "collectd.h"

#include "attach.h"

#include "plugin.h"
#include "utils/common/common.h"

#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "discovery.h"
#include "listener.h"
#include "transport.h"

/* DRM_MAJOR: every DRM node is a character device of this major. */
#define XW_DRM_MAJOR 226

struct xw_attach {
  struct xw_device **devs;
  size_t ndev;
  struct xw_attach_config cfg;
  pid_t self;         /* this process, as cfg.proc_root names it */
  const char **nodes; /* the devices' nodes, configured and real paths */
  c_complain_t attach_complaint, scan_complaint, quota_complaint;
  struct xw_discovery_walk walk; /* the scan in progress, if any */
};

int xw_attach_create(struct xw_attach **out, struct xw_device **devs,
                     size_t ndev, const struct xw_attach_config *cfg) {
  struct xw_attach *a = calloc(1, sizeof(*a));
  if (a == NULL)
    return -ENOMEM;
  a->devs = devs;
  a->ndev = ndev;
  a->cfg = *cfg;
  a->nodes = calloc(2 * ndev + 1, sizeof(*a->nodes));
  if (a->nodes == NULL) {
    free(a);
    return -ENOMEM;
  }
  for (size_t i = 0; i < ndev; i++) {
    a->nodes[2 * i] = devs[i]->node;
    a->nodes[2 * i + 1] = devs[i]->node_real; /* "" until it is up */
  }
  a->self = xw_discovery_self(cfg->proc_root);
  a->attach_complaint = (c_complain_t)C_COMPLAIN_INIT_STATIC;
  a->scan_complaint = (c_complain_t)C_COMPLAIN_INIT_STATIC;
  a->quota_complaint = (c_complain_t)C_COMPLAIN_INIT_STATIC;
  *out = a;
  return 0;
}

void xw_attach_destroy(struct xw_attach *a) {
  if (a != NULL) {
    xw_discovery_walk_end(&a->walk);
    free(a->nodes);
  }
  free(a);
}

void xw_watch_slots_free(struct xw_watch_slots *ws) {
  for (size_t i = 0; i < XW_SLOTS_ALL; i++) {
    free(ws->attr[i]);
    ws->attr[i] = NULL;
  }
}

bool xw_device_client(struct xw_device *dev, unsigned watch_id, uint32_t serial,
                      struct xw_client_attr *out) {
  if (watch_id % XW_WATCH_SLOTS == 0 || watch_id >= XW_SLOTS_ALL)
    return false;
  pthread_mutex_lock(&dev->lock);
  const struct xw_client_attr *a = dev->watches.attr[watch_id];
  bool ok = a != NULL && a->serial == serial;
  if (ok)
    *out = *a;
  pthread_mutex_unlock(&dev->lock);
  return ok;
}

unsigned xw_watch_slots_pick(const struct xw_watch_slots *ws) {
  unsigned npipes = ws->npipes > 0 ? ws->npipes : 1;
  unsigned ids = npipes * (XW_WATCH_SLOTS - 1), fallback = 0;
  unsigned from = ws->next - ws->next / XW_WATCH_SLOTS; /* ids, not slots */
  for (unsigned n = 0; n < ids; n++) {
    unsigned k = (from + n) % ids;
    unsigned slot = k / (XW_WATCH_SLOTS - 1) * XW_WATCH_SLOTS + 1 +
                    k % (XW_WATCH_SLOTS - 1);
    if (ws->attr[slot] != NULL && ws->attr[slot]->live)
      continue;
    if (!ws->quarantined[slot])
      return slot;
    /* Its removal record may never come (it was lost, as the recheck
     * assumed): rather the oldest quarantined id than no watch at all. */
    if (fallback == 0 || ws->attr[slot]->serial < ws->attr[fallback]->serial)
      fallback = slot;
  }
  if (npipes < XW_PIPES_MAX)
    return npipes * XW_WATCH_SLOTS + 1; /* a new pipe's first id */
  return fallback;
}

/* The slot of the live watch on DRM client client_id; 0 if none. */
static unsigned slot_of(const struct xw_watch_slots *ws, uint64_t client_id) {
  if (ws->n == 0)
    return 0;
  for (unsigned i = 1; i < XW_SLOTS_ALL; i++) {
    const struct xw_client_attr *a = ws->attr[i];
    if (a != NULL && a->live && a->client_id == client_id)
      return i;
  }
  return 0;
}

const char *xw_unwatched_name(enum xw_unwatched why) {
  static const char *const names[XW_UNW_NR] = {
      [XW_UNW_REFUSED] = "refused",
      [XW_UNW_NO_FREE_ID] = "no_free_id",
      [XW_UNW_QUOTA] = "quota",
      [XW_UNW_MISMATCH] = "mismatch",
  };
  return why < XW_UNW_NR ? names[why] : "other";
}

/* A file seen but not watched: counted once per file and reason, however
 * many scans see it again (a bounded memory: one that falls out of it
 * after XW_COUNTED_RING others is counted again). */
static void unwatched(struct xw_watch_slots *ws, uint64_t client_id,
                      enum xw_unwatched why) {
  for (unsigned i = 0; i < XW_COUNTED_RING; i++)
    if (ws->counted[i].client_id == client_id && ws->counted[i].why == why)
      return;
  ws->counted[ws->counted_next].client_id = client_id;
  ws->counted[ws->counted_next].why = why;
  ws->counted_next = (ws->counted_next + 1) % XW_COUNTED_RING;
  atomic_fetch_add_explicit(&ws->unwatched[why], 1, memory_order_relaxed);
}

/* Why attaching cannot work at all, and what to grant: said once (the
 * complaint), counted per file. */
static void refused(struct xw_attach *at, struct xw_device *dev,
                    const struct xw_client *c, const char *step, int err) {
  unwatched(&dev->watches, c->client_id, XW_UNW_REFUSED);
  if (err == -EPERM || err == -EACCES)
    c_complain(LOG_ERR, &at->attach_complaint,
               "xe_watch plugin: %s (%s): cannot attach to pid %d (%s), a "
               "DRM client: %s failed with %s; grant collectd "
               "CAP_SYS_PTRACE (see contrib/systemd/xe_watch.conf) or set "
               "WatchClients false. Device nodes are still watched.",
               dev->node, dev->name, (int)c->pid, c->comm, step,
               err == -EPERM ? "EPERM" : "EACCES");
  else if (err == -ENOSYS)
    c_complain(LOG_ERR, &at->attach_complaint,
               "xe_watch plugin: %s (%s): cannot attach to DRM clients: this "
               "kernel has no %s (Linux 5.6 or later is needed); device "
               "nodes are still watched",
               dev->node, dev->name, step);
  else
    c_complain(LOG_ERR, &at->attach_complaint,
               "xe_watch plugin: %s (%s): cannot attach to pid %d (%s): %s "
               "failed: %s",
               dev->node, dev->name, (int)c->pid, c->comm, step,
               STRERROR(-err));
}

/* Has c's process, or its cgroup, its share of dev's watch ids already?
 * Any user can open a render node as often as it likes: without a cap one
 * process would take all 255 ids and keep every later workload unheard. */
static bool over_quota(struct xw_attach *at, struct xw_device *dev,
                       const struct xw_client *c) {
  const struct xw_watch_slots *ws = &dev->watches;
  unsigned by_pid = 0, by_cgroup = 0;
  for (unsigned i = 1; i < XW_SLOTS_ALL && ws->n > 0; i++) {
    const struct xw_client_attr *a = ws->attr[i];
    if (a == NULL || !a->live)
      continue;
    by_pid += a->pid == c->pid;
    by_cgroup += strcmp(a->cgroup, c->cgroup) == 0;
  }
  const char *what = NULL;
  unsigned have = 0, cap = 0;
  if (at->cfg.max_per_process > 0 && by_pid >= at->cfg.max_per_process) {
    what = "MaxClientsPerProcess";
    have = by_pid;
    cap = at->cfg.max_per_process;
  } else if (at->cfg.max_per_cgroup > 0 &&
             by_cgroup >= at->cfg.max_per_cgroup) {
    what = "MaxClientsPerCgroup";
    have = by_cgroup;
    cap = at->cfg.max_per_cgroup;
  }
  if (what == NULL)
    return false;
  c_complain(LOG_WARNING, &at->quota_complaint,
             "xe_watch plugin: %s (%s): pid %d (%s), cgroup %s, has %u "
             "watched DRM files (%s %u); its further files are not watched "
             "and counted in errors-unwatched-quota",
             dev->node, dev->name, (int)c->pid, c->comm, c->cgroup, have, what,
             cap);
  return true;
}

/* Is dupfd the very file the scan described? A character device of DRM's
 * major, and our own fdinfo of it names the same driver and client id
 * (unique per DRM file). Returns NULL or what differs. */
static const char *mismatch(const struct xw_attach *at, int dupfd,
                            const struct xw_client *c) {
  struct stat st;
  if (fstat(dupfd, &st) != 0 || !S_ISCHR(st.st_mode))
    return "not a character device";
  if (major(st.st_rdev) != XW_DRM_MAJOR)
    return "not a DRM device";
  struct xw_client mine;
  if (xw_discovery_fdinfo(at->cfg.proc_root, at->self, dupfd, &mine) != 0)
    return "no DRM fdinfo";
  if (strcmp(mine.driver, "xe") != 0)
    return "not driven by xe";
  if (mine.client_id != c->client_id)
    return "another DRM client id";
  return NULL;
}

/* Every id of dev's open pipes is taken: open one more, sized like the
 * first, and add it to the listener's epoll set. Only workloads'
 * duplicates subscribe through it. */
static int extra_pipe(struct xw_attach *at, struct xw_device *dev) {
  struct xw_watch_slots *ws = &dev->watches;
  unsigned p = ws->npipes;
  if (p == 0 || p >= XW_PIPES_MAX)
    return -ENOSPC;
  int fds[2];
  enum xw_stage stage;
  int err = xw_pipe_open(at->cfg.queue_notes, fds, &stage);
  if (err != 0)
    return err;
  struct epoll_event ev = {.events = EPOLLIN,
                           .data.u64 = XW_PIPE_TAG(dev->index, p)};
  if (at->cfg.epfd >= 0 && epoll_ctl(at->cfg.epfd, EPOLL_CTL_ADD, fds[0], &ev))
    err = -errno;
  if (err != 0) {
    close(fds[0]);
    close(fds[1]);
    return err;
  }
  dev->xpipe_rd[p] = fds[0];
  dev->xpipe_wr[p] = fds[1];
  ws->npipes = p + 1;
  INFO("xe_watch plugin: %s (%s): the %u watch ids of %u notification "
       "pipes are taken; opened pipe %u for further workloads' files",
       dev->node, dev->name, p * (XW_WATCH_SLOTS - 1), p, p + 1);
  return 0;
}

/* Subscribe dev's pipe to a workload's DRM file through a duplicate that is
 * closed at once: the watch holds no reference to the file, so the
 * workload's lifetime and resources are never extended, and its removal
 * record tells when the file is gone.
 *
 * Between the scan and the duplicate the pid and the fd number can both be
 * reused: the pidfd pins the process first, its fdinfo is read again
 * through it, and the duplicate is checked before anything subscribes
 * through it. */
static void attach_client(struct xw_attach *at, struct xw_device *dev,
                          const struct xw_client *c) {
  struct xw_watch_slots *ws = &dev->watches;
  if (slot_of(ws, c->client_id) != 0)
    return;
  if (over_quota(at, dev, c)) {
    unwatched(ws, c->client_id, XW_UNW_QUOTA);
    return;
  }
  unsigned slot = xw_watch_slots_pick(ws);
  if (slot == 0) {
    unwatched(ws, c->client_id, XW_UNW_NO_FREE_ID);
    c_complain(LOG_WARNING, &at->attach_complaint,
               "xe_watch plugin: %s (%s): %u client watches, the most %d "
               "notification pipes carry; pid %d (%s) is not watched",
               dev->node, dev->name, (unsigned)ws->n, XW_PIPES_MAX, (int)c->pid,
               c->comm);
    return;
  }
  int pidfd = pidfd_open(c->pid, 0);
  if (pidfd < 0) {
    if (errno != ESRCH) /* ESRCH: it exited meanwhile */
      refused(at, dev, c, "pidfd_open", -errno);
    return;
  }
  /* The pid is pinned now: the process behind it cannot change. Is the
   * file the scan saw still at that fd? (A client id is never reused.) */
  struct xw_client now;
  if (xw_discovery_fdinfo(at->cfg.proc_root, c->pid, c->fd, &now) != 0 ||
      now.client_id != c->client_id || strcmp(now.driver, c->driver) != 0) {
    close(pidfd);
    return; /* closed or replaced since: the next scan sees what is there */
  }
  /* pidfd_getfd sets O_CLOEXEC on the new fd. */
  int fd = pidfd_getfd(pidfd, c->fd, 0);
  int err = fd < 0 ? -errno : 0;
  close(pidfd);
  if (fd < 0) {
    if (err != -ESRCH && err != -EBADF) /* gone meanwhile */
      refused(at, dev, c, "pidfd_getfd", err);
    return;
  }
  const char *why = mismatch(at, fd, c);
  if (why != NULL) {
    close(fd);
    unwatched(ws, c->client_id, XW_UNW_MISMATCH);
    WARNING("xe_watch plugin: %s (%s): fd %d of pid %d (%s) changed between "
            "its fdinfo and the duplicate (%s); not watched",
            dev->node, dev->name, c->fd, (int)c->pid, c->comm, why);
    return;
  }
  unsigned pipe = slot / XW_WATCH_SLOTS;
  if (pipe >= ws->npipes && (err = extra_pipe(at, dev)) != 0) {
    close(fd);
    unwatched(ws, c->client_id, XW_UNW_NO_FREE_ID);
    c_complain(LOG_ERR, &at->attach_complaint,
               "xe_watch plugin: %s (%s): the %u ids of %u notification "
               "pipes are taken and another cannot be opened (%s); pid %d "
               "(%s) is not watched",
               dev->node, dev->name, ws->npipes * (XW_WATCH_SLOTS - 1),
               ws->npipes, STRERROR(-err), (int)c->pid, c->comm);
    return;
  }
  err = xw_subscribe_as(fd, pipe == 0 ? dev->pipe_rd : dev->xpipe_rd[pipe],
                        slot % XW_WATCH_SLOTS, at->cfg.watch_ioctl);
  close(fd);
  if (err != 0) {
    if (err != -EBUSY) /* EBUSY: that file is already on this pipe */
      refused(at, dev, c, "DRM_IOCTL_XE_WATCH_QUEUE", err);
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
  sstrncpy(a->pod_uid, c->pod_uid, sizeof(a->pod_uid));
  pthread_mutex_lock(&dev->lock);
  struct xw_client_attr *old = ws->attr[slot];
  ws->attr[slot] = a;
  pthread_mutex_unlock(&dev->lock);
  free(old);
  ws->n++;
  ws->next = slot;
  ws->quarantined[slot] = false;
  ws->seen[slot] = true; /* attached during a recheck scan */
  c_release(LOG_INFO, &at->attach_complaint,
            "xe_watch plugin: attaching to DRM clients works again");
  INFO("xe_watch plugin: %s (%s): watching the VMs of pid %d (%s), DRM "
       "client %" PRIu64 "%s%s%s%s",
       dev->node, dev->name, (int)c->pid, c->comm, c->client_id,
       c->cgroup[0] ? ", cgroup " : "", c->cgroup,
       c->pod_uid[0] ? ", pod " : "", c->pod_uid);
}

/* During a recheck scan: the client's file still exists, so its watch
 * does too. */
static void mark_seen(struct xw_attach *at, uint64_t client_id) {
  for (size_t i = 0; i < at->ndev; i++) {
    struct xw_watch_slots *ws = &at->devs[i]->watches;
    unsigned slot = ws->rechecking ? slot_of(ws, client_id) : 0;
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
  if (watch_id % XW_WATCH_SLOTS == 0 || watch_id >= XW_SLOTS_ALL ||
      ws->attr[watch_id] == NULL)
    return false;
  if (ws->quarantined[watch_id]) {
    /* The recheck ended it too early: now its file is gone for sure. */
    ws->quarantined[watch_id] = false;
    return true;
  }
  if (!ws->attr[watch_id]->live)
    return false;
  client_removed(dev, watch_id, "");
  return true;
}

void xw_attach_lost(struct xw_device *dev) {
  if (dev->watches.n > 0)
    dev->watches.recheck = true;
}

void xw_attach_pipe_closed(struct xw_device *dev, int epfd) {
  struct xw_watch_slots *ws = &dev->watches;
  for (unsigned p = 1; p < ws->npipes; p++) {
    if (dev->xpipe_rd[p] < 0)
      continue;
    if (epfd >= 0)
      epoll_ctl(epfd, EPOLL_CTL_DEL, dev->xpipe_rd[p], NULL);
    close(dev->xpipe_rd[p]);
    close(dev->xpipe_wr[p]);
    dev->xpipe_rd[p] = dev->xpipe_wr[p] = -1;
  }
  ws->npipes = 0;
  /* A new pipe starts with no watches: nothing is pending on any id. */
  memset(ws->quarantined, 0, sizeof(ws->quarantined));
  if (ws->n == 0)
    return;
  pthread_mutex_lock(&dev->lock);
  for (size_t i = 1; i < XW_SLOTS_ALL; i++)
    if (ws->attr[i] != NULL)
      ws->attr[i]->live = false;
  pthread_mutex_unlock(&dev->lock);
  ws->n = 0;
}

bool xw_attach_scan_begin(struct xw_attach *at) {
  xw_discovery_walk_end(&at->walk);
  for (size_t i = 0; i < at->ndev; i++) {
    struct xw_watch_slots *ws = &at->devs[i]->watches;
    ws->recheck |= ws->rechecking; /* an abandoned scan's */
    ws->rechecking = false;
  }
  int err = xw_discovery_walk_begin(&at->walk, at->cfg.proc_root);
  if (err < 0) {
    c_complain(LOG_ERR, &at->scan_complaint,
               "xe_watch plugin: cannot scan %s for DRM clients: %s; check "
               "ProcRoot",
               at->cfg.proc_root, STRERROR(-err));
    return false; /* a recheck needs a complete scan: keep it for the next */
  }
  c_release(LOG_INFO, &at->scan_complaint,
            "xe_watch plugin: scanning %s for DRM clients works again",
            at->cfg.proc_root);
  for (size_t i = 0; i < at->ndev; i++) {
    struct xw_watch_slots *ws = &at->devs[i]->watches;
    ws->rechecking = ws->recheck;
    ws->recheck = false;
    if (ws->rechecking)
      memset(ws->seen, 0, sizeof(ws->seen));
  }
  return true;
}

void xw_attach_scan(struct xw_attach *at) {
  if (xw_attach_scan_begin(at))
    while (xw_attach_scan_step(at, UINT32_MAX))
      ;
}

bool xw_attach_scan_step(struct xw_attach *at, unsigned max_pids) {
  if (xw_discovery_walk_step(&at->walk, at->cfg.proc_root, "xe", at->nodes,
                             2 * at->ndev, on_client, at, max_pids))
    return true;
  xw_discovery_walk_end(&at->walk);
  /* A live watch whose file no process holds any more: the kernel ended it
   * and its removal record was among the lost ones. */
  for (size_t i = 0; i < at->ndev; i++) {
    struct xw_device *d = at->devs[i];
    struct xw_watch_slots *ws = &d->watches;
    if (!ws->rechecking)
      continue;
    ws->rechecking = false;
    for (unsigned s = 1; s < XW_SLOTS_ALL && ws->n > 0; s++)
      if (ws->attr[s] != NULL && ws->attr[s]->live && !ws->seen[s]) {
        client_removed(d, s,
                       " (no process holds it any more; its removal record "
                       "was lost in a full queue)");
        ws->quarantined[s] = true;
      }
  }
  return false;
}

/* readlink into buf; false if it cannot be read. */
static bool read_link(const char *path, char *buf, size_t len) {
  ssize_t n = readlink(path, buf, len - 1);
  if (n <= 0)
    return false;
  buf[n] = '\0';
  return true;
}

/* Does collectd hold CAP_SYS_PTRACE (effective)? From /proc/self/status,
 * which needs no libcap. */
static bool have_ptrace_cap(void) {
  FILE *f = fopen("/proc/self/status", "re");
  if (f == NULL)
    return true; /* cannot tell: do not warn */
  char line[256];
  bool cap = true;
  while (fgets(line, sizeof(line), f) != NULL) {
    unsigned long long eff;
    if (sscanf(line, "CapEff: %llx", &eff) == 1) {
      cap = (eff >> 19) & 1; /* CAP_SYS_PTRACE */
      break;
    }
  }
  fclose(f);
  return cap;
}

int xw_attach_probe(const char *proc_root, char *why, size_t len,
                    bool *no_ptrace) {
  char path[PATH_MAX], theirs[64], ours[64];
  why[0] = '\0';
  *no_ptrace = false;
  /* pidfd_open names a pid of *our* PID namespace; the pids in ProcRoot are
   * of its procfs's. Our pid as ProcRoot names it differs when they are
   * not one namespace; so does ProcRoot's init's namespace. */
  snprintf(path, sizeof(path), "%s/self", proc_root);
  bool foreign = read_link(path, theirs, sizeof(theirs)) &&
                 strtol(theirs, NULL, 10) != (long)getpid();
  snprintf(path, sizeof(path), "%s/1/ns/pid", proc_root);
  if (!foreign && read_link(path, theirs, sizeof(theirs)) &&
      read_link("/proc/self/ns/pid", ours, sizeof(ours)))
    foreign = strcmp(theirs, ours) != 0;
  if (foreign) {
    snprintf(why, len,
             "ProcRoot \"%s\" shows another PID namespace than collectd's "
             "own, where pidfd_open would name other processes; run "
             "collectd in the host PID namespace (Kubernetes: hostPID: "
             "true; docker/podman: --pid=host)",
             proc_root);
    return -EXDEV;
  }
  int pidfd = pidfd_open(getpid(), 0);
  int err = pidfd < 0 ? -errno : 0;
  if (pidfd >= 0) {
    int fd = pidfd_getfd(pidfd, -1, 0); /* EBADF where it exists */
    err = fd < 0 && errno == ENOSYS ? -ENOSYS : 0;
    if (fd >= 0)
      close(fd);
    close(pidfd);
  }
  if (err == -ENOSYS) {
    snprintf(why, len,
             "this kernel has no pidfd_open/pidfd_getfd (Linux 5.6 or later "
             "is needed, and a seccomp profile that allows them)");
    return -ENOSYS;
  }
  *no_ptrace = !have_ptrace_cap();
  return 0;
}
