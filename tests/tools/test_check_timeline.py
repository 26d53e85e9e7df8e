#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# tests/bpf/check_timeline.py, the checker of the timelines `scx_greenhub --record` writes, run as
# a command on small timelines written here: one carrier handed off in a read while another runs
# the hub. A clean timeline passes; a sleep of the runtime's own (green id 0) within a run passes
# unless it was handed off (I3); a run on a second carrier while the first still executes green
# code of the same hub is an I1 violation. Exit status as tests/run-suite expects: 0 pass.
import copy
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER = os.path.join(HERE, "..", "bpf", "check_timeline.py")
PID = 100


def run(name, tid, ts, dur, green):
    return {"ph": "X", "cat": "run", "name": "%s #%d" % (name, green), "pid": PID, "tid": tid,
            "ts": ts, "dur": dur, "args": {"green_id": green, "hub": 0}}


def block(call, tid, ts, dur, green, name, handed_off):
    return {"ph": "X", "cat": "block", "name": call, "pid": PID, "tid": tid, "ts": ts,
            "dur": dur, "args": {"green_id": green, "green_name": name, "syscall": 0,
                                 "handed_off": handed_off,
                                 "reason": "handed off" if handed_off else "loop sleep"}}


# Carrier 100 runs reader #2, which blocks in a read from 10 to 40 us and is handed off;
# carrier 107 takes the hub at 15 us and runs other #3 until 25 us.
BASE = {"displayTimeUnit": "ns", "traceEvents": [
    {"ph": "M", "name": "process_name", "pid": PID, "args": {"name": "svc (100)"}},
    {"ph": "M", "name": "thread_name", "pid": PID, "tid": 100,
     "args": {"name": "carrier 100 hub 0"}},
    {"ph": "M", "name": "thread_name", "pid": PID, "tid": 107,
     "args": {"name": "carrier 107 hub 0"}},
    run("reader", 100, 0, 50, 2),
    block("read", 100, 10, 30, 2, "reader", True),
    {"ph": "s", "cat": "handoff", "name": "handoff", "id": 1, "pid": PID, "tid": 100, "ts": 12},
    {"ph": "f", "bp": "e", "cat": "handoff", "name": "handoff", "id": 1, "pid": PID,
     "tid": 107, "ts": 15},
    run("other", 107, 15, 10, 3),
]}


def check(doc):
    """check_timeline.py on doc: (status, stdout + stderr)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(doc, f)
        path = f.name
    try:
        p = subprocess.run([sys.executable, CHECKER, path, "--pid", str(PID)],
                           capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout + p.stderr
    finally:
        os.unlink(path)


def with_events(*events):
    doc = copy.deepcopy(BASE)
    doc["traceEvents"].extend(events)
    return doc


class CheckTimeline(unittest.TestCase):
    def test_clean_timeline_passes(self):
        status, out = check(BASE)
        self.assertEqual(status, 0, out)
        self.assertIn("1 handoff flow(s), 0 I1 violation(s)", out)

    def test_runtime_sleep_within_a_run_passes(self):
        status, out = check(with_events(block("epoll_ctl", 107, 18, 2, 0, "", False)))
        self.assertEqual(status, 0, out)

    def test_runtime_sleep_handed_off_fails(self):
        status, out = check(with_events(block("epoll_ctl", 107, 18, 2, 0, "", True)))
        self.assertEqual(status, 1, out)
        self.assertIn("a block of the runtime's own at 18 was handed off", out)

    def test_second_carrier_beside_the_first_is_an_i1_violation(self):
        status, out = check(with_events(run("late", 107, 42, 5, 4)))
        self.assertEqual(status, 1, out)
        self.assertIn("1 I1 violation(s)", out)
        self.assertIn("carriers 100 and 107 both run green code", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
