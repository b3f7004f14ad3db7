"""``evalkit compare``: two evaluations of the same cases, side by side."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", type=Path, help="run folder A (the reference)")
    parser.add_argument("run_b", type=Path, help="run folder B (may be the same folder as A)")
    parser.add_argument("--submission", default=None, help="the submission to compare on both sides")
    parser.add_argument("--a", dest="name_a", default=None, help="submission name in run A")
    parser.add_argument("--b", dest="name_b", default=None, help="submission name in run B")
    parser.add_argument("--out", type=Path, default=None,
                        help="where tables and the figure go (default: <run_b>/comparison-<a>-vs-<b>)")


def print_comparison(cmp, label_a: str, label_b: str, out: Path) -> None:
    """The comparison on stdout: one line per metric (its name and unit), the runtime,
    notes on metrics left out of the verdict, and the verdict. When some pairs are not
    applicable (text cases), an ``n/a`` column counts them per metric."""
    labels = [m.label for m in cmp.metrics] or list(cmp.summary["metric"])
    width = max([7, *map(len, labels)])
    show_na = "n_na" in cmp.summary.columns and bool((cmp.summary["n_na"] > 0).any())
    print(f"{len(cmp.cases)} paired cases, B = {label_b}, A = {label_a}")
    print(f"{'metric':<{width}} {'mean A':>8} {'mean B':>8} {'B-A':>9} {'95% CI':>21} {'max|d|':>8} "
          f"{'Wilcoxon p':>11}" + (f" {'n/a':>5}" if show_na else ""))
    for label, r in zip(labels, cmp.summary.itertuples(index=False)):
        print(f"{label:<{width}} {r.mean_a:8.4f} {r.mean_b:8.4f} {r.mean_diff:+9.5f} "
              f"[{r.ci_lo:+.5f}, {r.ci_hi:+.5f}] {r.max_abs_diff:8.5f} {r.p_wilcoxon:11.4g}"
              + (f" {r.n_na:5d}" if show_na else ""))
    for note in cmp.notes:
        print(f"note: {note}")
    rt = cmp.runtime
    print(f"runtime B/A per case: median {rt['median_ratio']:.3f} (IQR {rt['q25']:.3f}-{rt['q75']:.3f}, "
          f"range {rt['min']:.3f}-{rt['max']:.3f}); total {rt['total_a_s']:.1f} s -> {rt['total_b_s']:.1f} s")
    if cmp.reproduced:
        print("VERDICT: reproduced")
    else:
        print("VERDICT: not reproduced: " + "; ".join(cmp.reasons))
    print(f"tables and figure: {out}")


def run(args: argparse.Namespace) -> int:
    from evalkit.workflows.reproduce import compare, side_table, write_comparison
    from evalkit.workflows.runfolder import RunFolder

    name_a = args.name_a or args.submission
    name_b = args.name_b or args.submission
    if not (name_a and name_b):
        print("evalkit compare: name the submission (--submission NAME, or --a NAME_A --b NAME_B).",
              file=sys.stderr)
        return 2
    a, b = RunFolder(args.run_a), RunFolder(args.run_b)
    cmp = compare(side_table(a, name_a), side_table(b, name_b), a.challenge())
    label_a, label_b = f"{a.root.name}/{name_a}", f"{b.root.name}/{name_b}"
    out = args.out or b.root / f"comparison-{name_a}-vs-{name_b}"
    write_comparison(cmp, out, label_a, label_b)
    print_comparison(cmp, label_a, label_b, out)
    return 0 if cmp.reproduced else 1
