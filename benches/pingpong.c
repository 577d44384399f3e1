// SPDX-License-Identifier: MIT OR Apache-2.0
// The trace benchmark's `events` part: a TCP loopback connection to itself,
// on which one thread writes 64 bytes and reads them back, N times. Prints
// the nanoseconds per round trip: one send and one receive, each one socket
// event for `dflow trace`.
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what)
{
	perror(what);
	return 1;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	int one = 1, listener, client, server;
	char buf[64] = { 0 };
	struct timespec t0, t1;

	listener = socket(AF_INET, SOCK_STREAM, 0);
	if (listener < 0 || bind(listener, (void *)&addr, sizeof(addr)) || listen(listener, 1) ||
	    getsockname(listener, (void *)&addr, &len))
		return fail("listen");
	client = socket(AF_INET, SOCK_STREAM, 0);
	if (client < 0 || connect(client, (void *)&addr, sizeof(addr)))
		return fail("connect");
	server = accept(listener, NULL, NULL);
	if (server < 0)
		return fail("accept");
	setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++) {
		if (write(client, buf, sizeof(buf)) != sizeof(buf))
			return fail("write");
		if (read(server, buf, sizeof(buf)) != sizeof(buf))
			return fail("read");
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.1f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n);
	return 0;
}
