/*
 * TCP_INFO's tcpi_bytes_acked, in a file of its own: glibc's <netinet/tcp.h> (which sock.c needs)
 * declares a struct tcp_info older than that field, and the kernel's <linux/tcp.h>, which has it,
 * cannot be included beside it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/tcp.h>

int smbts_tcp_bytes_acked(int fd, uint64_t *out) {
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  memset(&ti, 0, sizeof ti);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0) return -errno;
  /* A kernel older than the field (4.2) returns a shorter struct. */
  if (len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof ti.tcpi_bytes_acked) return -EOPNOTSUPP;
  *out = ti.tcpi_bytes_acked;
  return 0;
}
