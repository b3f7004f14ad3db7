"""Figures are drawn on explicit ``matplotlib.figure.Figure`` objects: importing the
report, the compare workflow or the demo preview leaves the process's backend alone,
and PNG + SVG are written whatever backend is active."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.metrics import registry
from evalkit.report.figures import plot_comparison

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
import matplotlib
matplotlib.use(sys.argv[1])
from pathlib import Path
import numpy as np, pandas as pd
import evalkit.demodata.preview, evalkit.report.build, evalkit.report.figures
from evalkit.config import load_challenge
from evalkit.workflows.reproduce import compare, write_comparison
assert matplotlib.get_backend().lower() == sys.argv[1].lower(), matplotlib.get_backend()
n = 12
a = pd.DataFrame({"case": [f"c{i}" for i in range(n)], "modality": ["CT", "US"] * (n // 2),
                  "dsc": np.linspace(0.5, 0.9, n), "nsd": np.linspace(0.6, 1.0, n),
                  "runtime_s": np.linspace(1, 2, n), "status": "ok"})
out = Path(sys.argv[2])
write_comparison(compare(a, a.copy(), load_challenge()), out, "A", "B")
assert matplotlib.get_backend().lower() == sys.argv[1].lower(), matplotlib.get_backend()
print("ok")
"""


def test_no_module_switches_the_backend_and_figures_save_under_another(tmp_path):
    for backend in ("pdf", "svg"):
        out = tmp_path / backend
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, backend, str(out)],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
            cwd=REPO,
        )
        assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
        assert (out / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (out / "comparison.svg").read_bytes()[:2000]


def test_no_source_file_calls_matplotlib_use():
    offenders = [
        str(p.relative_to(REPO))
        for p in (REPO / "evalkit").rglob("*.py")
        if "matplotlib.use(" in p.read_text() or "import matplotlib.pyplot" in p.read_text()
    ]
    assert offenders == []


def test_comparison_figure_has_a_panel_per_metric_with_registry_labels_and_bounds():
    metrics = [registry.get("DSC"), registry.get("NSD")]
    by_mod = pd.DataFrame(
        {"modality": ["CT", "US"], "dsc_a": [0.8, 0.9], "dsc_b": [0.81, 0.88],
         "nsd_a": [0.7, 0.95], "nsd_b": [0.72, 0.9]}
    )
    ratios = pd.Series([1.0, 1.1, np.inf, np.nan, 0.9])
    fig = plot_comparison(by_mod, ratios, metrics, "A", "B", "reproduced: B vs A")
    axes = fig.axes
    assert len(axes) == 3
    assert [ax.get_ylabel() for ax in axes] == ["mean DSC", "mean NSD", "runtime ratio per case"]
    assert axes[0].get_ylim() == (0.0, 1.05)
    # the runtime panel shows the three finite ratios as dots
    assert len(axes[2].collections[0].get_offsets()) == 3
