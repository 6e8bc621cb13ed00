/* SPDX-License-Identifier: MIT */
#include "options.h"

#include "plugin.h"
#include "utils/common/common.h"

#include "xe_watch_uapi.h"

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
  cfg->client_scan = TIME_T_TO_CDTIME_T(10);
  cfg->device_check = TIME_T_TO_CDTIME_T(5);
  cfg->watch_uevents = true;
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

static int get_int_range(const oconfig_item_t *ci, int min, int max, int *out) {
  int v;
  if (cf_util_get_int(ci, &v) != 0)
    return -1;
  if (v < min || v > max) {
    ERROR("xe_watch plugin: %s %d is out of range; use %d to %d.", ci->key, v,
          min, max);
    return -1;
  }
  *out = v;
  return 0;
}

static int get_positive_time(const oconfig_item_t *ci, cdtime_t *out) {
  cdtime_t t;
  if (cf_util_get_cdtime(ci, &t) != 0)
    return -1;
  if (t == 0) {
    ERROR("xe_watch plugin: %s must be a positive number of seconds.", ci->key);
    return -1;
  }
  *out = t;
  return 0;
}

/* 0 turns the probe off; beyond a day it would be no safety net at all. */
static int get_check_interval(const oconfig_item_t *ci, cdtime_t *out) {
  cdtime_t t;
  if (cf_util_get_cdtime(ci, &t) != 0)
    return -1;
  if (t > TIME_T_TO_CDTIME_T(86400)) {
    ERROR("xe_watch plugin: DeviceCheckInterval %.3f is out of range: use 0 "
          "(off) to 86400 seconds.",
          CDTIME_T_TO_DOUBLE(t));
    return -1;
  }
  *out = t;
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

static int get_proc_root(const oconfig_item_t *ci, char **out) {
  char *p = NULL;
  if (cf_util_get_string(ci, &p) != 0)
    return -1;
  if (p[0] != '/') {
    ERROR("xe_watch plugin: ProcRoot \"%s\" is not an absolute path; use "
          "where the host's /proc is mounted, e.g. \"/host/proc\".",
          p);
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
      err = get_proc_root(c, &cfg->proc_root);
    else if (strcasecmp("ClientScanInterval", c->key) == 0)
      err = get_positive_time(c, &cfg->client_scan);
    else if (strcasecmp("ClientProcessMatch", c->key) == 0)
      err = get_regex(c, &cfg->client_process);
    else if (strcasecmp("ClientCgroupMatch", c->key) == 0)
      err = get_regex(c, &cfg->client_cgroup);
    else if (strcasecmp("WatchUevents", c->key) == 0)
      err = cf_util_get_boolean(c, &cfg->watch_uevents);
    else if (strcasecmp("AutoDiscover", c->key) == 0)
      err = cf_util_get_boolean(c, &cfg->auto_discover);
    else if (strcasecmp("DeviceCheckInterval", c->key) == 0)
      err = get_check_interval(c, &cfg->device_check);
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
  if (!cfg->send_notification && !cfg->dispatch_values) {
    ERROR("xe_watch plugin: SendNotification and DispatchValues are both "
          "false, so nothing would be reported; enable one.");
    return -1;
  }
  return 0;
}
