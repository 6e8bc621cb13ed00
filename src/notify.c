/* SPDX-License-Identifier: MIT */
/* Mapping of events and counters onto collectd's notification_t and
 * value_list_t. */
#include "notify.h"

#include "utils/common/common.h"

#include "uevents.h"

static void notif_init(notification_t *n, int severity, cdtime_t time,
                       const char *name, const char *type,
                       const char *type_instance) {
  memset(n, 0, sizeof(*n));
  n->severity = severity;
  n->time = time != 0 ? time : cdtime();
  sstrncpy(n->host, hostname_g, sizeof(n->host));
  sstrncpy(n->plugin, XW_PLUGIN, sizeof(n->plugin));
  sstrncpy(n->plugin_instance, name, sizeof(n->plugin_instance));
  sstrncpy(n->type, type, sizeof(n->type));
  sstrncpy(n->type_instance, type_instance, sizeof(n->type_instance));
}

/* Meta allocation failure only loses meta; the message still goes out. */
static int notif_send(notification_t *n) {
  int status = plugin_dispatch_notification(n);
  plugin_notification_meta_free(n->meta);
  n->meta = NULL;
  return status;
}

int xw_notify_vm_err(const char *name, const char *node,
                     const struct xw_qitem *it,
                     const struct xw_client_attr *client, int severity,
                     uint32_t vm_failures, cdtime_t window) {
  notification_t n;
  char nb[16], again[64] = "";
  const char *en = xw_errno_name(it->error_code, nb, sizeof(nb));
  if (vm_failures > 1)
    snprintf(again, sizeof(again), "; failure %" PRIu32 " of this VM in %.0f s",
             vm_failures, CDTIME_T_TO_DOUBLE(window));

  notif_init(&n, severity, it->time, name, "errors", "vm_err");
  if (client != NULL)
    snprintf(n.message, sizeof(n.message),
             "VM %" PRIu32 " of pid %d (%s) on %s failed: %s (%s)%s", it->vm_id,
             (int)client->pid, client->comm, name, en,
             strerror(-it->error_code), again);
  else
    snprintf(n.message, sizeof(n.message),
             "VM %" PRIu32 " on %s failed: %s (%s)%s", it->vm_id, name, en,
             strerror(-it->error_code), again);
  plugin_notification_meta_add_unsigned_int(&n, "vm_id", it->vm_id);
  plugin_notification_meta_add_signed_int(&n, "error_code", it->error_code);
  plugin_notification_meta_add_string(&n, "errno", en);
  plugin_notification_meta_add_string(&n, "device", node);
  plugin_notification_meta_add_unsigned_int(&n, "watch_id",
                                            it->watch_id % XW_WATCH_SLOTS);
  if (it->watch_id >= XW_WATCH_SLOTS) /* a workload's file on an extra pipe */
    plugin_notification_meta_add_unsigned_int(&n, "pipe",
                                              it->watch_id / XW_WATCH_SLOTS);
  plugin_notification_meta_add_unsigned_int(&n, "vm_failures_in_window",
                                            vm_failures);
  if (client != NULL) {
    plugin_notification_meta_add_signed_int(&n, "pid", client->pid);
    plugin_notification_meta_add_string(&n, "comm", client->comm);
    plugin_notification_meta_add_string(&n, "cgroup", client->cgroup);
    if (client->pod_uid[0] != '\0')
      plugin_notification_meta_add_string(&n, "pod_uid", client->pod_uid);
    if (client->container[0] != '\0')
      plugin_notification_meta_add_string(&n, "container_id",
                                          client->container);
    plugin_notification_meta_add_unsigned_int(&n, "drm_client_id",
                                              client->client_id);
  }
  return notif_send(&n);
}

int xw_notify_wedged(const char *name, const char *node, unsigned methods,
                     cdtime_t time) {
  notification_t n;
  char advice[160], list[96] = "";
  static const char *const names[] = {"none", "rebind", "bus-reset",
                                      "vendor-specific", "unknown"};
  for (unsigned i = 0; i < STATIC_ARRAY_SIZE(names); i++)
    if (methods & (1u << i)) {
      if (list[0] != '\0')
        sstrncpy(list + strlen(list), ",", sizeof(list) - strlen(list));
      sstrncpy(list + strlen(list), names[i], sizeof(list) - strlen(list));
    }
  notif_init(&n, NOTIF_FAILURE, time, name, "errors", "wedged");
  snprintf(n.message, sizeof(n.message), "GPU %s is wedged; recovery: %s", name,
           xw_wedge_advice(methods, advice, sizeof(advice)));
  plugin_notification_meta_add_string(&n, "recovery", list);
  plugin_notification_meta_add_string(&n, "device", node);
  return notif_send(&n);
}

int xw_notify_coredump(const char *name, const char *node, unsigned index,
                       cdtime_t time) {
  notification_t n;
  char path[64];
  snprintf(path, sizeof(path), "/sys/class/devcoredump/devcd%u/data", index);
  notif_init(&n, NOTIF_WARNING, time, name, "errors", "coredump");
  snprintf(n.message, sizeof(n.message),
           "GPU %s wrote a device coredump at %s; copy it within 5 minutes "
           "for a bug report",
           name, path);
  plugin_notification_meta_add_string(&n, "coredump", path);
  plugin_notification_meta_add_string(&n, "device", node);
  return notif_send(&n);
}

int xw_notify_suppressed(const char *name, const char *node, int error_code,
                         uint64_t count, cdtime_t window, int severity) {
  notification_t n;
  char nb[16];
  const char *en =
      error_code != 0 ? xw_errno_name(error_code, nb, sizeof(nb)) : "other";

  notif_init(&n, severity, 0, name, "errors", "vm_err");
  snprintf(n.message, sizeof(n.message),
           "%" PRIu64 " more VM errors (%s) on %s suppressed in the last "
           "%.0f s; the errors-vm_err counters are exact",
           count, en, name, CDTIME_T_TO_DOUBLE(window));
  plugin_notification_meta_add_unsigned_int(&n, "suppressed", count);
  plugin_notification_meta_add_string(&n, "errno", en);
  plugin_notification_meta_add_string(&n, "device", node);
  return notif_send(&n);
}

int xw_notify_state(const char *name, const char *node, bool listening,
                    const char *cause, const char *code) {
  notification_t n;
  notif_init(&n, listening ? NOTIF_OKAY : NOTIF_FAILURE, 0, name, "gauge",
             "listening");
  if (listening)
    snprintf(n.message, sizeof(n.message), "Listening for VM errors on %s (%s)",
             name, node);
  else
    snprintf(n.message, sizeof(n.message), "Not listening on %s (%s): %s", name,
             node, cause);
  plugin_notification_meta_add_string(&n, "device", node);
  if (!listening) {
    plugin_notification_meta_add_string(&n, "cause", cause);
    plugin_notification_meta_add_string(&n, "cause_code", code);
  }
  return notif_send(&n);
}

int xw_notify_warning(const char *name, const char *node,
                      const char *type_instance, const char *message) {
  notification_t n;
  notif_init(&n, NOTIF_WARNING, 0, name, "errors", type_instance);
  sstrncpy(n.message, message, sizeof(n.message));
  plugin_notification_meta_add_string(&n, "device", node);
  return notif_send(&n);
}

static int dispatch_one(const char *name, const char *type,
                        const char *type_instance, value_t v) {
  value_list_t vl = VALUE_LIST_INIT;
  vl.values = &v;
  vl.values_len = 1;
  sstrncpy(vl.plugin, XW_PLUGIN, sizeof(vl.plugin));
  sstrncpy(vl.plugin_instance, name, sizeof(vl.plugin_instance));
  sstrncpy(vl.type, type, sizeof(vl.type));
  sstrncpy(vl.type_instance, type_instance, sizeof(vl.type_instance));
  return plugin_dispatch_values(&vl);
}

static int derive(const char *name, const char *ti, uint64_t n) {
  return dispatch_one(name, "errors", ti, (value_t){.derive = (derive_t)n});
}

static uint64_t ld(const _Atomic uint64_t *c) {
  return atomic_load_explicit(c, memory_order_relaxed);
}

int xw_dispatch_device_values(const char *name, const struct xw_counters *c,
                              uint64_t suppressed, bool listening) {
  int status = 0;
#define KEEP(x)                                                                \
  do {                                                                         \
    int s_ = (x);                                                              \
    if (status == 0)                                                           \
      status = s_;                                                             \
  } while (0)
  KEEP(derive(name, "vm_err", ld(&c->vm_err)));
  KEEP(derive(name, "lost", ld(&c->lost)));
  KEEP(derive(name, "malformed", ld(&c->malformed)));
  KEEP(derive(name, "unknown", ld(&c->unknown)));
  KEEP(derive(name, "dropped", ld(&c->dropped)));
  KEEP(derive(name, "suppressed", suppressed));
  KEEP(derive(name, "wedged", ld(&c->wedged)));
  KEEP(derive(name, "coredump", ld(&c->coredumps)));
  /* The errnos the driver is known to report exist from the start (at 0),
   * so rate functions see their first increase; others appear when seen. */
  static const bool expected[XW_ERRNO_SLOTS] = {
      [ENOMEM] = true, [ENOSPC] = true, [ETIME] = true, [EFAULT] = true};
  for (unsigned i = 0; i < XW_ERRNO_SLOTS; i++) {
    uint64_t n = ld(&c->by_errno[i]);
    if (n == 0 && !expected[i])
      continue;
    char ti[DATA_MAX_NAME_LEN], nb[16];
    snprintf(ti, sizeof(ti), "vm_err-%s",
             i == 0 ? "other" : xw_errno_name((int)i, nb, sizeof(nb)));
    KEEP(derive(name, ti, n));
  }
  KEEP(dispatch_one(name, "gauge", "listening",
                    (value_t){.gauge = listening ? 1 : 0}));
#undef KEEP
  return status;
}

int xw_dispatch_client_values(const char *name,
                              const struct xw_watch_slots *ws) {
  int status = dispatch_one(
      name, "gauge", "clients",
      (value_t){.gauge = atomic_load_explicit(&ws->n, memory_order_relaxed)});
  for (unsigned i = 0; i < XW_UNW_NR; i++) {
    char ti[DATA_MAX_NAME_LEN];
    snprintf(ti, sizeof(ti), "unwatched-%s", xw_unwatched_name(i));
    int s = derive(name, ti, ld(&ws->unwatched[i]));
    if (status == 0)
      status = s;
  }
  return status;
}
