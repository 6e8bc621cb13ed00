/* SPDX-License-Identifier: MIT */
#include "queue.h"
#include "test-main.h"

#include <pthread.h>
#include <sched.h>

START_TEST(fifo_and_bounds) {
  struct xw_queue q;
  ck_assert_int_eq(xw_queue_init(&q, 5), 0);
  ck_assert_uint_eq(xw_queue_capacity(&q), 8);
  struct xw_qitem it = {0};
  for (uint32_t i = 0; i < 8; i++) {
    it.vm_id = i;
    ck_assert(xw_queue_push(&q, &it));
  }
  ck_assert(!xw_queue_push(&q, &it)); /* full: caller counts a drop */
  for (uint32_t i = 0; i < 8; i++) {
    ck_assert(xw_queue_pop(&q, &it));
    ck_assert_uint_eq(it.vm_id, i);
  }
  ck_assert(!xw_queue_pop(&q, &it));
  xw_queue_destroy(&q);
}
END_TEST

#define N_ITEMS 200000
static void *producer(void *arg) {
  struct xw_queue *q = arg;
  struct xw_qitem it = {0};
  for (uint32_t i = 0; i < N_ITEMS;) {
    it.vm_id = i;
    if (xw_queue_push(q, &it))
      i++;
    else /* let the consumer run: a spin starves it under valgrind */
      sched_yield();
  }
  return NULL;
}

START_TEST(two_threads_keep_order) {
  struct xw_queue q;
  ck_assert_int_eq(xw_queue_init(&q, 64), 0);
  pthread_t t;
  pthread_create(&t, NULL, producer, &q);
  struct xw_qitem it;
  for (uint32_t want = 0; want < N_ITEMS;) {
    if (xw_queue_pop(&q, &it)) {
      ck_assert_uint_eq(it.vm_id, want);
      want++;
    } else {
      sched_yield();
    }
  }
  pthread_join(t, NULL);
  xw_queue_destroy(&q);
}
END_TEST

static Suite *queue_suite(void) {
  Suite *s = suite_create("queue");
  TCase *tc = xw_tcase("spsc");
  tcase_add_test(tc, fifo_and_bounds);
  tcase_add_test(tc, two_threads_keep_order);
  suite_add_tcase(s, tc);
  return s;
}
XW_SUITE(queue_suite)
