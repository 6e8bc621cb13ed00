/* SPDX-License-Identifier: MIT */
/*
 * Shared by the benchmark's files (tests/bench/): the collectd stand-in's
 * hooks (bench-mock.c) and the baseline reader (bench-baseline.c). Not
 * part of the plugin.
 */
#ifndef XW_BENCH_H
#define XW_BENCH_H

#include "collectd.h"

#include "listener.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- bench-mock.c: clocks, threads, /proc ------------------------------ */

/** CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/** A thread the benchmark watches: its kernel tid, the CPU time it spent
 *  in read() (only when registered with time_reads), its write() calls and
 *  how often epoll_wait returned, all counted by interposers in
 *  bench-mock.c. */
struct bench_thread {
  char name[32];
  pid_t tid;
  bool time_reads;
  _Atomic uint64_t read_ns;
  _Atomic uint64_t read_calls;
  _Atomic uint64_t write_calls;
  _Atomic uint64_t epoll_returns;
};

/** Register the calling thread under `name`; reads are timed when
 *  time_reads. Returns its slot (never freed; at most 512 per process). */
struct bench_thread *bench_thread_register(const char *name, bool time_reads);
/** Registered threads whose name starts with prefix, into out[0..max).
 *  Returns how many. */
size_t bench_threads_find(const char *prefix, struct bench_thread **out,
                          size_t max);
/** Whether tid is one the benchmark registered (or the main thread). */
bool bench_tid_known(pid_t tid);
/** The plugin's threads get registered with read timing on when set
 *  before xw_listener_start (plugin_thread_create is the mock's). */
void bench_time_plugin_reads(bool on);

/** Kernel-side facts about one task of this process. */
struct bench_task {
  uint64_t run_ns;      /* schedstat: time on a CPU */
  uint64_t vol, nonvol; /* voluntary / involuntary context switches */
};
int bench_task_read(pid_t tid, struct bench_task *t);
/** VmRSS of this process, KiB; -1 if unknown. */
long bench_rss_kib(void);

/* ---- bench-mock.c: the notification consumer --------------------------- */

/** A vm_id that carries no timestamp (throughput runs post this one). */
#define BENCH_SEQ_NONE 0u

/** Make every notification cost delay_ns in the consumer (0: fast). The
 *  slow consumer sleeps, as one blocked on a network peer does. */
void bench_consumer_set_delay(long delay_ns);
/** Start timing: vm_id n in [1, max_seq] maps to the post time given to
 *  bench_consumer_mark. Allocates the tables; call before posting. */
int bench_latency_begin(uint32_t max_seq);
void bench_latency_end(void);
/** Record when record number seq was posted (before the control command
 *  that posts it is sent). */
void bench_consumer_mark(uint32_t seq, uint64_t post_ns);
/** Latency samples collected so far (ns, unsorted): post -> consumer; *n
 *  gets the count, *hop the matching read() -> consumer parts. */
const uint64_t *bench_latency_samples(size_t *n, const uint64_t **hop);
/** Forget samples (keeps the tables). */
void bench_latency_reset(void);
/** VM error notifications consumed so far. */
uint64_t bench_consumer_vm_errs(void);

/* ---- bench-baseline.c: a reader built like the RFC's igt listener ------ */

/* A thread per device, poll() with a 200 ms timeout, 512-byte reads, one
 * callback per record doing the consumer's work synchronously. */
#define BL_POLL_TIMEOUT_MS 200
#define BL_READ_BUF 512

struct bl_dev {
  char *node;
  char name[XW_NAME_LEN];
  int drm_fd, pipe_rd, pipe_wr;
  pthread_t thread;
  bool started;
  bool time_reads; /* register the thread with read() timing on */
  atomic_bool *stop;
  _Atomic uint64_t polls;   /* poll() returns, timeouts included */
  _Atomic uint64_t reads;   /* read() calls that returned records */
  _Atomic uint64_t records; /* records decoded, loss records included */
  _Atomic uint64_t vm_err;
  _Atomic uint64_t lost;
};

struct bl_reader {
  struct bl_dev *devs;
  size_t ndev;
  atomic_bool stop;
  bool time_reads;
};

/** Open, size (notes), filter and subscribe every node, as the plugin's
 *  transport does. Returns 0 or a negative errno (logged). */
int bl_create(struct bl_reader **out, char *const *nodes, size_t n, int notes,
              bool time_reads);
int bl_start(struct bl_reader *r);
/** Stop (within one poll timeout) and join. */
void bl_stop(struct bl_reader *r);
void bl_destroy(struct bl_reader *r);
/** The reader's per-read work on one buffer: decode, one callback per
 *  record. Exposed for the microbenchmark. */
void bl_handle_chunk(struct bl_dev *d, const unsigned char *buf, size_t n);
uint64_t bl_sum(const struct bl_reader *r, size_t field_offset);
#define BL_SUM(r, field) bl_sum((r), offsetof(struct bl_dev, field))

#endif
