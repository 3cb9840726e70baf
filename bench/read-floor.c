/*
 * The kernel's floor for a server's sequential read: what sending a cached file of N MiB over
 * loopback TCP costs the sending process, with nothing else in between (no protocol, no crypto),
 * two ways:
 *   copy:   pread into a buffer, then send it (the data is copied twice: page cache -> buffer ->
 *           socket); what a server that signs or encrypts must do, and Samba's default;
 *   splice: splice(file -> pipe), then splice(pipe -> socket) (page references, no copy); what
 *           smbts does for an unsigned, unencrypted READ on its io_uring path.
 * The benchmark prints both beside the servers' CPU per GiB. The receiver (a child process)
 * copies every byte once either way; its CPU is not counted.
 *
 *   read-floor FILE copy|splice  ->  "<seconds of user+sys CPU of the sender> <wall seconds>"
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

/* One request's worth, as an SMB client asks for it (8 MiB READs). */
#define REQUEST (8 << 20)
#define PIPE_BYTES (1 << 20)

static double secs(struct timeval t) { return (double)t.tv_sec + (double)t.tv_usec / 1e6; }

static int send_all(int s, const char *b, size_t n) {
  for (size_t w = 0; w < n;) {
    ssize_t k = send(s, b + w, n - w, 0);
    if (k <= 0) return -1;
    w += (size_t)k;
  }
  return 0;
}

/* Moves n bytes of f at pos to s through the pipe p, one pipe-full at a time. */
static int splice_all(int f, off_t pos, size_t n, int p[2], int s) {
  for (size_t done = 0; done < n;) {
    loff_t at = pos + (off_t)done;
    size_t want = n - done < PIPE_BYTES ? n - done : PIPE_BYTES;
    ssize_t in = splice(f, &at, p[1], NULL, want, 0);
    if (in <= 0) return -1;
    for (ssize_t out = 0; out < in;) {
      ssize_t k = splice(p[0], NULL, s, NULL, (size_t)(in - out), done + (size_t)in < n ? SPLICE_F_MORE : 0);
      if (k <= 0) return -1;
      out += k;
    }
    done += (size_t)in;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3 || (strcmp(argv[2], "copy") != 0 && strcmp(argv[2], "splice") != 0)) {
    fprintf(stderr, "usage: read-floor FILE copy|splice\n");
    return 2;
  }
  int use_splice = strcmp(argv[2], "splice") == 0;
  int f = open(argv[1], O_RDONLY);
  if (f < 0) { perror("open"); return 1; }
  off_t total = lseek(f, 0, SEEK_END);
  int s;
  pid_t child = loopback_pair(&s);
  if (child < 0) return 1;
  if (child == 0) {
    int c = s;
    char *b = malloc(REQUEST);
    for (off_t got = 0; got < total;) {
      ssize_t n = recv(c, b, REQUEST, 0);
      if (n <= 0) _exit(1);
      got += n;
    }
    _exit(0);
  }
  char *buf = aligned_alloc(4096, REQUEST);
  int p[2];
  if (s < 0 || buf == NULL || pipe(p) < 0) { perror("setup"); return 1; }
  if (use_splice && fcntl(p[1], F_SETPIPE_SZ, PIPE_BYTES) < 0) { perror("F_SETPIPE_SZ"); return 1; }
  struct rusage r0, r1;
  struct timespec t0, t1;
  getrusage(RUSAGE_SELF, &r0);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (off_t pos = 0; pos < total; pos += REQUEST) {
    size_t n = total - pos < REQUEST ? (size_t)(total - pos) : REQUEST;
    if (use_splice) {
      if (splice_all(f, pos, n, p, s) < 0) { perror("splice"); return 1; }
    } else {
      if (pread(f, buf, n, pos) != (ssize_t)n || send_all(s, buf, n) < 0) { perror("pread/send"); return 1; }
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  getrusage(RUSAGE_SELF, &r1);
  int status = 0;
  waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { fprintf(stderr, "receiver failed\n"); return 1; }
  double cpu = secs(r1.ru_utime) - secs(r0.ru_utime) + secs(r1.ru_stime) - secs(r0.ru_stime);
  printf("%.4f %.4f\n", cpu, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  return 0;
}
