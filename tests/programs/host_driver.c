/* Host (native) driver for the VM test programs: includes VMTEST_PROGRAM with main renamed,
 * then prints its exit code and results[] so tests can compare with the VM run. */
#include <stdio.h>

#define main vm_main
#include VMTEST_PROGRAM
#undef main

int main(void) {
  int rc = vm_main();
  printf("%d\n", rc & 0xff);
  for (int i = 0; i < 64; i++) printf("%u\n", results[i]);
  return 0;
}
