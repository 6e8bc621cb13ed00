/* SPDX-License-Identifier: MIT */
/* Replays the fuzz corpus through the fuzz target without libFuzzer, so
 * `make check` keeps every seed (and every crash found and added) passing. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(void) {
  const char *src = getenv("XW_SRCDIR");
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus-decode", src ? src : ".");
  DIR *d = opendir(dir);
  if (d == NULL) {
    perror(dir);
    return 1;
  }
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (e->d_name[0] == '.')
      continue;
    char path[8192];
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
      continue;
    uint8_t buf[65536];
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len); /* aborts on a broken invariant */
    n++;
  }
  closedir(d);
  printf("%d passed, 0 failed\n", n);
  return n > 0 ? 0 : 1;
}
