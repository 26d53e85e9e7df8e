// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * echo_load: a closed-loop load generator for echo servers, the same for every server
 * measured. Each of CONNS connections sends a MSG-byte message, waits for all of it to come
 * back, and sends the next: one request in flight per connection. It runs WARMUP seconds
 * unmeasured, then SECONDS measured, and prints one line:
 *
 *   requests=N seconds=S rps=R p50_us=A p99_us=B client_busy=C server_cpu_us_per_req=D
 *
 * Latency is from a send to the last byte of its echo. client_busy is this process's CPU time
 * over wall time (near 1.0 means the generator itself may be the bottleneck). With --pid, the
 * server's CPU time over the measured window (all its threads, from schedstat) per request.
 * Plain epoll, level-triggered, one thread; loopback only.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
	int fd;
	size_t got;       /* bytes of the current echo received */
	uint64_t sent_at; /* when the current message was sent */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "echo_load: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* CPU time of every thread of pid, in ns (schedstat's first field), or 0 if unreadable. */
static uint64_t proc_cpu_ns(int pid)
{
	char path[64];
	struct dirent *de;
	uint64_t total = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char p[320];
		unsigned long long ns;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/%d/task/%s/schedstat", pid, de->d_name);
		f = fopen(p, "r");
		if (!f)
			continue;
		if (fscanf(f, "%llu", &ns) == 1)
			total += ns;
		fclose(f);
	}
	closedir(d);
	return total;
}

static uint64_t self_cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		die("getrusage");
	return (uint64_t)ru.ru_utime.tv_sec * 1000000000u + (uint64_t)ru.ru_utime.tv_usec * 1000u +
	       (uint64_t)ru.ru_stime.tv_sec * 1000000000u + (uint64_t)ru.ru_stime.tv_usec * 1000u;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void send_msg(struct conn *c, const char *msg, size_t len)
{
	size_t off = 0;

	c->got = 0;
	c->sent_at = now_ns();
	while (off < len) {
		ssize_t n = send(c->fd, msg + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("send");
		off += (size_t)n;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	size_t nconns, msg_len = 64, nlat = 0, cap_lat = 1 << 20;
	double seconds, warmup = 0.5;
	uint64_t t_start, t_measure, t_end, t0 = 0, t1, cpu0 = 0, scpu0 = 0, cpu1, scpu1 = 0;
	double window;
	struct epoll_event *evs;
	struct conn *conns;
	uint32_t *lat;
	char *msg, buf[65536];
	int ep, server_pid = 0, one = 1, measuring = 0;

	if (argc < 5) {
		fprintf(stderr,
			"usage: echo_load HOST PORT CONNS SECONDS [WARMUP] [MSG] [--pid PID]\n");
		return 2;
	}
	if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
		fprintf(stderr, "echo_load: not an IPv4 address: %s\n", argv[1]);
		return 2;
	}
	addr.sin_port = htons((uint16_t)atoi(argv[2]));
	nconns = (size_t)atol(argv[3]);
	seconds = atof(argv[4]);
	for (int i = 5; i < argc; i++) {
		if (strcmp(argv[i], "--pid") == 0 && i + 1 < argc)
			server_pid = atoi(argv[++i]);
		else if (i == 5)
			warmup = atof(argv[i]);
		else if (i == 6)
			msg_len = (size_t)atol(argv[i]);
	}
	if (!nconns || seconds <= 0 || !msg_len || msg_len > sizeof(buf)) {
		fprintf(stderr, "echo_load: bad arguments\n");
		return 2;
	}
	msg = malloc(msg_len);
	conns = calloc(nconns, sizeof(*conns));
	evs = calloc(nconns, sizeof(*evs));
	lat = malloc(cap_lat * sizeof(*lat));
	if (!msg || !conns || !evs || !lat)
		die("malloc");
	memset(msg, 'x', msg_len);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	for (size_t i = 0; i < nconns; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &conns[i] };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			die("socket");
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			die("connect");
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			die("setsockopt(TCP_NODELAY)");
		if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
			die("fcntl(O_NONBLOCK)");
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			die("epoll_ctl");
		conns[i].fd = fd;
	}
	t_start = now_ns();
	t_measure = t_start + (uint64_t)(warmup * 1e9);
	t_end = t_measure + (uint64_t)(seconds * 1e9);
	for (size_t i = 0; i < nconns; i++)
		send_msg(&conns[i], msg, msg_len);
	for (;;) {
		uint64_t now = now_ns();
		int n;

		if (!measuring && now >= t_measure) {
			measuring = 1;
			nlat = 0;
			t0 = now;
			cpu0 = self_cpu_ns();
			if (server_pid)
				scpu0 = proc_cpu_ns(server_pid);
		}
		if (now >= t_end)
			break;
		n = epoll_wait(ep, evs, (int)nconns, 10);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			ssize_t r = recv(c->fd, buf, sizeof(buf), 0);

			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				fprintf(stderr, "echo_load: server closed a connection\n");
				return 1;
			}
			c->got += (size_t)r;
			if (c->got < msg_len)
				continue;
			if (measuring) {
				uint64_t d = now_ns() - c->sent_at;

				if (nlat == cap_lat) {
					cap_lat *= 2;
					lat = realloc(lat, cap_lat * sizeof(*lat));
					if (!lat)
						die("realloc");
				}
				lat[nlat++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
			}
			send_msg(c, msg, msg_len);
		}
	}
	t1 = now_ns();
	cpu1 = self_cpu_ns();
	if (server_pid)
		scpu1 = proc_cpu_ns(server_pid);
	window = (double)(t1 - t0) / 1e9;
	if (!nlat) {
		fprintf(stderr, "echo_load: no request completed in the measured window\n");
		return 1;
	}
	qsort(lat, nlat, sizeof(*lat), cmp_u32);
	printf("requests=%zu seconds=%.3f rps=%.0f p50_us=%.1f p99_us=%.1f client_busy=%.2f",
	       nlat, window, (double)nlat / window, lat[nlat / 2] / 1e3,
	       lat[(size_t)((double)nlat * 0.99)] / 1e3, (double)(cpu1 - cpu0) / 1e9 / window);
	if (server_pid && scpu1 > scpu0)
		printf(" server_cpu_us_per_req=%.2f", (double)(scpu1 - scpu0) / 1e3 / (double)nlat);
	printf("\n");
	for (size_t i = 0; i < nconns; i++)
		close(conns[i].fd);
	free(lat);
	free(evs);
	free(conns);
	free(msg);
	return 0;
}
