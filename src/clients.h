/* SPDX-License-Identifier: MIT */
/* Parsers for what procfs says of a workload: fdinfo, cgroup, container,
 * pod. */
#ifndef XE_WATCH_CLIENTS_H
#define XE_WATCH_CLIENTS_H

#include <stdint.h>
#include <sys/types.h>

/* What procfs says about a workload's DRM file ("client"): parsers of
 * fdinfo and cgroup text, pure and allocation-free. */

#define XW_COMM_LEN 64 /* 15 bytes of comm, each maybe escaped to 4 */
#define XW_CGROUP_LEN 256
#define XW_CONTAINER_LEN 72
#define XW_POD_UID_LEN 40 /* 36 characters of a Kubernetes UID */

/** One DRM file of one process, as /proc/PID/fdinfo/FD describes it. */
struct xw_client {
  pid_t pid;
  int fd;
  uint64_t client_id; /* drm-client-id: one per DRM file */
  char driver[16];    /* drm-driver */
  char pdev[32];      /* drm-pdev, "" if absent */
  char link[128];     /* target of /proc/PID/fd/FD, e.g. /dev/dri/renderD128 */
  char comm[XW_COMM_LEN];
  char cgroup[XW_CGROUP_LEN];       /* unified hierarchy path */
  char container[XW_CONTAINER_LEN]; /* container id found in it, or "" */
  char pod_uid[XW_POD_UID_LEN];     /* Kubernetes pod UID in it, or "" */
};

/**
 * Parse the text of a /proc/PID/fdinfo/FD file into c's driver, pdev and
 * client_id. Returns 1 for a DRM client (drm-driver and drm-client-id
 * present), 0 otherwise. Pure.
 */
int xw_fdinfo_parse(const char *text, struct xw_client *c);

/** The cgroup path of the unified hierarchy ("0::/path") in the text of a
 *  /proc/PID/cgroup file, else the first line's path. Pure. */
void xw_cgroup_path(const char *text, char *out, size_t len);

/** A container id (64 hex digits, as docker, containerd, CRI-O and podman
 *  put in cgroup paths) in a cgroup path, "" if none. Pure. */
void xw_container_id(const char *cgroup, char *out, size_t len);

/**
 * The Kubernetes pod UID in a cgroup path, "" if none: the kubelet's
 * systemd driver names the pod's slice kubepods[-<qos>]-pod<uid>.slice with
 * the UID's dashes as underscores (no QoS level for Guaranteed pods), its
 * cgroupfs driver /kubepods[/<qos>]/pod<uid>/. The UID comes out with
 * dashes (as kube_pod_info's uid label has it). Pure.
 */
void xw_pod_uid(const char *cgroup, char *out, size_t len);

/**
 * Copy n bytes of a workload's string (comm, cgroup path) into out, with
 * every control character (and DEL) written as \xHH, so that what a
 * process names itself cannot forge log lines, messages or meta. Never
 * cuts an escape in half when out is too short. Returns out. Pure.
 */
char *xw_escape_ctl(const char *in, size_t n, char *out, size_t len);

#endif
