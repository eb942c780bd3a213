// Runs a command the way systemd's SystemCallFilter= runs a service: a seccomp allow-list
// (syscall numbers in $ALLOW, comma-separated) where any other system call kills the process,
// systemd's default when SystemCallErrorNumber= is not set. Used by test/integration/systemd.test.ts
// to start the units' commands under their own filter, as no systemd runs as PID 1 in CI.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
  const char *allow = getenv("ALLOW");
  if (argc < 2 || !allow) {
    fprintf(stderr, "usage: ALLOW=n,n,... seccomp-allow command [args...]\n");
    return 2;
  }
  size_t count = 1;
  for (const char *c = allow; *c; c++) count += *c == ',';
  struct sock_filter *filter = calloc(2 * count + 2, sizeof *filter);
  size_t k = 0;
  filter[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
  char *list = strdup(allow);
  for (char *item = strtok(list, ","); item; item = strtok(NULL, ",")) {
    filter[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)atoi(item), 0, 1);
    filter[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  }
  filter[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  struct sock_fprog program = {.len = (unsigned short)k, .filter = filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program)) {
    perror("seccomp");
    return 2;
  }
  execvp(argv[1], argv + 1);
  perror("exec");
  return 2;
}
