# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The eventlet comparison servers for bench/db: eventlet.wsgi serving the same routes and
bodies as examples/dbapi (/json, /db, /queries?n=N, /slow?ms=N), in one of two ways:

    python3 eventlet_db.py --driver pymysql|mysqldb --db mysql://USER@HOST:PORT/DB
                           [--listen 127.0.0.1:0] [--procs N] [--pool N] [--no-sleep]

  pymysql  eventlet.monkey_patch() first, then PyMySQL (pure Python) over green sockets:
           a query suspends only its greenlet, as eventlet is meant to be used.
  mysqldb  MySQLdb (mysqlclient: the C client library, libmariadb here) whose calls would
           block the process, so each request's queries run in one eventlet.tpool.execute
           call (one thread round trip per request, not per query: eventlet at its best).
           The tpool has as many threads as the process has database connections (--pool):
           each call holds one connection, so with fewer threads connections would sit idle
           and with more, threads would wait for a connection.

Equal footing with dbapi (--hubs N, one SO_REUSEPORT listener per hub) and the Go server
(GOMAXPROCS=N): --procs N processes (Python runs one at a time per process), each with its
own SO_REUSEPORT listener on the same port, so that the kernel spreads the connections over
them the way it spreads them over dbapi's hubs; a listening socket shared by pre-forked
processes would wake every process on each new connection and let whichever runs first take
it. Each process has its own pool of --pool connections: --procs * --pool in all, the same
total as dbapi's --hubs * --pool and Go's -pool.

Fairness: with the pymysql driver, each query is followed by eventlet.sleep(0) (unless
--no-sleep), the usual practice that lets other greenlets run between the queries of a long
request. Measured with bench/db's settings (2 processes, 16 connections each, wrk -c64, two
runs each), it lowered /db's p99 in both runs (154 and 52 ms against 212 and 96 ms, with
more requests/s) and /queries?n=20's in one of two, so it stays on. (With mysqldb the whole
request runs in a thread: there is no greenlet to yield to between its queries.) A request waits
at most 5 s for a pool connection (then 503 "database pool busy"); database errors answer
503 "database unavailable" and the connection is dropped.

The parent process binds the port (SO_REUSEPORT, not listening) to learn it, forks the
workers, prints "listening on 127.0.0.1:PORT" once every worker listens, and on SIGTERM or
SIGINT stops them and exits 0.
"""
import argparse
import ctypes
import json
import os
import signal
import socket
import sys
import traceback
import urllib.parse

import eventlet
import eventlet.queue
import eventlet.semaphore
import eventlet.wsgi

CONNECT_TIMEOUT_S = 2
READ_TIMEOUT_S = 15  # above /slow's 10 s cap, as dbapi and the Go server
WRITE_TIMEOUT_S = 5
POOL_WAIT_S = 5
WORLD_ROWS = 10000


def clamp(query, name, default, lo, hi):
    """The query parameter name as dbapi parses it: default unless a number, else clamped."""
    try:
        v = int(urllib.parse.parse_qs(query).get(name, [""])[0])
    except ValueError:
        return default
    return max(lo, min(hi, v))


class Pool:
    """At most size connections, made on first use; a failed one is dropped, not reused."""

    def __init__(self, size, connect):
        self.connect = connect
        self.idle = eventlet.queue.LightQueue()
        self.slots = eventlet.semaphore.Semaphore(size)

    def acquire(self):
        if not self.slots.acquire(timeout=POOL_WAIT_S):
            return None
        try:
            return self.idle.get_nowait()
        except eventlet.queue.Empty:
            pass
        try:
            return self.connect()
        except Exception:
            self.slots.release()
            raise

    def release(self, conn, failed):
        if failed:
            try:
                conn.close()
            except Exception:
                pass
        else:
            self.idle.put(conn)
        self.slots.release()


def make_app(pool, run, errors):
    """The WSGI application: run(conn, work) runs work(cursor) on a pool connection."""
    ok = "200 OK"

    def reply(start_response, status, body):
        data = json.dumps(body, separators=(",", ":")).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(data))), ("Server", "eventlet-db")])
        return [data]

    def with_db(start_response, work):
        try:
            conn = pool.acquire()
        except errors:
            return reply(start_response, "503 Service Unavailable",
                         {"error": "database unavailable"})
        if conn is None:
            return reply(start_response, "503 Service Unavailable",
                         {"error": "database pool busy"})
        failed = True
        try:
            body = run(conn, work)
            failed = False
        except errors:
            return reply(start_response, "503 Service Unavailable",
                         {"error": "database unavailable"})
        finally:
            pool.release(conn, failed)
        return reply(start_response, ok, body)

    def app(environ, start_response):
        path, query = environ["PATH_INFO"], environ.get("QUERY_STRING", "")
        if path not in ("/json", "/db", "/queries", "/slow"):
            return reply(start_response, "404 Not Found", {"error": "not found"})
        if environ["REQUEST_METHOD"] != "GET":
            start_response("405 Method Not Allowed", [("Allow", "GET"),
                                                      ("Content-Type", "application/json")])
            return [b'{"error":"method not allowed"}']
        if path == "/json":
            return reply(start_response, ok, {"message": "Hello, World!"})
        if path == "/slow":
            ms = clamp(query, "ms", 0, 0, 10000)
            return with_db(start_response, lambda q: q.slow(ms))
        n = clamp(query, "n", 1, 1, 500) if path == "/queries" else None
        return with_db(start_response, lambda q: q.rows(n))

    return app


class Queries:
    """The queries of one request, on one connection's cursor."""

    def __init__(self, cursor, rand, pause):
        self.cursor, self.rand, self.pause = cursor, rand, pause

    def row(self):
        wid = self.rand.randint(1, WORLD_ROWS)
        self.cursor.execute("SELECT id, randomNumber FROM world WHERE id = %d" % wid)
        got = self.cursor.fetchone()
        self.pause()
        return {"id": got[0], "randomNumber": got[1]}

    def rows(self, n):
        """One row object for /db (n is None), an array of n for /queries."""
        return self.row() if n is None else [self.row() for _ in range(n)]

    def slow(self, ms):
        self.cursor.execute("SELECT SLEEP(%d.%03d)" % (ms // 1000, ms % 1000))
        self.cursor.fetchone()
        return {"slept_ms": ms}


def worker(args, db, port, ready_fd, parent):
    """One process: its own listener on port, pool and driver; never returns."""
    import random
    rand = random.Random()
    # Die with the parent, whatever kills it (PR_SET_PDEATHSIG).
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    if os.getppid() != parent:
        os._exit(1)
    if args.driver == "pymysql":
        eventlet.monkey_patch()
        import pymysql
        errors = pymysql.err.MySQLError
        pause = (lambda: eventlet.sleep(0)) if args.sleep else (lambda: None)

        def connect():
            return pymysql.connect(host=db.hostname, port=db.port or 3306, user=db.username,
                                   password=db.password or "", database=db.path[1:],
                                   autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                                   read_timeout=READ_TIMEOUT_S, write_timeout=WRITE_TIMEOUT_S)

        def run(conn, work):
            with conn.cursor() as c:
                return work(Queries(c, rand, pause))
    else:
        import MySQLdb
        from eventlet import tpool
        errors = MySQLdb.MySQLError
        tpool.set_num_threads(args.pool)

        def connect_here():
            return MySQLdb.connect(host=db.hostname, port=db.port or 3306, user=db.username,
                                   password=db.password or "", database=db.path[1:],
                                   autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                                   read_timeout=READ_TIMEOUT_S, write_timeout=WRITE_TIMEOUT_S)

        def connect():
            return tpool.execute(connect_here)

        def in_thread(conn, work):
            with conn.cursor() as c:
                return work(Queries(c, rand, lambda: None))

        def run(conn, work):
            return tpool.execute(in_thread, conn, work)

    sock = eventlet.listen((args.host, port), reuse_port=True, backlog=1024)
    os.write(ready_fd, b"r")
    os.close(ready_fd)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    eventlet.wsgi.server(sock, make_app(Pool(args.pool, connect), run, errors),
                         log_output=False, debug=False, max_size=10000)
    os._exit(1)


def main():
    ap = argparse.ArgumentParser(prog="eventlet_db.py", description=__doc__.split("\n")[0])
    ap.add_argument("--driver", choices=("pymysql", "mysqldb"), required=True)
    ap.add_argument("--db", required=True, help="mysql://USER[:PASS]@HOST[:PORT]/DB")
    ap.add_argument("--listen", default="127.0.0.1:0", help="IPv4 ADDR:PORT (port 0: any)")
    ap.add_argument("--procs", type=int, default=1, help="processes, one listener each")
    ap.add_argument("--pool", type=int, default=16, help="database connections per process")
    ap.add_argument("--no-sleep", dest="sleep", action="store_false",
                    help="pymysql: no eventlet.sleep(0) after each query")
    args = ap.parse_args()
    db = urllib.parse.urlsplit(args.db)
    if db.scheme != "mysql" or not db.hostname or not db.username or len(db.path) < 2:
        ap.error("--db must be mysql://USER[:PASS]@HOST[:PORT]/DB")
    if args.procs < 1 or args.pool < 1:
        ap.error("--procs and --pool must be at least 1")
    args.host, _, port = args.listen.rpartition(":")

    # Hold the port (SO_REUSEPORT, bound, not listening: it takes no connections) so that
    # every worker can bind it too.
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((args.host, int(port)))
    port = holder.getsockname()[1]
    ready_r, ready_w = os.pipe()
    children = []
    parent = os.getpid()

    def stop(*_):
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in children:
            os.waitpid(pid, 0)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(args.procs):
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                worker(args, db, port, ready_w, parent)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(1)
        children.append(pid)
    os.close(ready_w)
    got = b""
    while len(got) < args.procs:
        chunk = os.read(ready_r, args.procs)
        if not chunk:
            sys.exit("eventlet_db.py: a worker failed to start")
        got += chunk
    print("listening on %s:%d" % (args.host, port), flush=True)
    pid, status = os.wait()
    children.remove(pid)
    print("eventlet_db.py: worker %d exited (status %d)" % (pid, status), file=sys.stderr)
    stop()


if __name__ == "__main__":
    main()
