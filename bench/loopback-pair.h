/*
 * The connection bench/write-floor.c and bench/read-floor.c measure over: a loopback TCP
 * listener, a child process that connects to it (and then plays the client), and the parent's
 * accepted socket.
 */
#ifndef SMBTS_BENCH_LOOPBACK_PAIR_H
#define SMBTS_BENCH_LOOPBACK_PAIR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

/* Forks. In the child: returns 0 with *fd the connected socket. In the parent: returns the
 * child's pid with *fd the accepted socket. -1 when the listener or the fork failed. */
static pid_t loopback_pair(int *fd) {
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t alen = sizeof a;
  if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 1) < 0 ||
      getsockname(ls, (struct sockaddr *)&a, &alen) < 0) { perror("listen"); return -1; }
  pid_t child = fork();
  if (child < 0) { perror("fork"); return -1; }
  if (child == 0) {
    close(ls);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0) _exit(1);
    *fd = c;
    return 0;
  }
  *fd = accept(ls, NULL, NULL);
  close(ls);
  return child;
}

#endif
