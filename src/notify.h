/* SPDX-License-Identifier: MIT */
/* Events and counters as collectd notifications and values. */
#ifndef XE_WATCH_NOTIFY_H
#define XE_WATCH_NOTIFY_H

#include "collectd.h"

#include "plugin.h"

#include "listener.h"
#include "queue.h"

/* What collectd's consumers receive: the mapping of xe_watch's events onto
 * notification_t and value_list_t, in one place. */

#define XW_PLUGIN "xe_watch"

/** Dispatch the notification for one VM error: the message names the VM,
 *  device and errno (and the process, for a client's VM), and how often
 *  this VM failed in the window when more than once; meta carries vm_id,
 *  error_code, errno, device, watch_id, vm_failures_in_window, and for a
 *  client pid, comm, cgroup, container_id, drm_client_id. client is NULL
 *  for the node's own watch. Returns plugin_dispatch_notification's
 *  status. */
int xw_notify_vm_err(const char *name, const char *node,
                     const struct xw_qitem *it,
                     const struct xw_client_attr *client, int severity,
                     uint32_t vm_failures, cdtime_t window);

/** FAILURE: the GPU reported itself wedged; names the recovery method
 *  (meta "recovery", the WEDGED= methods). */
int xw_notify_wedged(const char *name, const char *node, unsigned methods,
                     cdtime_t time);

/** WARNING: the driver wrote a device coredump (/sys/class/devcoredump/
 *  devcd<index>/data) that operators may want to save. */
int xw_notify_coredump(const char *name, const char *node, unsigned index,
                       cdtime_t time);

/** "N more VM errors ... suppressed" for one device and errno. */
int xw_notify_suppressed(const char *name, const char *node, int error_code,
                         uint64_t count, cdtime_t window, int severity);

/** Listener state: FAILURE with the cause (meta cause, cause_code), or OKAY
 *  when listening again. */
int xw_notify_state(const char *name, const char *node, bool listening,
                    const char *cause, const char *code);

/** A WARNING about the pipe itself (kernel loss, full queue). */
int xw_notify_warning(const char *name, const char *node,
                      const char *type_instance, const char *message);

/** Dispatch one device's counters: errors/{vm_err,lost,malformed,unknown,
 *  dropped,suppressed}, errors/vm_err-<ERRNO> for every errno seen, and
 *  gauge/listening. Returns 0 or the first failing dispatch's status. */
int xw_dispatch_device_values(const char *name, const struct xw_counters *c,
                              uint64_t suppressed, bool listening);

/** Dispatch one device's client-watch values: gauge/clients (workload
 *  files watched now) and errors/unwatched-<reason> (files seen but not
 *  watched, per xw_unwatched reason). 0 or the first failing status. */
int xw_dispatch_client_values(const char *name,
                              const struct xw_watch_slots *ws);

#endif
