/* SPDX-License-Identifier: MIT */
/* The plugin's configuration and its parser. */
#ifndef XE_WATCH_OPTIONS_H
#define XE_WATCH_OPTIONS_H

#include "collectd.h"

#include "liboconfig/oconfig.h"

#include "uapi.h"

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#define XW_MAX_ERRNO_SEVERITY 32

/** Everything <Plugin xe_watch> can say; defaults from xw_config_init. */
struct xw_config {
  char **devices; /* Device, repeatable */
  size_t ndevices;
  int queue_size;          /* QueueSize: kernel ring, notes 1..512 */
  int severity;            /* Severity of VM_ERR notifications */
  bool send_notification;  /* SendNotification */
  bool dispatch_values;    /* DispatchValues */
  cdtime_t retry_interval; /* RetryInterval: first back-off */
  cdtime_t retry_max;      /* MaxRetryInterval: back-off cap */
  unsigned notify_limit;   /* NotificationLimit per device+errno+window */
  cdtime_t notify_window;  /* NotificationWindow */
  unsigned notify_queue;   /* NotificationQueueLength */
  bool watch_clients;      /* WatchClients: attach to workloads' files */
  char *proc_root;         /* ProcRoot: where /proc is (containers) */
  cdtime_t client_scan;    /* ClientScanInterval */
  char *client_process;    /* ClientProcessMatch: regex on comm */
  char *client_cgroup;     /* ClientCgroupMatch: regex on cgroup path */
  int max_per_process;     /* MaxClientsPerProcess, per GPU; 0: no cap */
  int max_per_cgroup;      /* MaxClientsPerCgroup, per GPU; 0: no cap */
  bool watch_uevents;      /* WatchUevents: wedged GPUs, coredumps */
  bool auto_discover;      /* AutoDiscover: every xe render node udev knows */
  cdtime_t device_check;   /* DeviceCheckInterval: ENODEV probe, 0 = off */
  char *sysfs_root;        /* SysfsRoot: where /sys is (containers) */
  const struct xw_uapi *uapi; /* UAPIRevision */
  /* SeverityByErrno lines, in order; a later line for an errno wins. */
  struct {
    int err; /* positive errno */
    int severity;
  } errno_severity[XW_MAX_ERRNO_SEVERITY];
  size_t nerrno_severity;
};

#define XW_DEFAULT_QUEUE_SIZE 256
#define XW_DEFAULT_NOTIFY_LIMIT 10
#define XW_DEFAULT_NOTIFY_QUEUE 4096
/* Watch ids are 255 per GPU: no single process or cgroup takes them all. */
#define XW_DEFAULT_MAX_PER_PROCESS 16
#define XW_DEFAULT_MAX_PER_CGROUP 64
#define XW_MAX_DEVICES 256

void xw_config_init(struct xw_config *cfg);
void xw_config_free(struct xw_config *cfg);

/**
 * Parse a <Plugin xe_watch> block into cfg (which holds defaults or earlier
 * blocks' values). Every problem is logged with what to fix; returns 0, or
 * -1 if the configuration must be rejected.
 */
int xw_config_parse(struct xw_config *cfg, const oconfig_item_t *ci);

/** Append a device node (no checks: for discovered nodes). 0 or -ENOMEM. */
int xw_config_add_device(struct xw_config *cfg, const char *path);

/**
 * Drop every Device that names a GPU already listed: the same node under
 * another spelling or link (same device number), or another node of the same
 * GPU (card and render node: same PCI slot); the render node is kept. Logs
 * which line was dropped and why. Call once the Devices are final.
 */
void xw_config_dedupe(struct xw_config *cfg);

/**
 * Severity of a VM_ERR notification for error_code (negative errno; 0 for
 * errnos without a counter of their own): a SeverityByErrno line for it,
 * else WARNING for -ENOMEM and -ENOSPC when the uAPI revision has
 * restartable VMs (the errors after which v2 pauses a VM for
 * VM_RESTART rather than killing it), else Severity.
 */
int xw_config_severity(const struct xw_config *cfg, int error_code);

/** Checks that need the whole configuration (e.g. at least one Device).
 *  Logs what to fix; returns 0 or -1. */
int xw_config_validate(const struct xw_config *cfg);

#endif
