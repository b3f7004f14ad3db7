"""Parse CVPR25_iter_eval.py --verbose stdout into our clicks JSON (labels, iterations, clicks).

kind: the official rule applied to the GT at the printed centre (GT == class -> fg, else bg);
the log prints only the centre. Usage: parse_log.py official.log gts_dir out.json
"""
import json
import re
import sys
from pathlib import Path

import numpy as np

log, gts_dir, out = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
team = None
cases = {}           # team -> case -> record
cur = None           # current case record (name unknown until the docker command line)
it = None
with open(log, errors="replace") as fh:
    lines = [line.rstrip("\n") for line in fh]
for line in lines:
    m = re.match(r"teamname docker:\s+(\S+)", line)
    if m:
        team = m.group(1).split(".")[0].lower()
        cases[team] = {}
        continue
    if line.startswith(("Using Bounding Box for iteration 0",
                        "This sample does not use a Bounding Box for the initial iteration 0")):
        cur = {"name": None, "boxes": line.startswith("Using"), "iterations": []}
        it = 1
        continue
    m = re.match(r"Using Clicks for iteration (\d+)", line)
    if m:
        it = int(m.group(1)) + 1
        cur["iterations"].append({"iteration": it, "clicks": []})
        continue
    m = re.match(r"Class (\d+): Largest error component center is at \((.*)\)", line)
    if m:
        zyx = [int(v) for v in re.findall(r"(\d+)\)?(?:,|$)", m.group(2).replace("np.int64(", ""))]
        cur["iterations"][-1]["clicks"].append({"label": int(m.group(1)), "kind": "?", "zyx": zyx})
        continue
    m = re.match(r"Class (\d+): No error connected components found", line)
    if m:
        cur["iterations"][-1]["clicks"].append({"label": int(m.group(1)), "kind": None, "zyx": None})
        continue
    m = re.search(r"testing image name:\s+(\S+)\.npz", line)
    if m:
        name = m.group(1)
        if cur["name"] is None:
            cur["name"] = name
            cases[team][name] = cur
        assert cur["name"] == name, (cur["name"], name)
result = {"official_commit": "748e862", "source": "CVPR25_iter_eval.py --verbose",
          "kind_rule": "GT at zyx == label -> fg else bg (the official rule; the log prints only the centre)",
          "submissions": {}}
for team, per_case in cases.items():
    result["submissions"][team] = {}
    for name, rec in sorted(per_case.items()):
        gts = np.load(gts_dir / f"{name}.npz")["gts"]
        labels = [int(v) for v in np.unique(gts) if v != 0]
        for itr in rec["iterations"]:
            assert [c["label"] for c in itr["clicks"]] == labels, (team, name, itr)
            for c in itr["clicks"]:
                if c["zyx"] is not None:
                    assert len(c["zyx"]) == 3
                    c["kind"] = "fg" if int(gts[tuple(c["zyx"])]) == c["label"] else "bg"
        result["submissions"][team][name] = {"labels": labels, "boxes": rec["boxes"],
                                             "iterations": rec["iterations"]}
Path(out).write_text(json.dumps(result, indent=1) + "\n")
print({t: {n: len(r["iterations"]) for n, r in v.items()} for t, v in result["submissions"].items()})
