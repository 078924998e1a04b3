/* Trivial NTP responder for checking the load generator (bench/server-load.ts): recvmmsg a batch,
 * turn each mode-3 request into a mode-4 reply (origin := request transmit), sendmmsg the batch.
 * No policy, no clock: it measures the generator and the loopback path, i.e. the practical ceiling
 * of a one-core server. Built by bench/server.ts with `cc -O2`; exits after a bounded time.
 * usage: server-echo PORT SECONDS */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: server-echo PORT SECONDS\n"); return 2; }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  int buf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 1; }
  time_t end = time(NULL) + atoi(argv[2]);
  static unsigned char data[BATCH][1024];
  static struct sockaddr_in6 names[BATCH];
  static struct iovec iov[BATCH];
  static struct mmsghdr msgs[BATCH];
  printf("ready\n");
  fflush(stdout);
  while (time(NULL) < end) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, 100) <= 0) continue;
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = data[i]; iov[i].iov_len = sizeof data[i];
      msgs[i].msg_hdr = (struct msghdr){ .msg_name = &names[i], .msg_namelen = sizeof names[i], .msg_iov = &iov[i], .msg_iovlen = 1 };
    }
    int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) continue;
    int m = 0;
    for (int i = 0; i < n; i++) {
      if (msgs[i].msg_len < 48 || (data[i][0] & 7) != 3) continue;
      unsigned char *q = data[i];
      q[0] = (q[0] & 0x38) | 4; q[1] = 8;
      memcpy(q + 24, q + 40, 8);
      if (m != i) { memcpy(data[m], q, 48); names[m] = names[i]; msgs[m].msg_hdr.msg_namelen = msgs[i].msg_hdr.msg_namelen; }
      iov[m].iov_len = 48;
      m++;
    }
    int off = 0;
    while (off < m) { int s = sendmmsg(fd, msgs + off, m - off, 0); if (s <= 0) break; off += s; }
  }
  return 0;
}
