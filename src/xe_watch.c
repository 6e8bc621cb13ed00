/* SPDX-License-Identifier: MIT */
/*
 * xe_watch: turn Intel Xe watch-queue VM_ERR records into collectd
 * notifications and counters.
 *
 * Threads: a listener (epoll over every device's notification pipe; decodes,
 * counts, queues) and a dispatcher (the only caller of
 * plugin_dispatch_notification). Values go out from the read callback.
 * Both threads start in init, after collectd has forked.
 */
#include "collectd.h"

#include "plugin.h"
#include "utils/common/common.h"

#include "options.h"
#include "dispatch.h"
#include "listener.h"
#include "notify.h"
#include "device.h"
#include "queue.h"
#include "uevents.h"

static struct xw_config g_cfg;
static bool g_cfg_ready;
static bool g_cfg_bad;

static struct xw_device **g_devs;
static size_t g_ndev; /* created at init */
/* With AutoDiscover the listener appends GPUs bound later; room for
 * g_ndev + XW_LATE_GPUS, and the count everyone else reads. */
#define XW_LATE_GPUS 16
static _Atomic size_t g_ndev_live;
static struct xw_queue g_queue;
static struct xw_listener *g_listener;
static struct xw_dispatcher *g_dispatcher;
static regex_t g_rx_process, g_rx_cgroup;
static bool g_have_rx_process, g_have_rx_cgroup;

static int xw_config_cb(oconfig_item_t *ci) {
  if (!g_cfg_ready) {
    xw_config_init(&g_cfg);
    g_cfg_ready = true;
  }
  if (xw_config_parse(&g_cfg, ci) != 0 || xw_config_validate(&g_cfg) != 0) {
    g_cfg_bad = true;
    return -1;
  }
  return 0;
}

static int xw_read(user_data_t *ud) {
  (void)ud;
  if (!g_cfg.dispatch_values)
    return 0;
  char name[XW_NAME_LEN];
  size_t ndev = atomic_load_explicit(&g_ndev_live, memory_order_acquire);
  for (size_t i = 0; i < ndev; i++) {
    struct xw_device *dev = g_devs[i];
    xw_device_snapshot(dev, name, sizeof(name), NULL, 0);
    uint64_t supp =
        g_dispatcher != NULL ? xw_dispatcher_suppressed(g_dispatcher, i) : 0;
    xw_dispatch_device_values(name, &dev->ctr, supp,
                              atomic_load(&dev->state) == XW_DEV_LISTENING);
    if (g_cfg.watch_clients)
      xw_dispatch_client_values(name, &dev->watches);
  }
  return 0;
}

/* collectd frees the read callback's user data after stopping the read
 * threads and before any shutdown callback runs. Stopping the dispatcher
 * here guarantees no notification reaches a consumer plugin (network,
 * write_http...) whose shutdown has already freed its state. */
static void xw_read_freed(void *unused) {
  (void)unused;
  xw_dispatcher_stop(g_dispatcher);
}

static void teardown(void) {
  xw_dispatcher_stop(g_dispatcher);
  xw_listener_destroy(g_listener);
  g_listener = NULL;
  xw_dispatcher_destroy(g_dispatcher);
  g_dispatcher = NULL;
  xw_queue_destroy(&g_queue);
  if (g_have_rx_process)
    regfree(&g_rx_process);
  if (g_have_rx_cgroup)
    regfree(&g_rx_cgroup);
  g_have_rx_process = g_have_rx_cgroup = false;
  /* The listener is gone: the count no longer moves. */
  size_t ndev = atomic_load(&g_ndev_live);
  for (size_t i = 0; i < ndev; i++)
    xw_device_free(g_devs[i]);
  free(g_devs);
  g_devs = NULL;
  g_ndev = 0;
  atomic_store(&g_ndev_live, 0);
}

static void add_discovered(void *ctx, const char *node) {
  struct xw_config *cfg = ctx;
  char a[PATH_MAX], b[PATH_MAX];
  const char *ra = realpath(node, a) != NULL ? a : node;
  for (size_t i = 0; i < cfg->ndevices; i++) {
    const char *rb = realpath(cfg->devices[i], b) != NULL ? b : cfg->devices[i];
    if (strcmp(ra, rb) == 0)
      return; /* configured already */
  }
  if (cfg->ndevices >= XW_MAX_DEVICES || xw_config_add_device(cfg, node) != 0)
    return;
  INFO("xe_watch plugin: AutoDiscover: found %s", node);
}

static int xw_init(void) {
  if (!g_cfg_ready || g_cfg_bad) {
    ERROR("xe_watch plugin: %s; not starting.",
          g_cfg_bad ? "the configuration has errors (see above)"
                    : "no <Plugin xe_watch> block with a Device");
    return -1;
  }
  if (g_listener != NULL)
    return 0; /* init may run again after a re-read; keep one listener */

  xw_set_sysfs_root(g_cfg.sysfs_root);
  if (g_cfg.auto_discover) {
    int n = xw_discover_xe_nodes(add_discovered, &g_cfg);
    if (n < 0)
      ERROR("xe_watch plugin: AutoDiscover: cannot ask udev for devices: %s",
            STRERROR(-n));
    else if (n == 0 && g_cfg.ndevices > 0)
      NOTICE("xe_watch plugin: AutoDiscover found no GPU bound to the xe "
             "driver; watching the configured Devices");
    else if (n == 0) {
      /* One configuration for a whole fleet: a host without an xe GPU is
       * normal, not an error, and must not fail `collectd -T`. */
      NOTICE("xe_watch plugin: AutoDiscover found no GPU bound to the xe "
             "driver on this host; %s",
             g_cfg.watch_uevents ? "watching udev for one that binds later"
                                 : "nothing to watch (WatchUevents is false, "
                                   "so a GPU that binds later is not seen)");
      if (!g_cfg.watch_uevents)
        return 0;
    }
  }
  if (g_cfg.ndevices == 0 && !g_cfg.auto_discover) {
    ERROR("xe_watch plugin: no device to watch; not starting.");
    return -1;
  }
  xw_config_dedupe(&g_cfg);

  size_t room = g_cfg.ndevices;
  if (g_cfg.auto_discover && g_cfg.watch_uevents)
    room += XW_LATE_GPUS;
  g_devs = calloc(room, sizeof(*g_devs));
  if (g_devs == NULL)
    return -1;
  for (size_t i = 0; i < g_cfg.ndevices; i++) {
    g_devs[i] = xw_device_new(g_cfg.devices[i], (unsigned)i);
    if (g_devs[i] == NULL) {
      teardown();
      return -1;
    }
    g_ndev++;
    atomic_store(&g_ndev_live, g_ndev);
  }

  /* Validated when the configuration was read: these compile. */
  if (g_cfg.client_process != NULL)
    g_have_rx_process = regcomp(&g_rx_process, g_cfg.client_process,
                                REG_EXTENDED | REG_NOSUB) == 0;
  if (g_cfg.client_cgroup != NULL)
    g_have_rx_cgroup = regcomp(&g_rx_cgroup, g_cfg.client_cgroup,
                               REG_EXTENDED | REG_NOSUB) == 0;

  const char *proc_root = g_cfg.proc_root != NULL ? g_cfg.proc_root : "/proc";
  bool attach = g_cfg.watch_clients;
  if (attach) {
    char why[512];
    bool no_ptrace;
    if (xw_attach_probe(proc_root, why, sizeof(why), &no_ptrace) != 0) {
      ERROR("xe_watch plugin: not attaching to workloads' DRM files "
            "(WatchClients): %s. Device nodes are still watched; set "
            "WatchClients false to silence this.",
            why);
      attach = false;
    } else if (no_ptrace) {
      WARNING("xe_watch plugin: WatchClients: collectd lacks "
              "CAP_SYS_PTRACE, so it can attach to its own user's "
              "workloads at most; grant it (contrib/systemd/xe_watch.conf) "
              "or set WatchClients false");
    }
  }

  int err = xw_queue_init(&g_queue, g_cfg.notify_queue);
  struct xw_listener_config lc = {
      .queue_notes = g_cfg.queue_size,
      .retry_min = g_cfg.retry_interval,
      .retry_max = g_cfg.retry_max,
      .queue_vm_errs = g_cfg.send_notification,
      .proc_root = attach ? proc_root : NULL,
      .client_scan = g_cfg.client_scan,
      .client_process = g_have_rx_process ? &g_rx_process : NULL,
      .client_cgroup = g_have_rx_cgroup ? &g_rx_cgroup : NULL,
      .client_max_per_process = (unsigned)g_cfg.max_per_process,
      .client_max_per_cgroup = (unsigned)g_cfg.max_per_cgroup,
      .uevents = g_cfg.watch_uevents,
      .device_check = g_cfg.device_check,
      .max_devices = room > g_ndev ? room : 0,
      .ndev_published = &g_ndev_live,
      .uapi = g_cfg.uapi,
  };
  const struct xw_uapi *u = g_cfg.uapi;
  INFO("xe_watch plugin: speaking uAPI revision %s (%s): watch ioctl 0x%08lx "
       "(DRM_COMMAND_BASE + 0x%02x), xe records type %" PRIu32
       ", VM_ERR subtype %u; UAPIRevision selects another",
       u->name, u->what, u->ioctl, xw_uapi_nr(u), u->xe_type,
       (unsigned)u->vm_err_subtype);
  if (err == 0)
    err = xw_listener_create(&g_listener, g_devs, g_ndev, &g_queue, &lc);
  if (err == 0)
    err = xw_dispatcher_create(&g_dispatcher, &g_cfg, g_devs, room, &g_queue,
                               xw_listener_wake_fd(g_listener));
  if (err == 0)
    xw_dispatcher_follow(g_dispatcher, &g_ndev_live);
  if (err == 0)
    err = xw_dispatcher_start(g_dispatcher);
  if (err == 0)
    err = xw_listener_start(g_listener);
  if (err == 0)
    err = plugin_register_complex_read(
        NULL, XW_PLUGIN, xw_read, 0,
        &(user_data_t){.data = NULL, .free_func = xw_read_freed});
  if (err != 0) {
    ERROR("xe_watch plugin: cannot start: %s", STRERROR(err < 0 ? -err : err));
    teardown();
    return -1;
  }
  return 0;
}

static int xw_shutdown(void) {
  teardown();
  xw_config_free(&g_cfg);
  g_cfg_ready = false;
  return 0;
}

void module_register(void) {
  plugin_register_complex_config(XW_PLUGIN, xw_config_cb);
  plugin_register_init(XW_PLUGIN, xw_init);
  plugin_register_shutdown(XW_PLUGIN, xw_shutdown);
}
