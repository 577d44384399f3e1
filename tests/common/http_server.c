/*
 * An HTTP/1.1 server for dflow's trace tests and benchmark: a thread per
 * connection, keep-alive, requests without bodies. `/missing/...` answers
 * 404, `/fail/...` 500, anything else 200 with a 5-byte body.
 *
 *   http_server [SLEEP_MS]
 *
 * It prints its port. Each request sleeps SLEEP_MS (default 50) and, unless
 * SLEEP_MS is 0 (the benchmark, as fast as it goes), prints a JSON line with
 * the client's port, the path, the code and the ns from the read that
 * completed the request to the write of the response: its own measurement,
 * right at the syscalls.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t out = PTHREAD_MUTEX_INITIALIZER;
static long sleep_ms = 50;

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Answers one request whose head starts `req`; false when the peer is gone. */
static int answer(int fd, const char *req, int peer_port) {
    long long t0 = now_ns();
    char path[512] = "";
    sscanf(req, "%*s %511s", path);
    int code = strncmp(path, "/missing", 8) == 0 ? 404 : strncmp(path, "/fail", 5) == 0 ? 500 : 200;
    const char *reason = code == 200 ? "OK" : code == 404 ? "Not Found" : "Internal Server Error";
    if (sleep_ms > 0) {
        struct timespec nap = {sleep_ms / 1000, sleep_ms % 1000 * 1000000L};
        nanosleep(&nap, NULL);
    }
    char resp[256];
    int m = snprintf(resp, sizeof(resp), "HTTP/1.1 %d %s\r\nContent-Length: 5\r\n\r\nhello", code, reason);
    long long t1 = now_ns();
    if (write(fd, resp, m) != m)
        return 0;
    if (sleep_ms > 0) {
        pthread_mutex_lock(&out);
        printf("{\"port\": %d, \"path\": \"%s\", \"code\": %d, \"ns\": %lld}\n", peer_port, path, code, t1 - t0);
        fflush(stdout);
        pthread_mutex_unlock(&out);
    }
    return 1;
}

static void *serve(void *arg) {
    int fd = (int)(long)arg;
    struct sockaddr_in peer;
    socklen_t len = sizeof(peer);
    getpeername(fd, (struct sockaddr *)&peer, &len);
    char buf[8192];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (n <= 0)
            break;
        have += n;
        buf[have] = 0;
        char *end;
        while ((end = strstr(buf, "\r\n\r\n"))) {
            if (!answer(fd, buf, ntohs(peer.sin_port)))
                goto out;
            size_t used = end + 4 - buf;
            memmove(buf, buf + used, have - used + 1);
            have -= used;
        }
    }
out:
    close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1)
        sleep_ms = atol(argv[1]);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, (struct sockaddr *)&a, sizeof(a));
    listen(s, 128);
    socklen_t len = sizeof(a);
    getsockname(s, (struct sockaddr *)&a, &len);
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0)
            continue;
        pthread_t t;
        pthread_create(&t, NULL, serve, (void *)(long)c);
        pthread_detach(t);
    }
}
