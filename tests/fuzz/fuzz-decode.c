/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the record decoder: any bytes a read() could return.
 * Invariants: the walk only moves forward, never past the input, ends, and
 * classifies every record. */
#include "decode.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t off = 0, steps = 0;
  struct xw_event ev;
  while (xw_decode_next(data, size, &off, &ev)) {
    if (off > size || ++steps > size / 8 + 1)
      abort();
    if (ev.kind > XW_EV_MALFORMED)
      abort();
    if (ev.kind == XW_EV_VM_ERR && (ev.error_code >= 0 || ev.length < 16))
      abort();
    if (ev.kind != XW_EV_MALFORMED && ev.reason != XW_BAD_NONE)
      abort();
  }
  if (off != size && size != 0)
    abort();
  return 0;
}
