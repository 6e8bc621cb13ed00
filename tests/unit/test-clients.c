/* SPDX-License-Identifier: MIT */
#include "clients.h"
#include "plugin_mock.h"
#include "test-main.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char xe_fdinfo[] = "pos:\t0\n"
                                "flags:\t02100002\n"
                                "mnt_id:\t24\n"
                                "ino:\t1057\n"
                                "drm-driver:\txe\n"
                                "drm-client-id:\t42\n"
                                "drm-pdev:\t0000:03:00.0\n"
                                "drm-total-system:\t0\n"
                                "drm-engine-rcs:\t123 ns\n";

START_TEST(fdinfo_xe_client) {
  struct xw_client c;
  ck_assert_int_eq(xw_fdinfo_parse(xe_fdinfo, &c), 1);
  ck_assert_str_eq(c.driver, "xe");
  ck_assert_str_eq(c.pdev, "0000:03:00.0");
  ck_assert_uint_eq(c.client_id, 42);
}
END_TEST

START_TEST(fdinfo_not_a_client) {
  struct xw_client c;
  ck_assert_int_eq(xw_fdinfo_parse("pos:\t0\nflags:\t02\n", &c), 0);
  ck_assert_int_eq(xw_fdinfo_parse("drm-driver:\txe\n", &c), 0); /* no id */
  ck_assert_int_eq(xw_fdinfo_parse("drm-driver:\txe\ndrm-client-id:\tx1\n", &c),
                   0);
  ck_assert_int_eq(xw_fdinfo_parse("", &c), 0);
  /* A key that only starts like ours is not ours. */
  ck_assert_int_eq(
      xw_fdinfo_parse("drm-driver-x:\txe\ndrm-client-id:\t1\n", &c), 0);
}
END_TEST

START_TEST(fdinfo_other_driver) {
  struct xw_client c;
  ck_assert_int_eq(xw_fdinfo_parse("drm-driver: i915\ndrm-client-id: 7\n", &c),
                   1);
  ck_assert_str_eq(c.driver, "i915");
  ck_assert_str_eq(c.pdev, "");
  ck_assert_uint_eq(c.client_id, 7);
}
END_TEST

START_TEST(cgroup_paths) {
  char out[XW_CGROUP_LEN];
  xw_cgroup_path("0::/system.slice/llama.service\n", out, sizeof(out));
  ck_assert_str_eq(out, "/system.slice/llama.service");
  xw_cgroup_path("12:cpu,cpuacct:/user.slice\n0::/user.slice/x.scope\n", out,
                 sizeof(out));
  ck_assert_str_eq(out, "/user.slice/x.scope");
  xw_cgroup_path("5:memory:/docker/abc\n", out, sizeof(out));
  ck_assert_str_eq(out, "/docker/abc");
  xw_cgroup_path("", out, sizeof(out));
  ck_assert_str_eq(out, "");
}
END_TEST

#define ID64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

START_TEST(container_ids) {
  char out[XW_CONTAINER_LEN];
  xw_container_id("/system.slice/docker-" ID64 ".scope", out, sizeof(out));
  ck_assert_str_eq(out, ID64);
  xw_container_id("/kubepods.slice/kubepods-burstable.slice/"
                  "cri-containerd-" ID64 ".scope",
                  out, sizeof(out));
  ck_assert_str_eq(out, ID64);
  xw_container_id("/docker/" ID64, out, sizeof(out));
  ck_assert_str_eq(out, ID64);
  xw_container_id("/system.slice/sshd.service", out, sizeof(out));
  ck_assert_str_eq(out, "");
  /* 63 or 65 hex digits are not a container id. */
  xw_container_id("/docker-" ID64 "a.scope", out, sizeof(out));
  ck_assert_str_eq(out, "");
  char short_id[80];
  snprintf(short_id, sizeof(short_id), "/docker-%.63s.scope", ID64);
  xw_container_id(short_id, out, sizeof(out));
  ck_assert_str_eq(out, "");
}
END_TEST

/* A workload names itself: control characters must not reach a log line,
 * a notification message or meta as such. */
START_TEST(escape_control_characters) {
  char out[XW_COMM_LEN];
  const char evil[] = "job\n[ERROR] xe_watch plugin: fake\x1b[2J\x7f";
  xw_escape_ctl(evil, sizeof(evil) - 1, out, sizeof(out));
  ck_assert_str_eq(out, "job\\x0a[ERROR] xe_watch plugin: fake\\x1b[2J\\x7f");
  /* Plain text, systemd's own \x2d escapes and UTF-8 pass unchanged. */
  const char ok[] = "/system.slice/dev-disk-by\\x2dlabel.swap/caf\xc3\xa9";
  xw_escape_ctl(ok, sizeof(ok) - 1, out, sizeof(out));
  ck_assert_str_eq(out, ok);
  /* n bounds the input; a NUL ends it early. */
  xw_escape_ctl("abc\tdef", 4, out, sizeof(out));
  ck_assert_str_eq(out, "abc\\x09");
  xw_escape_ctl("ab\0cd", 5, out, sizeof(out));
  ck_assert_str_eq(out, "ab");
  /* Too short: never half an escape. */
  char small[6];
  xw_escape_ctl("ab\ncd", 5, small, sizeof(small));
  ck_assert_str_eq(small, "ab");
  xw_escape_ctl("a\nb", 3, small, sizeof(small));
  ck_assert_str_eq(small, "a\\x0a");
}
END_TEST

/* Kubernetes: pod UID and container id from the paths the kubelet's two
 * cgroup drivers and the container runtimes make. */
#define UID "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d"
#define UID_ "1b2c3d4e_5f60_4a7b_8c9d_0e1f2a3b4c5d"
#define STATIC_UID "0c2d1d4f0e3a61d5d8a3e8e2b5a0e6d3"

static const struct {
  const char *cgroup, *pod_uid, *container;
} k8s_paths[] = {
    /* systemd driver, cgroup v2, containerd; Burstable, BestEffort */
    {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
     ".slice/cri-containerd-" ID64 ".scope",
     UID, ID64},
    {"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
     ".slice/crio-" ID64 ".scope",
     UID, ID64},
    /* Guaranteed: no QoS level */
    {"/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" ID64 ".scope",
     UID, ID64},
    /* docker as the runtime (cri-dockerd) */
    {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
     ".slice/docker-" ID64 ".scope",
     UID, ID64},
    /* kind and other nested kubelets: a kubelet.slice above */
    {"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
     "kubelet-kubepods-besteffort-pod" UID_ ".slice/cri-containerd-" ID64
     ".scope",
     UID, ID64},
    /* a static (mirror) pod: its UID is a 32-digit hash */
    {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-"
     "pod" STATIC_UID ".slice/cri-containerd-" ID64 ".scope",
     STATIC_UID, ID64},
    /* cgroupfs driver (cgroup v1 or v2): /kubepods[/qos]/pod<uid>/<id> */
    {"/kubepods/burstable/pod" UID "/" ID64, UID, ID64},
    {"/kubepods/besteffort/pod" UID "/" ID64, UID, ID64},
    {"/kubepods/pod" UID "/" ID64, UID, ID64},
    /* the pod's cgroup itself (no container below it) */
    {"/kubepods/pod" UID, UID, ""},
    {"/kubepods.slice/kubepods-pod" UID_ ".slice", UID, ""},
    /* not a pod */
    {"/system.slice/docker-" ID64 ".scope", "", ID64},
    {"/user.slice/user-1000.slice/session-2.scope", "", ""},
    {"/kubepods.slice/kubepods-burstable.slice", "", ""},
    {"/machine.slice/libpod-pod" UID_ ".slice", "", ""}, /* podman pod */
    {"/kubepods/burstable/pod" UID "x/" ID64, "", ID64}, /* 37 characters */
    {"/kubepods/burstable/pod1b2c3d4e-5f60/" ID64, "", ID64},
    {"/kubepods.slice/kubepods-pod" UID_ "0.slice", "", ""},
    {"/kubepods.slice/kubepods-pod" UID_ "x", "", ""},
    {"/", "", ""},
    {"", "", ""},
};

START_TEST(kubernetes_paths) {
  char uid[XW_POD_UID_LEN], ctr[XW_CONTAINER_LEN];
  xw_pod_uid(k8s_paths[_i].cgroup, uid, sizeof(uid));
  xw_container_id(k8s_paths[_i].cgroup, ctr, sizeof(ctr));
  ck_assert_msg(strcmp(uid, k8s_paths[_i].pod_uid) == 0,
                "%s: pod uid \"%s\", want \"%s\"", k8s_paths[_i].cgroup, uid,
                k8s_paths[_i].pod_uid);
  ck_assert_msg(strcmp(ctr, k8s_paths[_i].container) == 0,
                "%s: container \"%s\", want \"%s\"", k8s_paths[_i].cgroup, ctr,
                k8s_paths[_i].container);
}
END_TEST

START_TEST(pod_uid_short_buffer) {
  char uid[16] = "x";
  xw_pod_uid("/kubepods/pod" UID "/" ID64, uid, sizeof(uid));
  ck_assert_str_eq(uid, "");
}
END_TEST

static Suite *clients_suite(void) {
  Suite *s = suite_create("clients");
  TCase *tc = xw_tcase("parse");
  tcase_add_test(tc, fdinfo_xe_client);
  tcase_add_test(tc, fdinfo_not_a_client);
  tcase_add_test(tc, fdinfo_other_driver);
  tcase_add_test(tc, cgroup_paths);
  tcase_add_test(tc, container_ids);
  tcase_add_test(tc, escape_control_characters);
  tcase_add_loop_test(tc, kubernetes_paths, 0,
                      (int)(sizeof(k8s_paths) / sizeof(k8s_paths[0])));
  tcase_add_test(tc, pod_uid_short_buffer);
  suite_add_tcase(s, tc);
  return s;
}

XW_SUITE(clients_suite)
