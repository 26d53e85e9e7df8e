# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The comparison for bench/offload: eventlet's tpool.execute round trip, in ns per call.

    python3 tpool_bench.py CALLS CONCURRENCY

CONCURRENCY greenlets (CALLS in all) each call tpool.execute with a function that does
nothing; the pool size comes from EVENTLET_THREADPOOL_SIZE. A tenth of CALLS run first,
unmeasured. Prints "ns_per_call=N".
"""
import sys
import time

import eventlet
from eventlet import tpool


def noop(x):
    return x


def caller(n):
    for i in range(n):
        if tpool.execute(noop, i) != i:
            raise SystemExit("tpool_bench: wrong result")


def run(calls, concurrency):
    pool = eventlet.GreenPool(concurrency)
    each = calls // concurrency
    t0 = time.perf_counter_ns()
    for _ in range(concurrency):
        pool.spawn(caller, each)
    pool.waitall()
    return (time.perf_counter_ns() - t0) / (each * concurrency)


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: tpool_bench.py CALLS CONCURRENCY")
    calls, concurrency = int(sys.argv[1]), int(sys.argv[2])
    run(max(calls // 10, concurrency), concurrency)
    print("ns_per_call=%.0f" % run(calls, concurrency))
    tpool.killall()


if __name__ == "__main__":
    main()
