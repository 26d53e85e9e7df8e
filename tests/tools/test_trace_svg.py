#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# tools/greenhub-trace-svg, run as a command on tests/tools/trace-small.json (two processes,
# three carriers, two handoffs): the SVG parses as XML and has the lanes, labels, colours and
# arrows the recording holds, the window and width options narrow it, and input that is missing,
# not JSON, or off the recorder's schema fails with a message and a non-zero status, writing
# nothing. Exit status as tests/run-suite expects: 0 pass, anything else fail.
import json
import os
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.environ.get("GH_TRACE_SVG",
                      os.path.join(HERE, "..", "..", "tools", "greenhub-trace-svg"))
FIXTURE = os.path.join(HERE, "trace-small.json")
SVG = "{http://www.w3.org/2000/svg}"


def run(*args, stdin=None):
    return subprocess.run([TOOL, *args], input=stdin, capture_output=True, text=True,
                          timeout=60)


def draw(*args, path=FIXTURE):
    """The SVG of path (with args) as an ElementTree root; fails on a non-zero status."""
    p = run(path, *args)
    if p.returncode != 0:
        raise AssertionError("%s exited %d: %s" % (TOOL, p.returncode, p.stderr))
    return ET.fromstring(p.stdout)


def by_class(root, tag, cls):
    return [e for e in root.iter(SVG + tag) if cls in e.get("class", "").split()]


def texts(root, cls):
    return [e.text for e in by_class(root, "text", cls)]


def lanes(root):
    """{(pid, tid): (y top, name)} of every lane."""
    out = {}
    for g in by_class(root, "g", "lane"):
        bg = by_class(g, "rect", "lane-bg")[0]
        out[(int(g.get("data-pid")), int(g.get("data-tid")))] = (
            float(bg.get("y")), float(bg.get("height")), by_class(g, "text", "lane-name")[0].text)
    return out


def fixture_events():
    with open(FIXTURE, encoding="utf-8") as f:
        return json.load(f)


class Drawing(unittest.TestCase):
    def test_lanes_grouped_by_process(self):
        root = draw()
        procs = by_class(root, "g", "process")
        self.assertEqual([g.get("data-pid") for g in procs], ["4100", "4200"])
        self.assertEqual([t.text for t in root.iter(SVG + "text")
                          if t.get("class") == "process-name"],
                         ["svc (4100)", "batch <&> (4200)"])
        self.assertEqual([g.get("data-tid") for g in by_class(procs[0], "g", "lane")],
                         ["4100", "4107"])
        self.assertEqual([g.get("data-tid") for g in by_class(procs[1], "g", "lane")],
                         ["4200"])
        self.assertEqual(sorted(n for _, _, n in lanes(root).values()),
                         ["carrier 4100 hub 0", "carrier 4107 hub 0", "carrier 4200 hub 1"])

    def test_runs_and_blocks_labelled(self):
        root = draw()
        self.assertEqual(len(by_class(root, "g", "run-slice")), 4)
        runs = texts(root, "run-label")
        self.assertIn("gh-sleeper #3", runs)
        self.assertIn("gh-spinner #2", runs)
        # Too narrow for its whole name: cut, never spilling over.
        self.assertTrue(any(t.startswith("gh-") and t.endswith("\u2026") for t in runs), runs)
        self.assertEqual(sorted(texts(root, "block-label")),
                         ["clock_nanosleep", "futex", "read"])
        handed = by_class(root, "g", "handed-off")
        not_handed = by_class(root, "g", "not-handed-off")
        self.assertEqual(sorted(g.get("data-syscall") for g in handed), ["0", "230"])
        self.assertEqual([g.get("data-syscall") for g in not_handed], ["202"])
        fill = lambda g: by_class(g, "rect", "block")[0].get("fill")
        self.assertEqual(fill(handed[0]), fill(handed[1]))
        self.assertNotEqual(fill(handed[0]), fill(not_handed[0]))
        self.assertIn("gate masked", not_handed[0].find(SVG + "title").text)

    def test_blocks_under_runs_in_their_lane(self):
        root = draw()
        lane = lanes(root)
        top, height, _ = lane[(4200, 4200)]
        run = by_class(root, "rect", "run")[-1]
        block = by_class(root, "rect", "block")[-1]
        for r in (run, block):
            self.assertTrue(top <= float(r.get("y")) and
                            float(r.get("y")) + float(r.get("height")) <= top + height)
        self.assertGreater(float(block.get("y")), float(run.get("y")))

    def test_handoff_arrows_from_blocked_to_continuing_carrier(self):
        root = draw()
        lane = lanes(root)
        arrows = by_class(root, "line", "handoff")
        arrows = [a for a in arrows if a.get("data-from-tid")]  # not the legend's
        self.assertEqual(sorted((a.get("data-from-tid"), a.get("data-to-tid")) for a in arrows),
                         [("4100", "4107"), ("4107", "4100")])
        for a in arrows:
            pid = int(a.get("data-pid"))
            src = lane[(pid, int(a.get("data-from-tid")))]
            dst = lane[(pid, int(a.get("data-to-tid")))]
            self.assertTrue(src[0] <= float(a.get("y1")) <= src[0] + src[1])
            self.assertTrue(dst[0] <= float(a.get("y2")) <= dst[0] + dst[1])
            self.assertLess(float(a.get("x1")), float(a.get("x2")))
            self.assertEqual(a.get("marker-end"), "url(#arrow)")

    def test_time_axis(self):
        root = draw()
        ticks = [float(t) for t in texts(root, "tick")]
        self.assertGreaterEqual(len(ticks), 3)
        self.assertEqual(ticks[0], 0.0)
        self.assertEqual(ticks, sorted(ticks))
        self.assertGreaterEqual(ticks[-1] + (ticks[1] - ticks[0]), 35.31)  # the last block's end

    def test_window_and_width(self):
        root = draw("--from", "10", "--to", "25", "--width", "800")
        self.assertEqual(root.get("width"), "800")
        ticks = [float(t) for t in texts(root, "tick")]
        self.assertTrue(ticks and min(ticks) >= 10 and max(ticks) <= 25, ticks)
        # Only what overlaps 10..25 ms: the spinner's run, the long blocks; no handoff.
        self.assertEqual([g.get("data-green-id") for g in by_class(root, "g", "run-slice")],
                         ["2"])
        self.assertEqual(sorted(texts(root, "block-label")),
                         ["clock_nanosleep", "futex", "read"])
        self.assertEqual([a for a in by_class(root, "line", "handoff")
                          if a.get("data-from-tid")], [])
        for r in by_class(root, "rect", "block"):
            self.assertGreaterEqual(float(r.get("x")), 210 - 0.01)
            self.assertLessEqual(float(r.get("x")) + float(r.get("width")), 800 - 12 + 0.01)

    def test_output_file_and_stdin(self):
        with open(FIXTURE, encoding="utf-8") as f:
            text = f.read()
        p = run("-", stdin=text)
        self.assertEqual(p.returncode, 0, p.stderr)
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "t.svg")
            q = run(FIXTURE, "-o", out)
            self.assertEqual(q.returncode, 0, q.stderr)
            self.assertEqual(q.stdout, "")
            with open(out, encoding="utf-8") as f:
                self.assertEqual(f.read(), p.stdout)

    def test_names_that_xml_cannot_hold(self):
        doc = fixture_events()
        doc["traceEvents"][5]["name"] = "odd\u0001<name> & \"q\" #2"
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "odd.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(doc, f)
            root = draw("--width", "4000", path=path)
        self.assertIn("odd\ufffd<name> & \"q\" #2", texts(root, "run-label"))

    def test_empty_recording(self):
        root = ET.fromstring(run("-", stdin='{"traceEvents": []}').stdout)
        self.assertEqual(by_class(root, "g", "lane"), [])

    def test_handoff_pairs_whatever_the_order_of_events(self):
        doc = fixture_events()
        doc["traceEvents"].reverse()
        p = run("-", stdin=json.dumps(doc))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        arrows = [a for a in by_class(ET.fromstring(p.stdout), "line", "handoff")
                  if a.get("data-from-tid")]
        self.assertEqual([(a.get("data-from-tid"), a.get("data-to-tid")) for a in arrows],
                         [("4100", "4107"), ("4107", "4100")])

    def test_unmatched_handoff_is_left_out(self):
        doc = fixture_events()
        del doc["traceEvents"][8]  # the end of handoff 1
        p = run("-", stdin=json.dumps(doc))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("1 handoff arrow(s) without both ends", p.stderr)
        arrows = [a for a in by_class(ET.fromstring(p.stdout), "line", "handoff")
                  if a.get("data-from-tid")]
        self.assertEqual(len(arrows), 1)


class BadInput(unittest.TestCase):
    def fails(self, text, *want, args=()):
        """The tool fails on text (status 1), saying each of want, writing no SVG."""
        with tempfile.TemporaryDirectory() as d:
            path, out = os.path.join(d, "in.json"), os.path.join(d, "out.svg")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            p = run(path, "-o", out, *args)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertFalse(os.path.exists(out))
        self.assertEqual(p.stdout, "")
        self.assertTrue(p.stderr.startswith("greenhub-trace-svg: "), p.stderr)
        self.assertNotIn("Traceback", p.stderr)
        for w in want:
            self.assertIn(w, p.stderr)

    def event_fails(self, index, change, *want):
        doc = fixture_events()
        change(doc["traceEvents"][index])
        self.fails(json.dumps(doc), "event %d" % index, *want)

    def test_missing_file(self):
        p = run("/nonexistent/rec.json")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "")
        self.assertIn("cannot read /nonexistent/rec.json: No such file or directory", p.stderr)

    def test_not_json(self):
        self.fails('{"traceEvents": [', "not JSON")
        self.fails("", "not JSON")
        self.fails("[" * 100000, "not JSON")

    def test_not_a_trace(self):
        self.fails("[]", "traceEvents")
        self.fails('{"traceEvents": {}}', "traceEvents")
        self.fails('{"traceEvents": [], "displayTimeUnit": "s"}', "displayTimeUnit")
        self.fails('{"traceEvents": [3]}', "event 0: not an object")

    def test_events_off_the_schema(self):
        self.event_fails(0, lambda e: e.update(ph="B"), "phase")
        self.event_fails(0, lambda e: e.pop("ph"), '"ph"')
        self.event_fails(0, lambda e: e.update(name="thread_sort_index"), "metadata")
        self.event_fails(1, lambda e: e.pop("tid"), '"tid"')
        self.event_fails(5, lambda e: e.update(cat="wait"), "category")
        self.event_fails(5, lambda e: e["args"].pop("green_id"), '"green_id"')
        self.event_fails(5, lambda e: e.update(ts="0"), '"ts"')
        self.event_fails(5, lambda e: e.update(dur=-1), '"dur"')
        self.event_fails(5, lambda e: e.update(pid=True), '"pid"')
        self.event_fails(5, lambda e: e.pop("args"), '"args"')
        self.event_fails(6, lambda e: e["args"].update(handed_off="yes"), '"handed_off"')
        self.event_fails(6, lambda e: e["args"].update(syscall=None), '"syscall"')
        self.event_fails(7, lambda e: e.update(cat="flow"), "handoff")
        self.event_fails(8, lambda e: e.pop("bp"), '"bp"')
        self.event_fails(8, lambda e: e.pop("id"), '"id"')

    def test_usage_errors(self):
        for args in (["--from", "5", "--to", "5"], ["--width", "wide"], ["--width", "10"],
                     ["--from", "-1"], ["--to", "nan"], []):
            p = run(*([FIXTURE] if args else []), *args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertEqual(p.stdout, "")
            self.assertIn("usage:", p.stderr)

    def test_unwritable_output(self):
        p = run(FIXTURE, "-o", "/nonexistent/out.svg")
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot write /nonexistent/out.svg", p.stderr)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
