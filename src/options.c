/* SPDX-License-Identifier: MIT */
/* The <Plugin xe_watch> block: parse, check and explain every option. */
#include "options.h"

#include "plugin.h"
#include "utils/common/common.h"

#include "device.h"
#include "xe_watch_uapi.h"

#include <sys/sysmacros.h>

#define XW_DRM_MAJOR 226

void xw_config_init(struct xw_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->queue_size = XW_DEFAULT_QUEUE_SIZE;
  cfg->severity = NOTIF_FAILURE;
  cfg->send_notification = true;
  cfg->dispatch_values = true;
  cfg->retry_interval = TIME_T_TO_CDTIME_T(1);
  cfg->retry_max = TIME_T_TO_CDTIME_T(300);
  cfg->notify_limit = XW_DEFAULT_NOTIFY_LIMIT;
  cfg->notify_window = TIME_T_TO_CDTIME_T(60);
  cfg->notify_queue = XW_DEFAULT_NOTIFY_QUEUE;
  cfg->watch_clients = true;
  cfg->max_per_process = XW_DEFAULT_MAX_PER_PROCESS;
  cfg->max_per_cgroup = XW_DEFAULT_MAX_PER_CGROUP;
  cfg->client_scan = 0; /* 60 s if node opens are heard, else 10 s */
  cfg->device_check = TIME_T_TO_CDTIME_T(5);
  cfg->watch_uevents = true;
  cfg->uapi = xw_uapi_default();
}

void xw_config_free(struct xw_config *cfg) {
  for (size_t i = 0; i < cfg->ndevices; i++)
    free(cfg->devices[i]);
  free(cfg->devices);
  cfg->devices = NULL;
  cfg->ndevices = 0;
  sfree(cfg->proc_root);
  sfree(cfg->client_process);
  sfree(cfg->client_cgroup);
  sfree(cfg->sysfs_root);
}

int xw_config_add_device(struct xw_config *cfg, const char *path) {
  char **grown =
      realloc(cfg->devices, (cfg->ndevices + 1) * sizeof(*cfg->devices));
  char *node = strdup(path);
  if (grown == NULL || node == NULL) {
    free(node);
    if (grown != NULL)
      cfg->devices = grown;
    return -ENOMEM;
  }
  cfg->devices = grown;
  cfg->devices[cfg->ndevices++] = node;
  return 0;
}

static int add_device(struct xw_config *cfg, const oconfig_item_t *ci) {
  char *node = NULL;
  if (cf_util_get_string(ci, &node) != 0) {
    ERROR("xe_watch plugin: Device needs one string, a DRM node such as "
          "\"/dev/dri/renderD128\".");
    return -1;
  }
  if (node[0] != '/') {
    ERROR("xe_watch plugin: Device \"%s\" is not an absolute path; use a "
          "node such as \"/dev/dri/renderD128\".",
          node);
    free(node);
    return -1;
  }
  for (size_t i = 0; i < cfg->ndevices; i++) {
    if (strcmp(cfg->devices[i], node) == 0) {
      ERROR("xe_watch plugin: Device \"%s\" is listed twice; remove one.",
            node);
      free(node);
      return -1;
    }
  }
  if (cfg->ndevices >= XW_MAX_DEVICES) {
    ERROR("xe_watch plugin: more than %d Device options; this is a "
          "configuration mistake.",
          XW_MAX_DEVICES);
    free(node);
    return -1;
  }
  int err = xw_config_add_device(cfg, node);
  free(node);
  return err == 0 ? 0 : -1;
}

/* The number an option was given, as written; logs and returns -1 if it
 * has none. */
static int get_number(const oconfig_item_t *ci, double *out) {
  if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_NUMBER) {
    ERROR("xe_watch plugin: %s needs one number.", ci->key);
    return -1;
  }
  *out = ci->values[0].value.number;
  return 0;
}

/* A count: a whole number in min..max, checked before any conversion so the
 * message quotes what the operator wrote, not what an int made of it. */
static int get_int_range(const oconfig_item_t *ci, int min, int max, int *out) {
  double v;
  if (get_number(ci, &v) != 0)
    return -1;
  if (v < min || v > max) {
    ERROR("xe_watch plugin: %s %.15g is out of range; use %d to %d.", ci->key,
          v, min, max);
    return -1;
  }
  if (v != (double)(int)v) {
    ERROR("xe_watch plugin: %s %.15g is not a whole number; use %d to %d.",
          ci->key, v, min, max);
    return -1;
  }
  *out = (int)v;
  return 0;
}

/* Every time option: 1 ms to 1 day. Longer would overflow poll()'s int
 * milliseconds (24.8 days) in places, and no back-off or window needs it. */
#define XW_TIME_MIN 0.001
#define XW_TIME_MAX 86400.0

static int get_positive_time(const oconfig_item_t *ci, cdtime_t *out) {
  double v;
  if (get_number(ci, &v) != 0)
    return -1;
  if (v <= 0) {
    ERROR("xe_watch plugin: %s must be a positive number of seconds, not "
          "%.15g.",
          ci->key, v);
    return -1;
  }
  if (v < XW_TIME_MIN || v > XW_TIME_MAX) {
    ERROR("xe_watch plugin: %s %.15g is out of range; use %g to %g seconds.",
          ci->key, v, XW_TIME_MIN, XW_TIME_MAX);
    return -1;
  }
  *out = DOUBLE_TO_CDTIME_T(v);
  return 0;
}

/* 0 turns the probe off; beyond a day it would be no safety net at all. */
static int get_check_interval(const oconfig_item_t *ci, cdtime_t *out) {
  double v;
  if (get_number(ci, &v) != 0)
    return -1;
  if (v == 0) {
    *out = 0; /* off */
    return 0;
  }
  if (v < XW_TIME_MIN || v > XW_TIME_MAX) {
    ERROR("xe_watch plugin: %s %.15g is out of range: use 0 (off) or %g to "
          "%g seconds.",
          ci->key, v, XW_TIME_MIN, XW_TIME_MAX);
    return -1;
  }
  *out = DOUBLE_TO_CDTIME_T(v);
  return 0;
}

static int get_severity(const oconfig_item_t *ci, int *out) {
  char buf[16];
  if (cf_util_get_string_buffer(ci, buf, sizeof(buf)) != 0)
    return -1;
  if (strcasecmp(buf, "failure") == 0)
    *out = NOTIF_FAILURE;
  else if (strcasecmp(buf, "warning") == 0)
    *out = NOTIF_WARNING;
  else {
    ERROR("xe_watch plugin: Severity \"%s\" is not known; use \"failure\" "
          "or \"warning\".",
          buf);
    return -1;
  }
  return 0;
}

static int get_severity_name(const oconfig_item_t *ci, const char *s,
                             int *out) {
  if (strcasecmp(s, "failure") == 0)
    *out = NOTIF_FAILURE;
  else if (strcasecmp(s, "warning") == 0)
    *out = NOTIF_WARNING;
  else {
    ERROR("xe_watch plugin: %s: severity \"%s\" is not known; use "
          "\"failure\" or \"warning\".",
          ci->key, s);
    return -1;
  }
  return 0;
}

/* An errno by name ("ENOMEM") or number ("12", "-12"). */
static int parse_errno(const char *s) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s != '\0' && *end == '\0')
    return v < 0 ? (v >= -4095 ? (int)-v : 0) : (v <= 4095 ? (int)v : 0);
  for (int e = 1; e < 4096; e++) {
    const char *name = strerrorname_np(e);
    if (name != NULL && strcasecmp(name, s) == 0)
      return e;
  }
  return 0;
}

/* SeverityByErrno "ENOMEM" "warning" */
static int get_errno_severity(struct xw_config *cfg, const oconfig_item_t *ci) {
  if (ci->values_num != 2 || ci->values[0].type != OCONFIG_TYPE_STRING ||
      ci->values[1].type != OCONFIG_TYPE_STRING) {
    ERROR("xe_watch plugin: SeverityByErrno needs two strings, an errno and "
          "a severity, e.g. SeverityByErrno \"ENOMEM\" \"warning\".");
    return -1;
  }
  int err = parse_errno(ci->values[0].value.string);
  if (err == 0) {
    ERROR("xe_watch plugin: SeverityByErrno: \"%s\" is not an errno; use a "
          "name such as \"ENOMEM\" or a number.",
          ci->values[0].value.string);
    return -1;
  }
  int sev;
  if (get_severity_name(ci, ci->values[1].value.string, &sev) != 0)
    return -1;
  for (size_t i = 0; i < cfg->nerrno_severity; i++)
    if (cfg->errno_severity[i].err == err) {
      cfg->errno_severity[i].severity = sev;
      return 0;
    }
  if (cfg->nerrno_severity >= XW_MAX_ERRNO_SEVERITY) {
    ERROR("xe_watch plugin: more than %d SeverityByErrno lines; this is a "
          "configuration mistake.",
          XW_MAX_ERRNO_SEVERITY);
    return -1;
  }
  cfg->errno_severity[cfg->nerrno_severity].err = err;
  cfg->errno_severity[cfg->nerrno_severity].severity = sev;
  cfg->nerrno_severity++;
  return 0;
}

int xw_config_severity(const struct xw_config *cfg, int error_code) {
  int err = error_code < 0 ? -error_code : error_code;
  for (size_t i = 0; i < cfg->nerrno_severity; i++)
    if (cfg->errno_severity[i].err == err)
      return cfg->errno_severity[i].severity;
  if (cfg->uapi != NULL && cfg->uapi->restartable_vms &&
      (err == ENOMEM || err == ENOSPC))
    return NOTIF_WARNING;
  return cfg->severity;
}

static int get_uapi(const oconfig_item_t *ci, const struct xw_uapi **out) {
  char buf[32], names[96];
  if (cf_util_get_string_buffer(ci, buf, sizeof(buf)) != 0)
    return -1;
  const struct xw_uapi *u = xw_uapi_find(buf);
  if (u == NULL) {
    ERROR("xe_watch plugin: UAPIRevision \"%s\" is not known; this build "
          "knows %s.",
          buf, xw_uapi_names(names, sizeof(names)));
    return -1;
  }
  *out = u;
  return 0;
}

/* A regular expression option, compiled once here so a typo is reported by
 * `collectd -t` rather than at the first scan. */
static int get_regex(const oconfig_item_t *ci, char **out) {
  char *re = NULL;
  if (cf_util_get_string(ci, &re) != 0)
    return -1;
  regex_t rx;
  int err = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB);
  if (err != 0) {
    char msg[128];
    regerror(err, &rx, msg, sizeof(msg));
    ERROR("xe_watch plugin: %s \"%s\" is not a valid extended regular "
          "expression: %s.",
          ci->key, re, msg);
    free(re);
    return -1;
  }
  regfree(&rx);
  free(*out);
  *out = re;
  return 0;
}

/* Where a host directory (/proc, /sys) is mounted: an absolute path to a
 * directory that exists now, so a typo is reported by `collectd -T`. */
static int get_root_dir(const oconfig_item_t *ci, const char *example,
                        char **out) {
  char *p = NULL;
  if (cf_util_get_string(ci, &p) != 0)
    return -1;
  struct stat st;
  if (p[0] != '/') {
    ERROR("xe_watch plugin: %s \"%s\" is not an absolute path; use "
          "where the host's directory is mounted, e.g. \"%s\".",
          ci->key, p, example);
    free(p);
    return -1;
  }
  if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
    ERROR("xe_watch plugin: %s \"%s\" %s; mount the host's directory "
          "there or fix the path.",
          ci->key, p,
          errno == ENOENT ? "does not exist" : "is not a directory");
    free(p);
    return -1;
  }
  free(*out);
  *out = p;
  return 0;
}

int xw_config_parse(struct xw_config *cfg, const oconfig_item_t *ci) {
  int status = 0;
  for (int i = 0; i < ci->children_num; i++) {
    const oconfig_item_t *c = ci->children + i;
    int err;
    int v;
    if (strcasecmp("Device", c->key) == 0)
      err = add_device(cfg, c);
    else if (strcasecmp("QueueSize", c->key) == 0)
      err = get_int_range(c, 1, WATCH_QUEUE_MAX_NOTES, &cfg->queue_size);
    else if (strcasecmp("Severity", c->key) == 0)
      err = get_severity(c, &cfg->severity);
    else if (strcasecmp("SendNotification", c->key) == 0)
      err = cf_util_get_boolean(c, &cfg->send_notification);
    else if (strcasecmp("DispatchValues", c->key) == 0)
      err = cf_util_get_boolean(c, &cfg->dispatch_values);
    else if (strcasecmp("RetryInterval", c->key) == 0)
      err = get_positive_time(c, &cfg->retry_interval);
    else if (strcasecmp("MaxRetryInterval", c->key) == 0)
      err = get_positive_time(c, &cfg->retry_max);
    else if (strcasecmp("NotificationWindow", c->key) == 0)
      err = get_positive_time(c, &cfg->notify_window);
    else if (strcasecmp("NotificationLimit", c->key) == 0) {
      err = get_int_range(c, 0, 1000000, &v);
      if (err == 0)
        cfg->notify_limit = (unsigned)v;
    } else if (strcasecmp("NotificationQueueLength", c->key) == 0) {
      err = get_int_range(c, 16, 1 << 20, &v);
      if (err == 0)
        cfg->notify_queue = (unsigned)v;
    } else if (strcasecmp("WatchClients", c->key) == 0)
      err = cf_util_get_boolean(c, &cfg->watch_clients);
    else if (strcasecmp("ProcRoot", c->key) == 0)
      err = get_root_dir(c, "/host/proc", &cfg->proc_root);
    else if (strcasecmp("ClientScanInterval", c->key) == 0)
      err = get_positive_time(c, &cfg->client_scan);
    else if (strcasecmp("ClientProcessMatch", c->key) == 0)
      err = get_regex(c, &cfg->client_process);
    else if (strcasecmp("ClientCgroupMatch", c->key) == 0)
      err = get_regex(c, &cfg->client_cgroup);
    else if (strcasecmp("MaxClientsPerProcess", c->key) == 0)
      err = get_int_range(c, 0, 255, &cfg->max_per_process);
    else if (strcasecmp("MaxClientsPerCgroup", c->key) == 0)
      err = get_int_range(c, 0, 255, &cfg->max_per_cgroup);
    else if (strcasecmp("WatchUevents", c->key) == 0)
      err = cf_util_get_boolean(c, &cfg->watch_uevents);
    else if (strcasecmp("AutoDiscover", c->key) == 0)
      err = cf_util_get_boolean(c, &cfg->auto_discover);
    else if (strcasecmp("DeviceCheckInterval", c->key) == 0)
      err = get_check_interval(c, &cfg->device_check);
    else if (strcasecmp("SysfsRoot", c->key) == 0)
      err = get_root_dir(c, "/host/sys", &cfg->sysfs_root);
    else if (strcasecmp("UAPIRevision", c->key) == 0)
      err = get_uapi(c, &cfg->uapi);
    else if (strcasecmp("SeverityByErrno", c->key) == 0)
      err = get_errno_severity(cfg, c);
    else {
      ERROR("xe_watch plugin: unknown option \"%s\"; see collectd-xe_watch(5) "
            "for the options.",
            c->key);
      err = -1;
    }
    if (err != 0)
      status = -1;
  }
  return status;
}

/* What can be known of each Device without opening it (no side effects, so
 * `collectd -T` and a configuration read say it before anything runs).
 * Warnings only: the node may change before the listener tries it, and the
 * listener says the same in its own words when it does. An absent node is
 * normal (a driver that binds later) and said by the listener. */
static void check_devices(const struct xw_config *cfg) {
  xw_set_sysfs_root(cfg->sysfs_root);
  for (size_t i = 0; i < cfg->ndevices; i++) {
    const char *node = cfg->devices[i];
    unsigned long rdev;
    char driver[32];
    int err = xw_node_rdev(node, &rdev);
    if (err == -ENOTTY)
      WARNING("xe_watch plugin: Device \"%s\" is not a device node; use a "
              "DRM node such as \"/dev/dri/renderD128\".",
              node);
    else if (err == 0 && major(rdev) != XW_DRM_MAJOR)
      WARNING("xe_watch plugin: Device \"%s\" is not a DRM node (device "
              "%u:%u; DRM nodes are %d:N); use a /dev/dri node.",
              node, major(rdev), minor(rdev), XW_DRM_MAJOR);
    else if (err == 0 && xw_node_driver(node, driver, sizeof(driver)) == 0 &&
             strcmp(driver, "xe") != 0)
      WARNING("xe_watch plugin: Device \"%s\" is driven by '%s', not 'xe'; "
              "only xe devices have watch queues.",
              node, driver);
  }
}

int xw_config_validate(const struct xw_config *cfg) {
  if (cfg->ndevices == 0 && !cfg->auto_discover) {
    ERROR("xe_watch plugin: no Device configured; add one such as "
          "Device \"/dev/dri/renderD128\" to <Plugin xe_watch>, or "
          "AutoDiscover true.");
    return -1;
  }
  if (cfg->retry_max < cfg->retry_interval) {
    ERROR("xe_watch plugin: MaxRetryInterval (%.3f s) is below RetryInterval "
          "(%.3f s); raise MaxRetryInterval.",
          CDTIME_T_TO_DOUBLE(cfg->retry_max),
          CDTIME_T_TO_DOUBLE(cfg->retry_interval));
    return -1;
  }
  check_devices(cfg);
  /* Accepted (a fleet-wide file may carry them), but said. */
  const struct {
    const char *key;
    bool set;
  } client_only[] = {{"ClientProcessMatch", cfg->client_process != NULL},
                     {"ClientCgroupMatch", cfg->client_cgroup != NULL},
                     {"ProcRoot", cfg->proc_root != NULL}};
  for (size_t i = 0; i < STATIC_ARRAY_SIZE(client_only); i++)
    if (client_only[i].set && !cfg->watch_clients)
      WARNING("xe_watch plugin: %s does nothing with WatchClients false; "
              "it is ignored.",
              client_only[i].key);
  if (!cfg->send_notification && !cfg->dispatch_values) {
    ERROR("xe_watch plugin: SendNotification and DispatchValues are both "
          "false, so nothing would be reported; enable one.");
    return -1;
  }
  return 0;
}

/* What identifies a configured node's GPU. */
struct gpu_key {
  bool have_rdev, have_slot;
  unsigned long rdev;
  char slot[XW_NAME_LEN];
};

static struct gpu_key gpu_key(const char *node) {
  struct gpu_key k = {0};
  k.have_rdev = xw_node_rdev(node, &k.rdev) == 0;
  k.have_slot = xw_node_pci_slot(node, k.slot, sizeof(k.slot)) == 0;
  return k;
}

/* DRM render nodes have minors 128 and up; primary (card) nodes below. */
static bool is_render(const struct gpu_key *k) {
  return k->have_rdev && minor(k->rdev) >= 128;
}

void xw_config_dedupe(struct xw_config *cfg) {
  if (cfg->ndevices < 2)
    return;
  struct gpu_key *keys = calloc(cfg->ndevices, sizeof(*keys));
  if (keys == NULL)
    return;
  size_t kept = 0;
  for (size_t i = 0; i < cfg->ndevices; i++) {
    char *node = cfg->devices[i];
    struct gpu_key k = gpu_key(node);
    size_t j;
    const char *why = NULL;
    for (j = 0; j < kept; j++)
      if (k.have_rdev && keys[j].have_rdev && k.rdev == keys[j].rdev) {
        why = "the same device node";
        break;
      }
    for (size_t m = 0; m < kept && why == NULL; m++)
      if (k.have_slot && keys[m].have_slot &&
          strcmp(k.slot, keys[m].slot) == 0) {
        why = "another node of the same GPU";
        j = m;
      }
    if (why == NULL) {
      keys[kept] = k;
      cfg->devices[kept++] = node;
      continue;
    }
    /* Keep the render node: opening a card node first makes the opener DRM
     * master, which can lock a display server out. */
    char *drop = node;
    if (is_render(&k) && !is_render(&keys[j])) {
      drop = cfg->devices[j];
      cfg->devices[j] = node;
      keys[j] = k;
    }
    char dev[XW_NAME_LEN + 16] = "";
    if (k.have_slot)
      snprintf(dev, sizeof(dev), " (PCI %s)", k.slot);
    else if (k.have_rdev)
      snprintf(dev, sizeof(dev), " (%u:%u)", major(k.rdev), minor(k.rdev));
    WARNING("xe_watch plugin: Device \"%s\" dropped: it is %s%s as Device "
            "\"%s\"; watching both would notify every event twice.",
            drop, why, dev, cfg->devices[j]);
    free(drop);
  }
  cfg->ndevices = kept;
  free(keys);
}
