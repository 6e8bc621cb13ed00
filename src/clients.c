/* SPDX-License-Identifier: MIT */
#include "clients.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

static void copy_str(char *out, size_t len, const char *src, size_t n) {
  if (n >= len)
    n = len - 1;
  memcpy(out, src, n);
  out[n] = '\0';
}

/* The value of "key:<tabs/spaces>value" on the line starting at p. */
static const char *value_of(const char *line, const char *key, size_t *vlen) {
  size_t k = strlen(key);
  if (strncmp(line, key, k) != 0 || line[k] != ':')
    return NULL;
  const char *v = line + k + 1;
  while (*v == ' ' || *v == '\t')
    v++;
  size_t n = strcspn(v, "\n");
  while (n > 0 && isspace((unsigned char)v[n - 1]))
    n--;
  *vlen = n;
  return v;
}

int xw_fdinfo_parse(const char *text, struct xw_client *c) {
  bool have_driver = false, have_id = false;
  c->driver[0] = c->pdev[0] = '\0';
  c->client_id = 0;
  for (const char *line = text; line != NULL && *line != '\0';) {
    size_t n;
    const char *v;
    if ((v = value_of(line, "drm-driver", &n)) != NULL) {
      copy_str(c->driver, sizeof(c->driver), v, n);
      have_driver = n > 0;
    } else if ((v = value_of(line, "drm-pdev", &n)) != NULL) {
      copy_str(c->pdev, sizeof(c->pdev), v, n);
    } else if ((v = value_of(line, "drm-client-id", &n)) != NULL) {
      char buf[24];
      copy_str(buf, sizeof(buf), v, n);
      char *end;
      errno = 0;
      unsigned long long id = strtoull(buf, &end, 10);
      have_id = errno == 0 && end != buf && *end == '\0';
      c->client_id = have_id ? id : 0;
    }
    line = strchr(line, '\n');
    if (line != NULL)
      line++;
  }
  return have_driver && have_id;
}

void xw_cgroup_path(const char *text, char *out, size_t len) {
  out[0] = '\0';
  const char *first = NULL;
  for (const char *line = text; line != NULL && *line != '\0';) {
    /* "hierarchy-ID:controllers:path" */
    const char *c1 = strchr(line, ':');
    const char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
    const char *eol = strchr(line, '\n');
    if (c2 != NULL && (eol == NULL || c2 < eol)) {
      const char *path = c2 + 1;
      size_t n = eol != NULL ? (size_t)(eol - path) : strlen(path);
      if (strncmp(line, "0::", 3) == 0) {
        copy_str(out, len, path, n);
        return;
      }
      if (first == NULL) {
        first = path;
        copy_str(out, len, path, n);
      }
    }
    line = eol != NULL ? eol + 1 : NULL;
  }
}

void xw_container_id(const char *cgroup, char *out, size_t len) {
  out[0] = '\0';
  size_t run = 0;
  for (const char *p = cgroup;; p++) {
    if (*p != '\0' && isxdigit((unsigned char)*p) &&
        !isupper((unsigned char)*p)) {
      run++;
      continue;
    }
    if (run == 64) {
      copy_str(out, len, p - 64, 64);
      return;
    }
    run = 0;
    if (*p == '\0')
      return;
  }
}

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

static pid_t self_pid(const char *proc_root) {
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

/* One process: every DRM fd whose fdinfo names `driver`, once per client
 * id (a file shared by several fds of the process is one client). */
static int scan_process(const char *proc_root, const char *pid_name,
                        const char *driver, xw_client_cb cb, void *ctx) {
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
    if (strncmp(c.link, "/dev/dri/", 9) != 0)
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
      snprintf(path, sizeof(path), "%s/%s/comm", proc_root, pid_name);
      if (read_small(path, text, sizeof(text)) < 0)
        text[0] = '\0';
      copy_str(c.comm, sizeof(c.comm), text, strcspn(text, "\n"));
      snprintf(path, sizeof(path), "%s/%s/cgroup", proc_root, pid_name);
      if (read_small(path, text, sizeof(text)) < 0)
        text[0] = '\0';
      xw_cgroup_path(text, c.cgroup, sizeof(c.cgroup));
      xw_container_id(c.cgroup, c.container, sizeof(c.container));
      have_meta = true;
    }
    c.fd = atoi(e->d_name);
    cb(ctx, &c);
    found++;
  }
  closedir(d);
  return found;
}

int xw_clients_scan(const char *proc_root, const char *driver, xw_client_cb cb,
                    void *ctx) {
  DIR *d = opendir(proc_root);
  if (d == NULL)
    return -errno;
  pid_t me = self_pid(proc_root);
  int found = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (!all_digits(e->d_name) || (pid_t)atoi(e->d_name) == me)
      continue;
    found += scan_process(proc_root, e->d_name, driver, cb, ctx);
  }
  closedir(d);
  return found;
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
