/* SPDX-License-Identifier: MIT */
/* Client watches: whether attaching can work here at all. */
#include "attach.h"
#include "listener.h"
#include "plugin_mock.h"
#include "test-main.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];

static void setup(void) {
  snprintf(root, sizeof(root), "%s/xw-ns.XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(root));
}

static void teardown(void) {
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
  ck_assert_int_eq(system(cmd), 0);
}

static void self_link(long pid) {
  char path[512], target[32];
  snprintf(path, sizeof(path), "%s/self", root);
  snprintf(target, sizeof(target), "%ld", pid);
  unlink(path);
  ck_assert_int_eq(symlink(target, path), 0);
}

static void init_ns(const char *ns) {
  char path[512];
  snprintf(path, sizeof(path), "%s/1", root);
  mkdir(path, 0755);
  snprintf(path, sizeof(path), "%s/1/ns", root);
  mkdir(path, 0755);
  snprintf(path, sizeof(path), "%s/1/ns/pid", root);
  unlink(path);
  ck_assert_int_eq(symlink(ns, path), 0);
}

START_TEST(probe_this_namespace) {
  char why[512];
  bool no_ptrace;
  ck_assert_int_eq(xw_attach_probe("/proc", why, sizeof(why), &no_ptrace), 0);
  ck_assert_str_eq(why, "");
  /* A fixture that says nothing about namespaces: no reason to refuse. */
  ck_assert_int_eq(xw_attach_probe(root, why, sizeof(why), &no_ptrace), 0);
  self_link(getpid());
  ck_assert_int_eq(xw_attach_probe(root, why, sizeof(why), &no_ptrace), 0);
  char ours[64];
  ssize_t n = readlink("/proc/self/ns/pid", ours, sizeof(ours) - 1);
  if (n > 0) {
    ours[n] = '\0';
    init_ns(ours);
    ck_assert_int_eq(xw_attach_probe(root, why, sizeof(why), &no_ptrace), 0);
  }
}
END_TEST

/* A host /proc in a container with its own PID namespace: our pid there is
 * not getpid(). */
START_TEST(probe_our_pid_differs) {
  char why[512];
  bool no_ptrace;
  self_link((long)getpid() + 100000);
  ck_assert_int_eq(xw_attach_probe(root, why, sizeof(why), &no_ptrace), -EXDEV);
  ck_assert_ptr_nonnull(strstr(why, "another PID namespace"));
  ck_assert_ptr_nonnull(strstr(why, "hostPID: true"));
  ck_assert_ptr_nonnull(strstr(why, "--pid=host"));
  ck_assert_ptr_nonnull(strstr(why, root));
}
END_TEST

/* ProcRoot's init lives in another PID namespace than ours. */
START_TEST(probe_init_elsewhere) {
  char why[512];
  bool no_ptrace;
  init_ns("pid:[1]");
  ck_assert_int_eq(xw_attach_probe(root, why, sizeof(why), &no_ptrace), -EXDEV);
  ck_assert_ptr_nonnull(strstr(why, "hostPID: true"));
}
END_TEST

static struct xw_client_attr *attr(uint32_t serial, bool live) {
  struct xw_client_attr *a = calloc(1, sizeof(*a));
  ck_assert_ptr_nonnull(a);
  a->serial = serial;
  a->live = live;
  a->client_id = 1000 + serial;
  return a;
}

/* Every pipe open, every id of pipes 1.. live. */
static void fill_pipes(struct xw_watch_slots *ws) {
  ws->npipes = XW_PIPES_MAX;
  for (unsigned i = XW_WATCH_SLOTS; i < XW_SLOTS_ALL; i++)
    if (i % XW_WATCH_SLOTS != 0)
      ws->attr[i] = attr(i, true);
}

/* Round robin from the last id handed out; a quarantined id only when no
 * other is free, the oldest first. */
START_TEST(pick_skips_quarantined_ids) {
  struct xw_device *dev = xw_device_new("/dev/dri/renderD128", 0);
  ck_assert_ptr_nonnull(dev);
  struct xw_watch_slots *ws = &dev->watches;
  ck_assert_uint_eq(xw_watch_slots_pick(ws), 1);
  for (unsigned i = 1; i < XW_WATCH_SLOTS; i++)
    ws->attr[i] = attr(i, true);
  ws->n = XW_WATCH_SLOTS - 1;
  /* Pipe 0's ids are taken: the first id of a second pipe. */
  ck_assert_uint_eq(xw_watch_slots_pick(ws), XW_WATCH_SLOTS + 1);
  fill_pipes(ws);
  ck_assert_uint_eq(xw_watch_slots_pick(ws), 0); /* all live */
  ws->next = 4;
  ws->attr[5]->live = ws->attr[6]->live = ws->attr[9]->live = false;
  ws->attr[100]->live = false;
  ws->quarantined[5] = ws->quarantined[6] = ws->quarantined[100] = true;
  ck_assert_uint_eq(xw_watch_slots_pick(ws), 9);
  ws->attr[9]->live = true;
  ck_assert_uint_eq(xw_watch_slots_pick(ws), 5); /* the oldest */
  ws->attr[5]->serial = 500;
  ck_assert_uint_eq(xw_watch_slots_pick(ws), 6);
  xw_device_free(dev);
}
END_TEST

/* A watch the loss recheck ended keeps its id out of use until its
 * removal record arrives; a new pipe forgets it. */
START_TEST(recheck_quarantines_until_removal) {
  struct xw_device *dev = xw_device_new("/dev/dri/renderD128", 0);
  ck_assert_ptr_nonnull(dev);
  struct xw_watch_slots *ws = &dev->watches;
  ws->attr[1] = attr(1, true);
  ws->n = 1;
  ws->next = 1;
  xw_attach_lost(dev); /* a loss record was read */
  ck_assert(ws->recheck);
  struct xw_attach *at;
  struct xw_attach_config cfg = {.proc_root = root};
  ck_assert_int_eq(xw_attach_create(&at, &dev, 1, &cfg), 0);
  xw_attach_scan(at); /* nobody holds client 1001 any more */
  ck_assert(!ws->attr[1]->live);
  ck_assert_uint_eq(ws->n, 0);
  ck_assert(ws->quarantined[1]);
  ck_assert_int_ge(mock_log_find(LOG_INFO, "its removal record was lost"), 0);
  /* Every other id is handed out before it. */
  for (unsigned i = 2; i < XW_WATCH_SLOTS; i++) {
    ck_assert_uint_eq(xw_watch_slots_pick(ws), i);
    ws->attr[i] = attr(i, true);
    ws->next = i;
  }
  /* A new pipe before a quarantined id; with every pipe full, it. */
  ck_assert_uint_eq(xw_watch_slots_pick(ws), XW_WATCH_SLOTS + 1);
  fill_pipes(ws);
  ck_assert_uint_eq(xw_watch_slots_pick(ws), 1); /* the fallback */
  ws->attr[2]->live = false;
  ck_assert_uint_eq(xw_watch_slots_pick(ws), 2);
  /* Its removal record: no unknown record, and the id is free again. */
  ck_assert(xw_attach_removed(dev, 1));
  ck_assert(!ws->quarantined[1]);
  ck_assert(!xw_attach_removed(dev, 1)); /* a second one is unknown */
  ws->quarantined[7] = true;
  xw_attach_pipe_closed(dev, -1);
  ck_assert(!ws->quarantined[7]);
  xw_attach_destroy(at);
  xw_device_free(dev);
}
END_TEST

static Suite *attach_suite(void) {
  Suite *s = suite_create("attach");
  TCase *tc = xw_tcase("probe");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, probe_this_namespace);
  tcase_add_test(tc, probe_our_pid_differs);
  tcase_add_test(tc, probe_init_elsewhere);
  suite_add_tcase(s, tc);
  tc = xw_tcase("slots");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, pick_skips_quarantined_ids);
  tcase_add_test(tc, recheck_quarantines_until_removal);
  suite_add_tcase(s, tc);
  return s;
}

XW_SUITE(attach_suite)
