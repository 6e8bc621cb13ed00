/* SPDX-License-Identifier: MIT */
/* A small stand-in for the collectd daemon: collectd-dev ships headers but
 * no library, so the unit tests provide the plugin_* / cf_util_* / c_complain
 * symbols the plugin calls, and record what it sent. */
#ifndef XW_PLUGIN_MOCK_H
#define XW_PLUGIN_MOCK_H

#include "collectd.h"

#include "liboconfig/oconfig.h"
#include "plugin.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define MOCK_MAX 4096

struct mock_log {
  int level;
  char msg[1024];
};

struct mock_notif {
  notification_t n; /* meta is a deep copy, freed by mock_reset */
};

struct mock_value {
  char plugin_instance[DATA_MAX_NAME_LEN];
  char type[DATA_MAX_NAME_LEN];
  char type_instance[DATA_MAX_NAME_LEN];
  value_t value;
};

extern struct mock_log mock_logs[MOCK_MAX];
extern size_t mock_nlogs;
extern struct mock_notif mock_notifs[MOCK_MAX];
extern size_t mock_nnotifs;
extern struct mock_value mock_values[MOCK_MAX];
extern size_t mock_nvalues;

/** Added to the wall clock cdtime() returns: a test steps the clock. */
extern _Atomic int64_t mock_cdtime_offset;

/** When set, every notification goes to this function instead of being
 *  recorded (for tests that send millions); called outside the mock's lock,
 *  from the dispatching thread. */
extern void (*mock_notif_hook)(const notification_t *n);

/** Forget everything recorded; unexpected-error checking back on. */
void mock_reset(void);
/** Allow ERROR-level logs until mock_reset (a test that provokes them says
 *  so); otherwise any ERROR log fails the running test in mock_teardown. */
void mock_expect_errors(void);
/** Fail the current test if an ERROR was logged without mock_expect_errors. */
void mock_check_no_unexpected_errors(void);
/** Index of the first log line containing `needle` at `level` (or any level
 *  when level < 0), -1 if none. Thread-safe against the plugin's threads. */
int mock_log_find(int level, const char *needle);
/** Number of recorded notifications/values, read under the mock's lock. */
size_t mock_notif_count(void);
const notification_meta_t *mock_meta(const notification_t *n, const char *name);
/** The last recorded value with this type and type instance, NULL if none. */
const struct mock_value *mock_value_find(const char *plugin_instance,
                                         const char *type,
                                         const char *type_instance);

/* Config trees for cf_util_* tests. */
oconfig_item_t *mock_ci_block(const char *key);
void mock_ci_add_string(oconfig_item_t *parent, const char *key, const char *v);
void mock_ci_add_number(oconfig_item_t *parent, const char *key, double v);
void mock_ci_add_boolean(oconfig_item_t *parent, const char *key, bool v);
void mock_ci_free(oconfig_item_t *ci);

#endif
