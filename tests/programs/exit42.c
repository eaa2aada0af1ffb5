/* Smallest program: exit code 42, with a writable global so the ELF has a data segment. */
volatile int answer = 42;

int main(void) { return answer; }
