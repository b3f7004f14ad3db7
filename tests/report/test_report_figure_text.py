"""Issue 17 defects, caught on every figure a report writes, at 4 and at 23 algorithms:

* no text element of any figure's SVG holds ``$`` or ``\\mathdefault`` (a tick
  formatter's mathtext printed raw: the log-scale runtime figures showed
  ``$\\mathdefault{10^{2}}$``);
* no two tick labels of one axis overlap, measured on matplotlib's rendered bounding
  boxes (the rank heatmap's algorithm names ran into each other at 4 algorithms).
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from .conftest import build_keeping_figures

SVG_TEXT = "{http://www.w3.org/2000/svg}text"


@pytest.fixture(scope="module")
def drawn(run4, report23, tmp_path_factory):
    """(n_algorithms, figure name, Figure, svg path) of every figure of both reports."""
    report4 = build_keeping_figures(run4, tmp_path_factory.mktemp("text4"))
    out = [(4, *d) for d in report4.drawn] + [(23, *d) for d in report23.drawn]
    assert len(report4.drawn) > 15 and len(report23.drawn) > 15
    return out


def test_no_raw_mathtext_in_any_svg(drawn):
    bad = []
    for n, name, _fig, svg in drawn:
        for el in ET.parse(svg).getroot().iter(SVG_TEXT):
            text = "".join(el.itertext())
            if "$" in text or "\\mathdefault" in text:
                bad.append((n, name, text))
    assert not bad, bad[:10]


def _rectangles(labels, renderer) -> list[tuple[str, np.ndarray, np.ndarray, float, float]]:
    """Each label as a rotated rectangle: text, centre, unit direction, width, height
    (pixels). The centre is that of the rendered bounding box; width and height are the
    renderer's extent of the unrotated string, so rotated neighbours whose axis-aligned
    boxes merely touch corners are not counted as overlapping."""
    out = []
    for t in labels:
        box = t.get_window_extent(renderer)
        w, h, _d = renderer.get_text_width_height_descent(
            t.get_text(), t.get_fontproperties(), ismath=False
        )
        theta = np.deg2rad(t.get_rotation())
        out.append(
            (
                t.get_text(),
                np.array([(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2]),
                np.array([np.cos(theta), np.sin(theta)]),
                w,
                h,
            )
        )
    return out


def _overlaps(fig) -> list[tuple[str, str, str]]:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    found = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = [
                t
                for t in axis.get_majorticklabels() + axis.get_minorticklabels()
                if t.get_visible() and t.get_text().strip()
            ]
            rects = _rectangles(labels, renderer)
            for (ta, ca, ua, wa, ha), (tb, cb, ub, wb, hb) in itertools.combinations(rects, 2):
                d = cb - ca
                n = np.array([-ua[1], ua[0]])
                # separated along the text direction or across it (half a pixel of slack)
                if abs(d @ ua) < (wa + wb) / 2 - 0.5 and abs(d @ n) < (ha + hb) / 2 - 0.5:
                    found.append((axis.axis_name, ta, tb))
    return found


def test_no_tick_labels_overlap(drawn):
    bad = {}
    for n, name, fig, _svg in drawn:
        found = _overlaps(fig)
        if found:
            bad[(n, name)] = found[:3]
    assert not bad, bad
