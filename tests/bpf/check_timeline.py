#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Check a timeline that `scx_greenhub --record` wrote (docs/observability.md).

    check_timeline.py FILE --pid PID [--expect NAME=CALL]... [--handoff-from NAME]

Checks the structure, whatever the program did:
  - the file is JSON with displayTimeUnit "ns" and a traceEvents list of known elements;
  - every track with slices has its thread_name, every process its process_name;
  - the slices of each track nest: none begins inside another and ends after it;
  - every block lies within a run of the green thread that blocked, with the call's name and
    green_name; a block of green_id 0 (the hub loop's, or the runtime's own work on a green
    thread's carrier) is never handed off;
  - every handoff flow has one start and one end, in one process, on two carriers; the start
    lies within a handed-off block, the end at the start of a run of that block's hub;
  - no two carriers of one hub execute green code at once (I1): a carrier executes it during
    its runs, less the handed-off blocks within them.
And what the program (PID) did: for each --expect NAME=CALL, runs of green thread NAME and a
block of it whose call's name holds CALL; with --handoff-from NAME, a handoff flow from a block
of NAME (NAME= : runs only, for a thread that never blocks). Prints a summary; exits 1 with the first failures on stderr.
"""
import argparse
import collections
import json
import sys


def ns(us):
    """A microsecond value with three decimals, as integer ns."""
    return round(us * 1000)


class Failures:
    def __init__(self):
        self.msgs = []

    def __call__(self, msg):
        self.msgs.append(msg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--handoff-from")
    a = ap.parse_args()
    fail = Failures()

    with open(a.file) as f:
        doc = json.load(f)
    if doc.get("displayTimeUnit") != "ns" or not isinstance(doc.get("traceEvents"), list):
        print("not a trace-event file with displayTimeUnit ns", file=sys.stderr)
        return 1

    procs, threads = set(), {}
    slices = collections.defaultdict(list)  # (pid, tid) -> [event]
    flows = collections.defaultdict(dict)   # id -> {"s": e, "f": e}
    for e in doc["traceEvents"]:
        ph = e.get("ph")
        if ph == "M" and e.get("name") == "process_name":
            procs.add(e["pid"])
        elif ph == "M" and e.get("name") == "thread_name":
            threads[(e["pid"], e["tid"])] = e["args"]["name"]
        elif ph == "X" and e.get("cat") in ("run", "block"):
            e["_ts"], e["_end"] = ns(e["ts"]), ns(e["ts"]) + ns(e["dur"])
            if e["_end"] < e["_ts"]:
                fail("negative duration: %r" % e)
            slices[(e["pid"], e["tid"])].append(e)
        elif ph in ("s", "f") and e.get("cat") == "handoff":
            if ph in flows[e["id"]]:
                fail("flow %s has two %s ends" % (e["id"], ph))
            if ph == "f" and e.get("bp") != "e":
                fail("flow %s: its end does not bind to the enclosing slice" % e["id"])
            e["_ts"] = ns(e["ts"])
            flows[e["id"]][ph] = e
        else:
            fail("unknown element: %r" % e)

    # Tracks and nesting.
    for (pid, tid), evs in slices.items():
        if (pid, tid) not in threads:
            fail("track %d/%d has no thread_name" % (pid, tid))
        if pid not in procs:
            fail("process %d has no process_name" % pid)
        # At one instant: the longer first, and a run before a block of the same extent.
        evs.sort(key=lambda e: (e["_ts"], -(e["_end"] - e["_ts"]), e["cat"] != "run"))
        stack = []
        for e in evs:
            while stack and stack[-1]["_end"] <= e["_ts"] and stack[-1]["_end"] > \
                    stack[-1]["_ts"]:
                stack.pop()
            while stack and stack[-1]["_end"] < e["_ts"]:
                stack.pop()
            if stack and e["_end"] > stack[-1]["_end"]:
                fail("track %d/%d: %s at %s overlaps %s at %s without nesting" % (
                    pid, tid, e["name"], e["ts"], stack[-1]["name"], stack[-1]["ts"]))
            parent = stack[-1] if stack else None
            if e["cat"] == "block":
                gid = e["args"]["green_id"]
                if gid and (not parent or parent["cat"] != "run" or
                            parent["args"]["green_id"] != gid):
                    fail("track %d/%d: block %s of green %s at %s lies within no run of it" % (
                        pid, tid, e["name"], gid, e["ts"]))
                # green_id 0: a sleep of the hub loop's, or of the runtime's own work on a
                # green thread (its system calls, a switch point's round), which may lie within
                # a run; neither is ever handed off (I3).
                if not gid and e["args"]["handed_off"]:
                    fail("track %d/%d: a block of the runtime's own at %s was handed off" % (
                        pid, tid, e["ts"]))
                e["_run"] = parent
            elif parent:
                fail("track %d/%d: run %s at %s lies within %s" % (
                    pid, tid, e["name"], e["ts"], parent["name"]))
            stack.append(e)

    # Flows. Indexed once: a recording holds hundreds of thousands of runs, and a scan of a
    # track per flow or per run made the check quadratic.
    handed = collections.defaultdict(list)  # track -> its handed-off blocks, in track order
    run_at = collections.defaultdict(list)  # (track, start) -> the runs that start then
    for track, evs in slices.items():
        for e in evs:
            if e["cat"] == "block" and e["args"]["handed_off"]:
                handed[track].append(e)
            elif e["cat"] == "run":
                run_at[(track, e["_ts"])].append(e)

    handoffs_from = collections.Counter()
    for fid, ends in flows.items():
        s, f = ends.get("s"), ends.get("f")
        if not s or not f:
            fail("flow %s lacks an end" % fid)
            continue
        if s["pid"] != f["pid"] or s["tid"] == f["tid"]:
            fail("flow %s: from %d/%d to %d/%d" % (fid, s["pid"], s["tid"], f["pid"], f["tid"]))
        blocks = [e for e in handed.get((s["pid"], s["tid"]), [])
                  if e["_ts"] <= s["_ts"] <= e["_end"]]
        runs = run_at.get(((f["pid"], f["tid"]), f["_ts"]), [])
        if not blocks:
            fail("flow %s starts within no handed-off block" % fid)
        if not runs:
            fail("flow %s ends at the start of no run" % fid)
        if blocks and runs and blocks[0]["_run"] and \
                blocks[0]["_run"]["args"]["hub"] != runs[0]["args"]["hub"]:
            fail("flow %s goes from hub %s to hub %s" % (
                fid, blocks[0]["_run"]["args"]["hub"], runs[0]["args"]["hub"]))
        if blocks:
            handoffs_from[blocks[0]["args"]["green_name"]] += 1

    # I1: per process and hub, the time each carrier executes green code.
    execs = collections.defaultdict(list)  # (pid, hub) -> [(start, end, tid)]
    cuts_of = collections.defaultdict(list)  # id(run) -> its handed-off blocks' extents
    for blocks in handed.values():
        for b in blocks:
            if b.get("_run") is not None:
                cuts_of[id(b["_run"])].append((b["_ts"], b["_end"]))
    for (pid, tid), evs in slices.items():
        for r in (e for e in evs if e["cat"] == "run"):
            cuts = sorted(cuts_of.get(id(r), []))
            at = r["_ts"]
            for cs, ce in cuts:
                if cs > at:
                    execs[(pid, r["args"]["hub"])].append((at, cs, tid))
                at = max(at, ce)
            if r["_end"] > at:
                execs[(pid, r["args"]["hub"])].append((at, r["_end"], tid))
    violations = 0
    for (pid, hub), ivs in execs.items():
        ivs.sort()
        last_end, last_tid = -1, None
        for s, e, tid in ivs:
            if s < last_end and tid != last_tid:
                violations += 1
                if violations <= 5:
                    fail("I1: process %d hub %d: carriers %s and %d both run green code at "
                         "%.3f us" % (pid, hub, last_tid, tid, s / 1000))
            if e > last_end:
                last_end, last_tid = e, tid

    # What the program did.
    mine = [e for (pid, _), evs in slices.items() if pid == a.pid for e in evs]
    for exp in a.expect:
        name, call = exp.split("=", 1)
        runs = [e for e in mine if e["cat"] == "run" and e["name"].startswith(name + " #")]
        blocks = [e for e in mine if e["cat"] == "block" and e["args"]["green_name"] == name]
        if not runs:
            fail("no run of %s" % name)
        if call and not any(call in b["name"] for b in blocks):
            fail("no block of %s in %s (blocks: %s)" % (
                name, call, sorted({b["name"] for b in blocks})))
        for b in blocks:
            if not b["_run"] or not b["_run"]["name"].startswith(name + " #"):
                fail("a block of %s lies within a run of another" % name)
                break
    if a.handoff_from and not handoffs_from[a.handoff_from]:
        fail("no handoff flow from a block of %s (from: %s)" % (
            a.handoff_from, dict(handoffs_from)))

    nruns = sum(1 for e in mine if e["cat"] == "run")
    nblocks = sum(1 for e in mine if e["cat"] == "block")
    print("timeline: %d track(s), %d run(s) and %d block(s) of pid %d, %d handoff flow(s), "
          "%d I1 violation(s)" % (len(slices), nruns, nblocks, a.pid, len(flows), violations))
    for m in fail.msgs[:20]:
        print("check_timeline: " + m, file=sys.stderr)
    return 1 if fail.msgs else 0


if __name__ == "__main__":
    sys.exit(main())
