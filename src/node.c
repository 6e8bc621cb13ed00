/* SPDX-License-Identifier: MIT */
/* Resolve a configured primary node to its GPU's render node through sysfs,
 * never opening the primary node. */
#include "node.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* DRM's character major; primary nodes have minors 0..63. */
#define XW_DRM_MAJOR 226
#define XW_DRM_PRIMARY_MINORS 64

static bool named(const char *name, const char *prefix) {
  size_t n = strlen(prefix);
  if (strncmp(name, prefix, n) != 0 || name[n] == '\0')
    return false;
  return strspn(name + n, "0123456789") == strlen(name + n);
}

int xw_node_render_of(const char *node, const char *sysfs, char *out,
                      size_t len) {
  struct stat st;
  if (stat(node, &st) != 0 || !S_ISCHR(st.st_mode))
    return 0;
  unsigned maj = major(st.st_rdev), min = minor(st.st_rdev);

  char path[PATH_MAX], target[PATH_MAX];
  snprintf(path, sizeof(path), "%s/dev/char/%u:%u", sysfs, maj, min);
  ssize_t n = readlink(path, target, sizeof(target) - 1);
  if (n < 0)
    /* No sysfs (a container without /sys?): the number alone says it is
     * primary, and a primary node must not be opened. */
    return maj == XW_DRM_MAJOR && min < XW_DRM_PRIMARY_MINORS ? -ENOENT : 0;
  target[n] = '\0';
  const char *slash = strrchr(target, '/');
  if (!named(slash != NULL ? slash + 1 : target, "card"))
    return 0;

  snprintf(path, sizeof(path), "%s/dev/char/%u:%u/device/drm", sysfs, maj, min);
  DIR *d = opendir(path);
  if (d == NULL)
    return -ENOENT;
  char render[NAME_MAX + 1] = "";
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (named(e->d_name, "renderD")) {
      snprintf(render, sizeof(render), "%s", e->d_name);
      break;
    }
  closedir(d);
  if (render[0] == '\0')
    return -ENOENT;

  /* The render node lives beside the card node's real path (/dev/dri). */
  char real[PATH_MAX];
  const char *base = realpath(node, real) != NULL ? real : node;
  const char *dir_end = strrchr(base, '/');
  int dlen = dir_end != NULL ? (int)(dir_end - base) : 0;
  if ((size_t)snprintf(out, len, "%.*s/%s", dlen, base, render) >= len)
    return -ENOENT;
  return 1;
}
