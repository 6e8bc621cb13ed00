/* SPDX-License-Identifier: MIT */
/* Open-addressed table of VMs' failure counts with a short probe and
 * least-recently-failed eviction. */
#include "vmrepeat.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

/* Slots a key may live in: a short probe keeps the per-record cost flat. */
#define XW_VM_PROBE 8

int xw_vm_repeats_init(struct xw_vm_repeats *r, size_t capacity) {
  size_t n = XW_VM_PROBE;
  while (n < capacity)
    n <<= 1;
  r->slots = calloc(n, sizeof(*r->slots));
  if (r->slots == NULL)
    return -ENOMEM;
  r->mask = n - 1;
  return 0;
}

void xw_vm_repeats_destroy(struct xw_vm_repeats *r) {
  free(r->slots);
  r->slots = NULL;
  r->mask = 0;
}

static bool same(const struct xw_vm_key *a, const struct xw_vm_key *b) {
  return a->device == b->device && a->serial == b->serial &&
         a->vm_id == b->vm_id && a->watch_id == b->watch_id;
}

static size_t hash(const struct xw_vm_key *k) {
  uint64_t h = k->vm_id;
  h = h * 0x9e3779b97f4a7c15u ^ k->device;
  h = h * 0x9e3779b97f4a7c15u ^ k->serial;
  h = h * 0x9e3779b97f4a7c15u ^ k->watch_id;
  h ^= h >> 29;
  return (size_t)(h * 0xbf58476d1ce4e5b9u >> 32);
}

uint32_t xw_vm_repeats_hit(struct xw_vm_repeats *r, const struct xw_vm_key *key,
                           uint64_t now, uint64_t window) {
  if (now == 0)
    now = 1; /* start 0 marks a free slot */
  size_t h = hash(key);
  struct xw_vm_slot *victim = NULL;
  for (size_t i = 0; i < XW_VM_PROBE; i++) {
    struct xw_vm_slot *s = &r->slots[(h + i) & r->mask];
    if (s->start != 0 && same(&s->key, key)) {
      if (now >= s->start + window) {
        s->start = now;
        s->count = 0;
      }
      s->last = now;
      return ++s->count;
    }
    bool reusable = s->start == 0 || now >= s->start + window;
    if (victim == NULL ||
        (reusable && victim->start != 0 && now < victim->start + window) ||
        (!reusable && victim->start != 0 && now < victim->start + window &&
         s->last < victim->last))
      victim = s;
  }
  victim->key = *key;
  victim->start = now;
  victim->last = now;
  victim->count = 1;
  return 1;
}
