// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * dbapi's process: the command line, N hubs each run by gh_hub_run on its own pthread and
 * accepting on its own SO_REUSEPORT listener (the kernel spreads connections over them), and
 * the shutdown.
 *
 * The main thread starts the hubs, waits until each has said it runs (a gh_future per hub,
 * whose value is its mode), prints the ready line, then waits for SIGINT or SIGTERM with
 * sigwaitinfo (the signals are blocked in every thread, which the carriers inherit). On one
 * it sets the shared "stop" future that every hub's main green thread waits on: each hub then
 * stops accepting, shuts the reading side of its connections so that they answer what they
 * have read and close, waits for them (cancelling any left after DRAIN_TIMEOUT), and its run
 * ends. The process exits 0 once every hub has.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dbapi.h"

#define HUBS_MAX 256
#define DRAIN_TIMEOUT MS(15000)

struct config cfg = {
	.addr = "127.0.0.1",
	.port = 8080,
	.hubs = 1,
	.pool = 16,
	.max_conns = 10000,
	.yield_every = 1,
};

atomic_bool stopping;
static gh_future *stop;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dbapi --db mysql://USER[:PASS]@HOST[:PORT]/DB [options]\n"
		"An HTTP/1.1 server over libmariadb: N hubs, one green thread per connection,\n"
		"database calls made bare from green threads (docs/dbapi.md).\n"
		"  GET /json           {\"message\":\"Hello, World!\"}\n"
		"  GET /db             one random row of world\n"
		"  GET /queries?n=N    N random rows (1..%d)\n"
		"  GET /slow?ms=N      SELECT SLEEP(N/1000) (0..%d)\n"
		"\n"
		"  --listen ADDR:PORT   IPv4 address and port (0: any free one) (default 127.0.0.1:8080)\n"
		"  --hubs N             hubs, each on its own thread and listener (default 1)\n"
		"  --db URL             the database (required)\n"
		"  --init               create the database and its world table (%d rows) if missing\n"
		"  --pool N             database connections per hub (default 16)\n"
		"  --db-timeout S       seconds a database call may wait for the server (connect,\n"
		"                       each read and write; /slow's reads N ms more) before the\n"
		"                       request gets 503 (1..%d, default %d)\n"
		"  --max-conns N        client connections per hub; more wait (default 10000)\n"
		"  --yield-every N      a connection yields to the hub's other green threads after\n"
		"                       every N requests it answers; 0: never (default 1)\n"
		"  --help               show this help\n"
		"\n"
		"The mode (kernel assist) follows GREENHUB_MODE (auto, none, trace, sched_ext).\n"
		"Prints \"dbapi: listening on ADDR:PORT with N hubs (mode M)\" when ready. SIGINT or\n"
		"SIGTERM stops accepting, answers the requests in flight, and exits 0.\n",
		QUERIES_MAX, SLOW_MAX_MS, WORLD_ROWS, DB_TIMEOUT_MAX_S, DB_TIMEOUT_DEFAULT_S);
}

/* ---------------------------------------------------------------------------------------- */
/* The command line                                                                           */

/* *out = optarg as a number in lo..hi: 0, or -1 after saying what is wrong. */
static int parse_uint(const char *opt, const char *arg, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || arg[0] == '-' || v < lo || v > hi) {
		fprintf(stderr, "dbapi: %s must be a number %u..%u, not '%s'\n", opt, lo, hi, arg);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

static int parse_listen(const char *arg)
{
	const char *colon = strrchr(arg, ':');
	struct in_addr a;

	if (!colon || (size_t)(colon - arg) >= sizeof(cfg.addr)) {
		fprintf(stderr, "dbapi: --listen must be ADDR:PORT, not '%s'\n", arg);
		return -1;
	}
	memcpy(cfg.addr, arg, (size_t)(colon - arg));
	cfg.addr[colon - arg] = '\0';
	if (inet_pton(AF_INET, cfg.addr, &a) != 1) {
		fprintf(stderr, "dbapi: --listen: not an IPv4 address: '%s'\n", cfg.addr);
		return -1;
	}
	return parse_uint("--listen's port", colon + 1, 0, 65535, &cfg.port);
}

/* -1 to go on, else main()'s exit status. */
static int parse_args(int argc, char **argv)
{
	enum { O_LISTEN = 256, O_HUBS, O_DB, O_INIT, O_POOL, O_DB_TIMEOUT, O_MAX_CONNS, O_YIELD,
	       O_HELP };
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "hubs", required_argument, NULL, O_HUBS },
		{ "db", required_argument, NULL, O_DB },
		{ "init", no_argument, NULL, O_INIT },
		{ "pool", required_argument, NULL, O_POOL },
		{ "db-timeout", required_argument, NULL, O_DB_TIMEOUT },
		{ "max-conns", required_argument, NULL, O_MAX_CONNS },
		{ "yield-every", required_argument, NULL, O_YIELD },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	unsigned db_timeout_s = DB_TIMEOUT_DEFAULT_S;
	bool have_db = false;
	char err[256];
	int c, bad = 0;

	opterr = 0;
	while (!bad && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_LISTEN: bad = parse_listen(optarg); break;
		case O_HUBS: bad = parse_uint("--hubs", optarg, 1, HUBS_MAX, &cfg.hubs); break;
		case O_POOL: bad = parse_uint("--pool", optarg, 1, 4096, &cfg.pool); break;
		case O_DB_TIMEOUT:
			bad = parse_uint("--db-timeout", optarg, 1, DB_TIMEOUT_MAX_S, &db_timeout_s);
			break;
		case O_MAX_CONNS:
			bad = parse_uint("--max-conns", optarg, 1, 1000000, &cfg.max_conns);
			break;
		case O_YIELD:
			bad = parse_uint("--yield-every", optarg, 0, 1000000, &cfg.yield_every);
			break;
		case O_INIT: cfg.init = true; break;
		case O_DB:
			bad = db_parse_url(optarg, &cfg.db, err, sizeof(err));
			if (bad)
				fprintf(stderr, "dbapi: %s\n", err);
			have_db = true;
			break;
		case 'h':
		case O_HELP: usage(stdout); return 0;
		case ':':
			fprintf(stderr, "dbapi: %s needs a value\n", argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "dbapi: unknown option '%s' (--help lists them)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (bad)
		return 2;
	if (optind < argc) {
		fprintf(stderr, "dbapi: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!have_db) {
		fprintf(stderr, "dbapi: --db mysql://USER[:PASS]@HOST[:PORT]/DB is required\n");
		return 2;
	}
	cfg.db.timeout_s = db_timeout_s; /* after --db, which resets cfg.db */
	return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Listeners                                                                                  */

/* A listener on cfg.addr:*port with SO_REUSEPORT; *port gets the port bound (for port 0, so
 * that the next hubs bind the same). The fd, or -1 after saying why. */
static int listen_on(unsigned *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)*port) };
	socklen_t len = sizeof(sa);
	const int one = 1;
	int fd = gh_socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0) {
		fprintf(stderr, "dbapi: socket: %s\n", gh_strerror(fd));
		return -1;
	}
	inet_pton(AF_INET, cfg.addr, &sa.sin_addr); /* checked by parse_listen */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		fprintf(stderr, "dbapi: listening on %s:%u: %s\n", cfg.addr, *port, strerror(errno));
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

/* ---------------------------------------------------------------------------------------- */
/* A hub                                                                                      */

static void *acceptor(void *arg)
{
	struct hub_ctx *hc = arg;
	const int one = 1;

	for (;;) {
		int fd = gh_accept(hc->listen_fd, NULL, NULL, GH_NEVER), err;
		struct conn *c;

		if (fd == -ECANCELED || fd == -EBADF)
			break;
		if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
			/* Out of fds or memory: let connections finish, then try again. */
			fprintf(stderr, "dbapi: accept: %s\n", gh_strerror(fd));
			if (gh_sleep(MS(100)) < 0)
				break;
			continue;
		}
		if (fd < 0)
			continue; /* that connection is gone (ECONNABORTED, EPROTO, EPERM) */
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			fprintf(stderr, "dbapi: setsockopt(TCP_NODELAY): %s\n", strerror(errno));
		c = conn_new(hc, fd);
		if (!c)
			continue;
		err = gh_pool_spawn(hc->handlers, conn_serve, c, GH_NEVER);
		if (err) {
			conn_drop(c);
			if (err == -ECANCELED)
				break;
			fprintf(stderr, "dbapi: gh_pool_spawn: %s\n", gh_strerror(err));
		}
	}
	return NULL;
}

/* Stop accepting, let the connections answer what they have read, and wait for them. */
static void drain(struct hub_ctx *hc, gh_thread *acc)
{
	int err = gh_cancel(acc);

	if (err)
		fprintf(stderr, "dbapi: gh_cancel(acceptor): %s\n", gh_strerror(err));
	err = gh_join(acc, NULL);
	if (err)
		fprintf(stderr, "dbapi: gh_join(acceptor): %s\n", gh_strerror(err));
	gh_close(hc->listen_fd);
	hc->listen_fd = -1;
	conns_stop_reading(hc);
	err = gh_pool_waitall(hc->handlers, gh_now() + DRAIN_TIMEOUT);
	if (err == -ETIMEDOUT) {
		fprintf(stderr, "dbapi: hub %u: %zu connections still busy; cancelling them\n",
			hc->index, gh_pool_running(hc->handlers));
		gh_pool_cancel(hc->handlers);
		err = gh_pool_waitall(hc->handlers, GH_NEVER);
	}
	if (err)
		fprintf(stderr, "dbapi: gh_pool_waitall: %s\n", gh_strerror(err));
}

/* A hub's main green thread: serve until the stop future is set. */
static void *hub_main(void *arg)
{
	struct hub_ctx *hc = arg;
	gh_thread *acc;
	int err;

	hc->db = db_pool_create(&cfg.db, cfg.pool);
	hc->handlers = gh_pool_create(cfg.max_conns);
	if (!hc->handlers)
		fprintf(stderr, "dbapi: gh_pool_create: %s\n", strerror(errno));
	acc = hc->db && hc->handlers ? gh_spawn(acceptor, hc) : NULL;
	if (!acc) {
		if (hc->db && hc->handlers)
			fprintf(stderr, "dbapi: gh_spawn(acceptor): %s\n", strerror(errno));
		hc->result = 1;
		goto out;
	}
	gh_future_set(hc->ready, (void *)(intptr_t)gh_hub_mode(gh_hub_current()));
	err = gh_future_wait(stop, NULL, GH_NEVER);
	if (err)
		fprintf(stderr, "dbapi: gh_future_wait(stop): %s\n", gh_strerror(err));
	drain(hc, acc);
out:
	if (hc->handlers && (err = gh_pool_destroy(hc->handlers)))
		fprintf(stderr, "dbapi: gh_pool_destroy: %s\n", gh_strerror(err));
	db_pool_destroy(hc->db);
	return NULL;
}

/* A hub's pthread. */
static void *hub_thread(void *arg)
{
	struct hub_ctx *hc = arg;
	int err = gh_hub_run(hc->hub, hub_main, hc, NULL);

	if (err) {
		fprintf(stderr, "dbapi: hub %u: gh_hub_run: %s (%s)\n", hc->index, gh_strerror(err),
			gh_hub_mode_reason(hc->hub));
		hc->result = 1;
	}
	/* If the hub never said it runs, say it failed (-EALREADY otherwise: fine). */
	gh_future_set(hc->ready, NULL);
	if (hc->listen_fd >= 0)
		close(hc->listen_fd);
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* The process                                                                                */

/* Create hub i's listener, hub and ready future. 0, or -1 after saying why. */
static int hub_setup(struct hub_ctx *hc, unsigned i)
{
	hc->index = i;
	hc->listen_fd = listen_on(&cfg.port);
	if (hc->listen_fd < 0)
		return -1;
	hc->ready = gh_future_create();
	if (!hc->ready) {
		fprintf(stderr, "dbapi: gh_future_create: %s\n", strerror(errno));
		return -1;
	}
	hc->hub = gh_hub_create(NULL);
	if (!hc->hub) {
		fprintf(stderr, "dbapi: gh_hub_create: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Start every hub and wait until each runs. The number started; *mode the first one's. */
static unsigned start_hubs(struct hub_ctx *hubs, enum gh_mode *mode, bool *ok)
{
	unsigned started = 0;

	*ok = true;
	for (unsigned i = 0; i < cfg.hubs && *ok; i++) {
		int err;

		if (hub_setup(&hubs[i], i)) {
			*ok = false;
			break;
		}
		err = pthread_create(&hubs[i].thread, NULL, hub_thread, &hubs[i]);
		if (err) {
			fprintf(stderr, "dbapi: pthread_create: %s\n", strerror(err));
			*ok = false;
			break;
		}
		started++;
	}
	for (unsigned i = 0; i < started; i++) {
		void *v = NULL;

		gh_future_wait(hubs[i].ready, &v, GH_NEVER);
		if (!v)
			*ok = false;
		else if (i == 0)
			*mode = (enum gh_mode)(intptr_t)v;
	}
	return started;
}

/* Wait for SIGINT or SIGTERM (blocked in every thread since main began). */
static void wait_for_stop_signal(const sigset_t *set)
{
	int sig;

	while ((sig = sigwaitinfo(set, NULL)) < 0 && errno == EINTR)
		;
	if (sig < 0)
		fprintf(stderr, "dbapi: sigwaitinfo: %s\n", strerror(errno));
	else
		fprintf(stderr, "dbapi: %s, draining\n", strsignal(sig));
}

/* Stop and join the started hubs; 0 if every one ran and ended well. */
static int stop_hubs(struct hub_ctx *hubs, unsigned started)
{
	int result = 0;

	atomic_store(&stopping, true);
	gh_future_set(stop, NULL);
	for (unsigned i = 0; i < started; i++) {
		int err = pthread_join(hubs[i].thread, NULL);

		if (err)
			fprintf(stderr, "dbapi: pthread_join: %s\n", strerror(err));
		result |= hubs[i].result;
	}
	for (unsigned i = 0; i < cfg.hubs; i++) {
		if (hubs[i].hub && gh_hub_destroy(hubs[i].hub))
			fprintf(stderr, "dbapi: gh_hub_destroy failed\n");
		if (hubs[i].ready)
			gh_future_destroy(hubs[i].ready);
		if (i >= started && hubs[i].listen_fd >= 0)
			close(hubs[i].listen_fd);
	}
	return result;
}

int main(int argc, char **argv)
{
	struct hub_ctx *hubs;
	enum gh_mode mode = GH_MODE_NONE;
	unsigned started;
	sigset_t set;
	bool ok;
	int err;

	err = parse_args(argc, argv);
	if (err >= 0)
		return err;
	if (mysql_library_init(0, NULL, NULL)) {
		fprintf(stderr, "dbapi: mysql_library_init failed\n");
		return 1;
	}
	if (cfg.init && db_init(&cfg.db))
		return 1;
	/* Block the stop signals in every thread (carriers inherit the mask) and take them in
	 * sigwaitinfo; a peer gone mid-write is an error return, not a signal. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	err = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (err || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		fprintf(stderr, "dbapi: blocking signals: %s\n", strerror(err ? err : errno));
		return 1;
	}
	stop = gh_future_create();
	hubs = calloc(cfg.hubs, sizeof(*hubs));
	if (!stop || !hubs) {
		fprintf(stderr, "dbapi: out of memory\n");
		return 1;
	}
	for (unsigned i = 0; i < cfg.hubs; i++)
		hubs[i].listen_fd = -1;
	started = start_hubs(hubs, &mode, &ok);
	if (ok) {
		printf("dbapi: listening on %s:%u with %u hubs (mode %s)\n", cfg.addr, cfg.port,
		       cfg.hubs, gh_mode_name(mode));
		fflush(stdout);
		wait_for_stop_signal(&set);
	}
	err = stop_hubs(hubs, started);
	gh_future_destroy(stop);
	free(hubs);
	mysql_library_end();
	return ok && !err ? 0 : 1;
}
