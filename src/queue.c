/* SPDX-License-Identifier: MIT */
/* Lock-free bounded single-producer single-consumer queue from the
 * listener to the dispatcher. */
#include "queue.h"

#include <errno.h>
#include <stdlib.h>

int xw_queue_init(struct xw_queue *q, size_t capacity) {
  size_t cap = 1;
  while (cap < capacity)
    cap <<= 1;
  q->items = calloc(cap, sizeof(*q->items));
  if (q->items == NULL)
    return -ENOMEM;
  q->mask = cap - 1;
  atomic_init(&q->head, 0);
  atomic_init(&q->tail, 0);
  return 0;
}

void xw_queue_destroy(struct xw_queue *q) {
  free(q->items);
  q->items = NULL;
}

size_t xw_queue_capacity(const struct xw_queue *q) { return q->mask + 1; }

bool xw_queue_push(struct xw_queue *q, const struct xw_qitem *item) {
  size_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
  size_t head = atomic_load_explicit(&q->head, memory_order_acquire);
  if (tail - head > q->mask)
    return false;
  q->items[tail & q->mask] = *item;
  atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
  return true;
}

bool xw_queue_pop(struct xw_queue *q, struct xw_qitem *item) {
  size_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
  size_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
  if (head == tail)
    return false;
  *item = q->items[head & q->mask];
  atomic_store_explicit(&q->head, head + 1, memory_order_release);
  return true;
}
