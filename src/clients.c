/* SPDX-License-Identifier: MIT */
/* What procfs says about a workload's DRM file: pure parsers. */
#include "clients.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

char *xw_escape_ctl(const char *in, size_t n, char *out, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < n && in[i] != '\0'; i++) {
    unsigned char ch = (unsigned char)in[i];
    bool ctl = ch < 0x20 || ch == 0x7f;
    if (o + (ctl ? 4 : 1) >= len)
      break;
    if (ctl) {
      out[o++] = '\\';
      out[o++] = 'x';
      out[o++] = hex[ch >> 4];
      out[o++] = hex[ch & 15];
    } else {
      out[o++] = (char)ch;
    }
  }
  if (len > 0)
    out[o] = '\0';
  return out;
}

/* A pod UID at p: 36 characters, dashes (or systemd's underscores) at 8,
 * 13, 18 and 23 and hex digits elsewhere, or a static pod's 32 hex digits.
 * Its length, or 0. */
static size_t uid_at(const char *p) {
  size_t n = 0;
  while (isxdigit((unsigned char)p[n]) || p[n] == '-' || p[n] == '_')
    n++;
  if (n == 32) {
    for (size_t i = 0; i < n; i++)
      if (!isxdigit((unsigned char)p[i]))
        return 0;
    return n;
  }
  if (n != 36)
    return 0;
  for (size_t i = 0; i < n; i++) {
    bool sep = i == 8 || i == 13 || i == 18 || i == 23;
    if (sep != (p[i] == '-' || p[i] == '_'))
      return 0;
  }
  return n;
}

void xw_pod_uid(const char *cgroup, char *out, size_t len) {
  out[0] = '\0';
  const char *k = strstr(cgroup, "kubepods");
  if (k == NULL)
    return;
  /* Each path component after kubepods: "kubepods[-qos]-pod<uid>.slice"
   * (systemd) or "pod<uid>" (cgroupfs). */
  for (const char *seg = k; seg != NULL && *seg != '\0';) {
    size_t seglen = strcspn(seg, "/");
    const char *pod = NULL;
    if (seglen > 6 && strncmp(seg + seglen - 6, ".slice", 6) == 0) {
      /* the last "-pod" in the slice name */
      for (const char *q = seg; q + 4 <= seg + seglen; q++)
        if (strncmp(q, "-pod", 4) == 0)
          pod = q + 4;
    } else if (strncmp(seg, "pod", 3) == 0) {
      pod = seg + 3;
    }
    if (pod != NULL) {
      size_t n = uid_at(pod);
      const char *end = pod + n;
      bool whole =
          n > 0 && (end == seg + seglen || (end + 6 == seg + seglen &&
                                            strncmp(end, ".slice", 6) == 0));
      if (whole && n < len) {
        for (size_t i = 0; i < n; i++)
          out[i] = pod[i] == '_' ? '-' : pod[i];
        out[n] = '\0';
        return;
      }
    }
    seg = seg[seglen] == '/' ? seg + seglen + 1 : NULL;
  }
}
