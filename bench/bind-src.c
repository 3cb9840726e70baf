/*
 * LD_PRELOAD shim for the benchmark: a client's TCP connections leave from the IPv4 source address
 * in SMBTS_BIND_SRC (e.g. 127.0.0.5) instead of the one the kernel picks (127.0.0.1 for every
 * loopback destination), so that unmodified clients (smbtorture, smbclient) can be spread over
 * the workers the steering program chooses by client address. Compiled by bench/side-by-side.ts.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
  static int (*real)(int, const struct sockaddr *, socklen_t);
  if (!real) real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
  const char *src = getenv("SMBTS_BIND_SRC");
  if (src && addr && addr->sa_family == AF_INET) {
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    if (inet_pton(AF_INET, src, &sin.sin_addr) == 1) bind(fd, (struct sockaddr *)&sin, sizeof sin);
  }
  return real(fd, addr, len);
}
