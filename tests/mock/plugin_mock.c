/* SPDX-License-Identifier: MIT */
#include "plugin_mock.h"

#include "utils/common/common.h"
#include "utils_complain.h"

#include <check.h>
#include <pthread.h>
#include <stdarg.h>

char *hostname_g = "mockhost";
cdtime_t interval_g = TIME_T_TO_CDTIME_T(10);

struct mock_log mock_logs[MOCK_MAX];
size_t mock_nlogs;
struct mock_notif mock_notifs[MOCK_MAX];
size_t mock_nnotifs;
struct mock_value mock_values[MOCK_MAX];
size_t mock_nvalues;

static pthread_mutex_t mock_lock = PTHREAD_MUTEX_INITIALIZER;
static bool errors_expected;
static size_t unexpected_errors;
static char first_unexpected[1024];

static void meta_free(notification_meta_t *m) {
  while (m != NULL) {
    notification_meta_t *next = m->next;
    if (m->type == NM_TYPE_STRING)
      free((char *)m->nm_value.nm_string);
    free(m);
    m = next;
  }
}

void mock_reset(void) {
  pthread_mutex_lock(&mock_lock);
  for (size_t i = 0; i < mock_nnotifs; i++)
    meta_free(mock_notifs[i].n.meta);
  mock_nlogs = mock_nnotifs = mock_nvalues = 0;
  errors_expected = false;
  unexpected_errors = 0;
  first_unexpected[0] = '\0';
  pthread_mutex_unlock(&mock_lock);
}

void mock_expect_errors(void) {
  pthread_mutex_lock(&mock_lock);
  errors_expected = true;
  pthread_mutex_unlock(&mock_lock);
}

void mock_check_no_unexpected_errors(void) {
  pthread_mutex_lock(&mock_lock);
  size_t n = unexpected_errors;
  char first[1024];
  sstrncpy(first, first_unexpected, sizeof(first));
  pthread_mutex_unlock(&mock_lock);
  ck_assert_msg(n == 0, "%zu unexpected ERROR log(s), first: %s", n, first);
}

int mock_log_find(int level, const char *needle) {
  int found = -1;
  pthread_mutex_lock(&mock_lock);
  for (size_t i = 0; i < mock_nlogs && found < 0; i++)
    if ((level < 0 || mock_logs[i].level == level) &&
        strstr(mock_logs[i].msg, needle) != NULL)
      found = (int)i;
  pthread_mutex_unlock(&mock_lock);
  return found;
}

size_t mock_notif_count(void) {
  pthread_mutex_lock(&mock_lock);
  size_t n = mock_nnotifs;
  pthread_mutex_unlock(&mock_lock);
  return n;
}

const notification_meta_t *mock_meta(const notification_t *n,
                                     const char *name) {
  for (const notification_meta_t *m = n->meta; m != NULL; m = m->next)
    if (strcmp(m->name, name) == 0)
      return m;
  return NULL;
}

const struct mock_value *mock_value_find(const char *plugin_instance,
                                         const char *type,
                                         const char *type_instance) {
  for (size_t i = mock_nvalues; i-- > 0;) {
    const struct mock_value *v = &mock_values[i];
    if (strcmp(v->plugin_instance, plugin_instance) == 0 &&
        strcmp(v->type, type) == 0 &&
        strcmp(v->type_instance, type_instance) == 0)
      return v;
  }
  return NULL;
}

/* ---- collectd daemon symbols ------------------------------------------- */

void plugin_log(int level, const char *format, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, format);
  vsnprintf(msg, sizeof(msg), format, ap);
  va_end(ap);
  if (getenv("XW_TEST_VERBOSE") != NULL)
    fprintf(stderr, "[log %d] %s\n", level, msg);
  pthread_mutex_lock(&mock_lock);
  if (mock_nlogs < MOCK_MAX) {
    mock_logs[mock_nlogs].level = level;
    sstrncpy(mock_logs[mock_nlogs].msg, msg, sizeof(mock_logs[0].msg));
    mock_nlogs++;
  }
  if (level <= LOG_ERR && !errors_expected) {
    if (unexpected_errors++ == 0)
      sstrncpy(first_unexpected, msg, sizeof(first_unexpected));
  }
  pthread_mutex_unlock(&mock_lock);
}

_Atomic int64_t mock_cdtime_offset;

cdtime_t cdtime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return TIMESPEC_TO_CDTIME_T(&ts) + (cdtime_t)atomic_load(&mock_cdtime_offset);
}

char *sstrncpy(char *dest, const char *src, size_t n) {
  if (n == 0)
    return dest;
  size_t len = strnlen(src, n - 1);
  memcpy(dest, src, len);
  dest[len] = '\0';
  return dest;
}

char *sstrerror(int errnum, char *buf, size_t buflen) {
  snprintf(buf, buflen, "%s", strerror(errnum));
  return buf;
}

/* Same reporting rules as collectd's utils_complain.c: report, then wait an
 * interval that doubles up to a day. */
static void vcomplain(int level, c_complain_t *c, const char *fmt, va_list ap) {
  char msg[1024];
  vsnprintf(msg, sizeof(msg), fmt, ap);
  cdtime_t now = cdtime();
  if (c->last + c->interval > now)
    return;
  c->last = now;
  if (c->interval < interval_g)
    c->interval = interval_g;
  else
    c->interval *= 2;
  if (c->interval > TIME_T_TO_CDTIME_T(86400))
    c->interval = TIME_T_TO_CDTIME_T(86400);
  c->complained_once = true;
  plugin_log(level, "%s", msg);
}

void c_complain(int level, c_complain_t *c, const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  vcomplain(level, c, format, ap);
  va_end(ap);
}

void c_complain_once(int level, c_complain_t *c, const char *format, ...) {
  if (c->complained_once)
    return;
  va_list ap;
  va_start(ap, format);
  vcomplain(level, c, format, ap);
  va_end(ap);
}

void c_do_release(int level, c_complain_t *c, const char *format, ...) {
  if (c->interval == 0)
    return;
  c->interval = 0;
  char msg[1024];
  va_list ap;
  va_start(ap, format);
  vsnprintf(msg, sizeof(msg), format, ap);
  va_end(ap);
  plugin_log(level, "%s", msg);
}

int plugin_thread_create(pthread_t *thread, void *(*start_routine)(void *),
                         void *arg, char const *name) {
  (void)name;
  return pthread_create(thread, NULL, start_routine, arg);
}

static notification_meta_t *meta_append(notification_t *n, const char *name,
                                        enum notification_meta_type_e type) {
  notification_meta_t *m = calloc(1, sizeof(*m));
  if (m == NULL)
    return NULL;
  sstrncpy(m->name, name, sizeof(m->name));
  m->type = type;
  notification_meta_t **tail = &n->meta;
  while (*tail != NULL)
    tail = &(*tail)->next;
  *tail = m;
  return m;
}

int plugin_notification_meta_add_string(notification_t *n, const char *name,
                                        const char *value) {
  notification_meta_t *m = meta_append(n, name, NM_TYPE_STRING);
  if (m == NULL)
    return -1;
  m->nm_value.nm_string = strdup(value);
  return 0;
}

int plugin_notification_meta_add_signed_int(notification_t *n, const char *name,
                                            int64_t value) {
  notification_meta_t *m = meta_append(n, name, NM_TYPE_SIGNED_INT);
  if (m == NULL)
    return -1;
  m->nm_value.nm_signed_int = value;
  return 0;
}

int plugin_notification_meta_add_unsigned_int(notification_t *n,
                                              const char *name,
                                              uint64_t value) {
  notification_meta_t *m = meta_append(n, name, NM_TYPE_UNSIGNED_INT);
  if (m == NULL)
    return -1;
  m->nm_value.nm_unsigned_int = value;
  return 0;
}

int plugin_notification_meta_free(notification_meta_t *n) {
  meta_free(n);
  return 0;
}

static notification_meta_t *meta_copy(const notification_meta_t *m) {
  notification_meta_t *head = NULL, **tail = &head;
  for (; m != NULL; m = m->next) {
    notification_meta_t *c = calloc(1, sizeof(*c));
    *c = *m;
    c->next = NULL;
    if (m->type == NM_TYPE_STRING)
      c->nm_value.nm_string = strdup(m->nm_value.nm_string);
    *tail = c;
    tail = &c->next;
  }
  return head;
}

void (*mock_notif_hook)(const notification_t *n);

int plugin_dispatch_notification(const notification_t *notif) {
  if (mock_notif_hook != NULL) {
    mock_notif_hook(notif);
    return 0;
  }
  pthread_mutex_lock(&mock_lock);
  if (mock_nnotifs < MOCK_MAX) {
    mock_notifs[mock_nnotifs].n = *notif;
    mock_notifs[mock_nnotifs].n.meta = meta_copy(notif->meta);
    mock_nnotifs++;
  }
  pthread_mutex_unlock(&mock_lock);
  return 0;
}

int plugin_dispatch_values(value_list_t const *vl) {
  pthread_mutex_lock(&mock_lock);
  if (mock_nvalues < MOCK_MAX && vl->values_len == 1) {
    struct mock_value *v = &mock_values[mock_nvalues++];
    sstrncpy(v->plugin_instance, vl->plugin_instance,
             sizeof(v->plugin_instance));
    sstrncpy(v->type, vl->type, sizeof(v->type));
    sstrncpy(v->type_instance, vl->type_instance, sizeof(v->type_instance));
    v->value = vl->values[0];
  }
  pthread_mutex_unlock(&mock_lock);
  return 0;
}

/* ---- cf_util_* with collectd's messages ----------------------------------
 */

static int one_value(const oconfig_item_t *ci, int type, const char *what) {
  if (ci->values_num != 1 || ci->values[0].type != type) {
    plugin_log(LOG_ERR, "The \"%s\" option requires exactly one %s argument.",
               ci->key, what);
    return -1;
  }
  return 0;
}

int cf_util_get_string(const oconfig_item_t *ci, char **ret_string) {
  if (one_value(ci, OCONFIG_TYPE_STRING, "string") != 0)
    return -1;
  char *s = strdup(ci->values[0].value.string);
  if (s == NULL)
    return -1;
  free(*ret_string);
  *ret_string = s;
  return 0;
}

int cf_util_get_string_buffer(const oconfig_item_t *ci, char *buffer,
                              size_t buffer_size) {
  if (one_value(ci, OCONFIG_TYPE_STRING, "string") != 0)
    return -1;
  sstrncpy(buffer, ci->values[0].value.string, buffer_size);
  return 0;
}

int cf_util_get_int(const oconfig_item_t *ci, int *ret_value) {
  if (one_value(ci, OCONFIG_TYPE_NUMBER, "numeric") != 0)
    return -1;
  *ret_value = (int)ci->values[0].value.number;
  return 0;
}

int cf_util_get_boolean(const oconfig_item_t *ci, bool *ret_bool) {
  if (ci->values_num != 1) {
    plugin_log(LOG_ERR,
               "The \"%s\" option requires exactly one boolean "
               "argument.",
               ci->key);
    return -1;
  }
  if (ci->values[0].type == OCONFIG_TYPE_BOOLEAN) {
    *ret_bool = ci->values[0].value.boolean != 0;
    return 0;
  }
  plugin_log(LOG_ERR,
             "The \"%s\" option requires exactly one boolean "
             "argument.",
             ci->key);
  return -1;
}

int cf_util_get_cdtime(const oconfig_item_t *ci, cdtime_t *ret_value) {
  if (one_value(ci, OCONFIG_TYPE_NUMBER, "numeric") != 0)
    return -1;
  if (ci->values[0].value.number < 0) {
    plugin_log(LOG_ERR,
               "The numeric argument of the \"%s\" option must not "
               "be negative.",
               ci->key);
    return -1;
  }
  *ret_value = DOUBLE_TO_CDTIME_T(ci->values[0].value.number);
  return 0;
}

/* ---- config trees ---------------------------------------------------------
 */

oconfig_item_t *mock_ci_block(const char *key) {
  oconfig_item_t *ci = calloc(1, sizeof(*ci));
  ci->key = strdup(key);
  return ci;
}

static oconfig_item_t *add_child(oconfig_item_t *parent, const char *key,
                                 oconfig_value_t v) {
  parent->children = realloc(parent->children, (parent->children_num + 1) *
                                                   sizeof(*parent->children));
  oconfig_item_t *c = &parent->children[parent->children_num++];
  memset(c, 0, sizeof(*c));
  c->key = strdup(key);
  c->values = calloc(1, sizeof(*c->values));
  c->values[0] = v;
  c->values_num = 1;
  c->parent = parent;
  return c;
}

void mock_ci_add_string(oconfig_item_t *parent, const char *key,
                        const char *v) {
  add_child(parent, key,
            (oconfig_value_t){.type = OCONFIG_TYPE_STRING,
                              .value.string = strdup(v)});
}

void mock_ci_add_number(oconfig_item_t *parent, const char *key, double v) {
  add_child(parent, key,
            (oconfig_value_t){.type = OCONFIG_TYPE_NUMBER, .value.number = v});
}

void mock_ci_add_boolean(oconfig_item_t *parent, const char *key, bool v) {
  add_child(
      parent, key,
      (oconfig_value_t){.type = OCONFIG_TYPE_BOOLEAN, .value.boolean = v});
}

static void ci_free_inner(oconfig_item_t *ci) {
  for (int i = 0; i < ci->values_num; i++)
    if (ci->values[i].type == OCONFIG_TYPE_STRING)
      free(ci->values[i].value.string);
  free(ci->values);
  for (int i = 0; i < ci->children_num; i++)
    ci_free_inner(&ci->children[i]);
  free(ci->children);
  free(ci->key);
}

void mock_ci_free(oconfig_item_t *ci) {
  if (ci == NULL)
    return;
  ci_free_inner(ci);
  free(ci);
}
