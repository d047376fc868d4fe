#!/usr/bin/env python3
"""Compares nettrace's close and open records (JSON lines) with what the test
processes saw (close_driver.py's EXPECT): for each expected record exactly
one record of that type with the same local and remote port, carrying
exactly the expected fields; durations within the bracket the processes
measured.

  close_check.py EXPECT TRACE [ARROW_TRACE]

With ARROW_TRACE (nettrace --close, arrow lines), each expected record must
also be there as one '# close' or '# open' marker line with the same fields.
"""
import re
import json
import sys

want = [json.loads(l) for l in open(sys.argv[1])]
got = []
for line in open(sys.argv[2]):
    r = json.loads(line)
    if r["type"] in ("close", "open"):
        got.append(r)

bad = 0
for w in want:
    key = (w["type"], w["local_port"], w["remote_port"])
    match = [g for g in got if (g["type"], g["local_port"], g["remote_port"]) == key]
    if len(match) != 1:
        print("FAIL: %d %s records for local port %d, remote port %d (want 1)" % (
            len(match), w["type"], w["local_port"], w["remote_port"]))
        bad += 1
        continue
    g = match[0]
    for k, v in w.items():
        if k in ("min_ns", "max_ns"):
            continue
        if k == "errno":
            if g.get("errno") != v:
                print("FAIL: %s: errno %r, want %r" % (key, g.get("errno"), v))
                bad += 1
            continue
        if g.get(k) != v:
            print("FAIL: %s: %s is %r, want %r" % (key, k, g.get(k), v))
            bad += 1
    if "min_ns" in w and not (w["min_ns"] <= g["duration_ns"] <= w["max_ns"]):
        print("FAIL: %s: duration_ns %d not within the measured [%d, %d]" % (
            key, g["duration_ns"], w["min_ns"], w["max_ns"]))
        bad += 1
if len(sys.argv) > 3:
    lines = [l.rstrip("\n") for l in open(sys.argv[3]) if l.startswith(("# close ", "# open "))]
    for w in want:
        arrow = "<-" if w["direction"] == "out" else "->"
        fields = "bytes_sent=%d bytes_received=%d " % (w["bytes_sent"], w["bytes_received"])
        who = " closed_by=%s" % w["closed_by"] if "closed_by" in w else ""
        last = "last_pid=%d last_comm=%s" % (w["last_pid"], w["last_comm"])
        tail = "%s%s%s|PID=%d CMD=%s" % ("%d" % w["remote_port"], arrow, "", w["pid"], w["comm"])
        pat = re.compile(r"^# %s duration_ns=\d+ %sretransmits=\d+ srtt_us=\d+%s %s%s "
                         r"\S+:%d%s\S+:%d\|PID=%d CMD=%s$" % (
                             w["type"], re.escape(fields), re.escape(who if who else " closed_by=unknown"),
                             re.escape(last), "( errno=%d)" % w["errno"] if "errno" in w else "",
                             w["remote_port"], re.escape(arrow), w["local_port"], w["pid"],
                             re.escape(w["comm"])))
        n = sum(1 for l in lines if pat.match(l))
        if n != 1:
            print("FAIL: %d arrow lines match %s" % (n, pat.pattern))
            bad += 1
print("checked %d expected records against %d close/open records" % (len(want), len(got)))
sys.exit(1 if bad else 0)
