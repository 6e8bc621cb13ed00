/* SPDX-License-Identifier: MIT */
/* Repeat counting of one VM's failures within a window. */
#include "vmrepeat.h"
#include "test-main.h"

#define W 60

static struct xw_vm_repeats r;

static void setup(void) { ck_assert_int_eq(xw_vm_repeats_init(&r, 64), 0); }
static void teardown(void) { xw_vm_repeats_destroy(&r); }

static uint32_t hit(uint32_t dev, uint8_t watch, uint32_t serial, uint32_t vm,
                    uint64_t now) {
  struct xw_vm_key k = {
      .device = dev, .watch_id = watch, .serial = serial, .vm_id = vm};
  return xw_vm_repeats_hit(&r, &k, now, W);
}

START_TEST(counts_one_vm_in_its_window) {
  ck_assert_uint_eq(hit(0, 0, 0, 3, 100), 1);
  ck_assert_uint_eq(hit(0, 0, 0, 3, 110), 2);
  ck_assert_uint_eq(hit(0, 0, 0, 3, 159), 3);
  /* The window opened at 100 has ended: a new one starts. */
  ck_assert_uint_eq(hit(0, 0, 0, 3, 160), 1);
  ck_assert_uint_eq(hit(0, 0, 0, 3, 161), 2);
}
END_TEST

/* vm_id is unique only within one DRM file: the same number on another
 * device, another client watch, or a later file in the same slot is
 * another VM. */
START_TEST(vm_id_is_per_file) {
  ck_assert_uint_eq(hit(0, 0, 0, 3, 100), 1);
  ck_assert_uint_eq(hit(1, 0, 0, 3, 100), 1);
  ck_assert_uint_eq(hit(0, 5, 1, 3, 100), 1);
  ck_assert_uint_eq(hit(0, 5, 2, 3, 100), 1);
  ck_assert_uint_eq(hit(0, 0, 0, 4, 100), 1);
  ck_assert_uint_eq(hit(0, 0, 0, 3, 101), 2);
  ck_assert_uint_eq(hit(0, 5, 1, 3, 101), 2);
}
END_TEST

/* Far more failing VMs than slots: the state stays bounded and a count
 * never exceeds the truth; with the dispatcher's 1024 slots a VM failing
 * steadily among 50 others per failure keeps its exact count. */
START_TEST(bounded_under_many_vms) {
  struct xw_vm_repeats big;
  ck_assert_int_eq(xw_vm_repeats_init(&big, 1024), 0);
  uint32_t truth = 0;
  for (uint32_t i = 0; i < 10000; i++) {
    uint64_t now = 1000000 + i; /* all within one window of 1e6 */
    struct xw_vm_key k = {.vm_id = 1000000 + i};
    ck_assert_uint_eq(xw_vm_repeats_hit(&r, &k, now, 1000000), 1);
    ck_assert_uint_eq(xw_vm_repeats_hit(&big, &k, now, 1000000), 1);
    if (i % 50 == 0) {
      struct xw_vm_key s7 = {.vm_id = 7};
      truth++;
      ck_assert_uint_le(xw_vm_repeats_hit(&r, &s7, now, 1000000), truth);
      ck_assert_uint_eq(xw_vm_repeats_hit(&big, &s7, now, 1000000), truth);
    }
  }
  ck_assert_uint_eq(truth, 200);
  ck_assert_uint_eq(r.mask + 1, 64);
  ck_assert_uint_eq(big.mask + 1, 1024);
  xw_vm_repeats_destroy(&big);
}
END_TEST

static Suite *vmrepeat_suite(void) {
  Suite *s = suite_create("vmrepeat");
  TCase *tc = tcase_create("window");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, counts_one_vm_in_its_window);
  tcase_add_test(tc, vm_id_is_per_file);
  tcase_add_test(tc, bounded_under_many_vms);
  suite_add_tcase(s, tc);
  return s;
}
XW_SUITE(vmrepeat_suite)
