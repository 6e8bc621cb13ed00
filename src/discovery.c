/* SPDX-License-Identifier: MIT */
/* Workload discovery: walk procfs for the DRM files that processes hold. */
#include "discovery.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

/* Read a small procfs file; returns its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, buf, len - 1);
  close(fd);
  if (n < 0)
    return -1;
  buf[n] = '\0';
  return n;
}

pid_t xw_discovery_self(const char *proc_root) {
  char path[4096], link[32];
  snprintf(path, sizeof(path), "%s/self", proc_root);
  /* Under a host /proc mounted in a container, "self" names our pid in
   * the host's namespace, which getpid() does not. */
  ssize_t n = readlink(path, link, sizeof(link) - 1);
  if (n > 0) {
    link[n] = '\0';
    return (pid_t)atoi(link);
  }
  return getpid();
}

static bool all_digits(const char *s) {
  if (*s == '\0')
    return false;
  for (; *s != '\0'; s++)
    if (!isdigit((unsigned char)*s))
      return false;
  return true;
}

static bool is_node(const char *link, const char *const *nodes, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(link, nodes[i]) == 0)
      return true;
  return false;
}

/* One process: every DRM fd whose fdinfo names `driver`, once per client
 * id (a file shared by several fds of the process is one client). */
static int scan_process(const char *proc_root, const char *pid_name,
                        const char *driver, const char *const *nodes,
                        size_t nnodes, xw_client_cb cb, void *ctx) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s/fd", proc_root, pid_name);
  DIR *d = opendir(path);
  if (d == NULL)
    return 0; /* gone, or not ours to read */

  uint64_t seen[64];
  size_t nseen = 0;
  int found = 0;
  bool have_meta = false;
  struct xw_client c = {.pid = (pid_t)atoi(pid_name)};
  char text[2048];

  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (!all_digits(e->d_name))
      continue;
    /* The link is cheap and filters out every non-DRM fd before fdinfo. */
    ssize_t n = readlinkat(dirfd(d), e->d_name, c.link, sizeof(c.link) - 1);
    if (n <= 0)
      continue;
    c.link[n] = '\0';
    if (strncmp(c.link, "/dev/dri/", 9) != 0 && !is_node(c.link, nodes, nnodes))
      continue;
    snprintf(path, sizeof(path), "%s/%s/fdinfo/%s", proc_root, pid_name,
             e->d_name);
    if (read_small(path, text, sizeof(text)) < 0 ||
        !xw_fdinfo_parse(text, &c) || strcmp(c.driver, driver) != 0)
      continue;
    bool dup = false;
    for (size_t i = 0; i < nseen && !dup; i++)
      dup = seen[i] == c.client_id;
    if (dup)
      continue;
    if (nseen < sizeof(seen) / sizeof(seen[0]))
      seen[nseen++] = c.client_id;
    if (!have_meta) {
      /* Both are the workload's to choose: escaped before anyone logs
       * them. */
      snprintf(path, sizeof(path), "%s/%s/comm", proc_root, pid_name);
      ssize_t len = read_small(path, text, sizeof(text));
      if (len < 0)
        len = 0;
      if (len > 0 && text[len - 1] == '\n')
        len--; /* the kernel's; a newline before it is the process's */
      xw_escape_ctl(text, (size_t)len, c.comm, sizeof(c.comm));
      snprintf(path, sizeof(path), "%s/%s/cgroup", proc_root, pid_name);
      if (read_small(path, text, sizeof(text)) < 0)
        text[0] = '\0';
      char raw[XW_CGROUP_LEN];
      xw_cgroup_path(text, raw, sizeof(raw));
      xw_container_id(raw, c.container, sizeof(c.container));
      xw_pod_uid(raw, c.pod_uid, sizeof(c.pod_uid));
      xw_escape_ctl(raw, sizeof(raw), c.cgroup, sizeof(c.cgroup));
      have_meta = true;
    }
    c.fd = atoi(e->d_name);
    cb(ctx, &c);
    found++;
  }
  closedir(d);
  return found;
}

int xw_discovery_walk_begin(struct xw_discovery_walk *w,
                            const char *proc_root) {
  w->found = 0;
  w->dir = opendir(proc_root);
  if (w->dir == NULL)
    return -errno;
  w->self = xw_discovery_self(proc_root);
  return 0;
}

bool xw_discovery_walk_step(struct xw_discovery_walk *w, const char *proc_root,
                            const char *driver, const char *const *nodes,
                            size_t nnodes, xw_client_cb cb, void *ctx,
                            unsigned max_pids) {
  if (w->dir == NULL)
    return false;
  /* readdir() of procfs resumes where it stopped: processes that come or
   * go between slices are seen or not, as in any walk of a live /proc. */
  for (unsigned n = 0; n < max_pids;) {
    struct dirent *e = readdir(w->dir);
    if (e == NULL)
      return false;
    if (!all_digits(e->d_name) || (pid_t)atoi(e->d_name) == w->self)
      continue;
    w->found +=
        scan_process(proc_root, e->d_name, driver, nodes, nnodes, cb, ctx);
    n++;
  }
  return true;
}

void xw_discovery_walk_end(struct xw_discovery_walk *w) {
  if (w->dir != NULL)
    closedir(w->dir);
  w->dir = NULL;
}

int xw_discovery_scan(const char *proc_root, const char *driver,
                      const char *const *nodes, size_t nnodes, xw_client_cb cb,
                      void *ctx) {
  struct xw_discovery_walk w;
  int err = xw_discovery_walk_begin(&w, proc_root);
  if (err != 0)
    return err;
  while (xw_discovery_walk_step(&w, proc_root, driver, nodes, nnodes, cb, ctx,
                                UINT32_MAX))
    ;
  xw_discovery_walk_end(&w);
  return w.found;
}

int xw_discovery_fdinfo(const char *proc_root, pid_t pid, int fd,
                        struct xw_client *c) {
  char path[4096], text[2048];
  snprintf(path, sizeof(path), "%s/%d/fdinfo/%d", proc_root, (int)pid, fd);
  if (read_small(path, text, sizeof(text)) < 0)
    return -errno;
  return xw_fdinfo_parse(text, c) ? 0 : -ENOENT;
}

int xw_discovery_open_watch(void) {
  int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  return fd >= 0 ? fd : -errno;
}

int xw_discovery_watch_node(int fd, const char *node) {
  /* Follows symlinks (by-path names): the watch is on the node's inode,
   * so opens through any of its names are heard. */
  return inotify_add_watch(fd, node, IN_OPEN) >= 0 ? 0 : -errno;
}

bool xw_discovery_opened(int fd) {
  char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  bool opened = false;
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) {
    for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
      const struct inotify_event *ev = (const void *)(buf + off);
      opened |= (ev->mask & IN_OPEN) != 0;
      off += (ssize_t)sizeof(*ev) + ev->len;
    }
  }
  return opened;
}
