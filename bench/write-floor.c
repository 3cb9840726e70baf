/*
 * The kernel's floor for a server's sequential write: what receiving N MiB over loopback TCP and
 * writing them into a file costs the receiving process, with nothing else in between (no
 * protocol, no crypto). Every SMB server pays at least this per byte of a plain WRITE; the
 * benchmark prints it beside the servers' CPU per GiB, so a ratio to Samba can be read against
 * what no user-space code can go below on this machine (page-cache copies into fresh pages cost
 * a lot on this VM kind: FIELD-NOTES).
 *
 *   write-floor FILE MIB   ->  "<seconds of user+sys CPU of the receiver> <wall seconds>"
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "loopback-pair.h"

#define CHUNK (1 << 20)

static double secs(struct timeval t) { return (double)t.tv_sec + (double)t.tv_usec / 1e6; }

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: write-floor FILE MIB\n"); return 2; }
  size_t total = (size_t)atol(argv[2]) << 20;
  int s;
  pid_t child = loopback_pair(&s);
  if (child < 0) return 1;
  if (child == 0) {
    int c = s;
    char *b = malloc(CHUNK);
    memset(b, 7, CHUNK);
    for (size_t sent = 0; sent < total;) {
      ssize_t n = write(c, b, CHUNK < total - sent ? CHUNK : total - sent);
      if (n <= 0) _exit(1);
      sent += (size_t)n;
    }
    _exit(0);
  }
  int f = open(argv[1], O_CREAT | O_TRUNC | O_WRONLY, 0600);
  char *buf = aligned_alloc(4096, CHUNK);
  if (s < 0 || f < 0 || buf == NULL) { perror("setup"); return 1; }
  struct rusage r0, r1;
  struct timespec t0, t1;
  getrusage(RUSAGE_SELF, &r0);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  size_t got = 0;
  while (got < total) {
    ssize_t n = recv(s, buf, CHUNK, MSG_WAITALL);
    if (n <= 0) break;
    if (pwrite(f, buf, (size_t)n, (off_t)got) != n) { perror("pwrite"); return 1; }
    got += (size_t)n;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  getrusage(RUSAGE_SELF, &r1);
  waitpid(child, NULL, 0);
  close(f);
  unlink(argv[1]);
  if (got != total) { fprintf(stderr, "short: %zu of %zu\n", got, total); return 1; }
  double cpu = secs(r1.ru_utime) - secs(r0.ru_utime) + secs(r1.ru_stime) - secs(r0.ru_stime);
  printf("%.4f %.4f\n", cpu, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  return 0;
}
