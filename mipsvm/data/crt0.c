/* optimist crt0: the VM ABI entry. $sp is set by the VM; main's return code exits (syscall 4001 =
 * SYS_EXIT of mipsvm/layout.py; tests/test_shared_numbers.py compares the copy). */
int main(void);

__attribute__((noreturn)) void optimist_exit(int code) {
  register int v0 __asm__("$2") = 4001;
  register int a0 __asm__("$4") = code;
  __asm__ volatile("syscall" : : "r"(v0), "r"(a0) : "memory");
  for (;;) {
  }
}

__attribute__((section(".text._start"), noreturn)) void _start(void) {
  optimist_exit(main());
}
