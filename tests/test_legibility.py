"""Readable on a projector: every stored figure of every lesson shows its text at least
``plots.LEGIBLE_PX`` (12) pixels tall on a 1024×768 screen.

No lesson is re-run: each picture says, in its PNG's text chunk, its smallest text (pt),
its width (inches) and the pixels it shows per inch (``plots.legibility``, written by
``figure_png``, the explorers and the races); an image wider than ``plots.SHOWN_WIDTH``
(measured in tests/test_browser.py) is scaled down to it. tests/test_browser.py checks the
same on a real slideshow.
"""

import base64
import pathlib
import re

import nbformat
import pytest

import build  # tools/build.py (pytest's pythonpath includes tools/)
from course_lib import plots

ROOT = pathlib.Path(__file__).resolve().parents[1]
LESSONS = build.existing_lessons(build.course())
# the <img> of a race player: its shown size and the finished race as a PNG
RACE_IMG = re.compile(
    r'<img id="_anim_img[^"]*" width="(\d+)"[^>]*src="data:image/png;base64,([^"]+)"'
)


def figures(path):
    """(cell number, PNG bytes, width shown in pixels or None for the PNG's own) per figure."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                width = out.get("metadata", {}).get("image/png", {}).get("width")
                yield i, base64.b64decode(data["image/png"]), width
            for width, png in RACE_IMG.findall("".join(data.get("text/html", ""))):
                yield i, base64.b64decode(png), int(width)


def shown(png, width):
    """The smallest text of a figure in screen pixels, from its chunk; checks that the chunk's
    width × pixels per inch is the width the notebook shows it at."""
    text = plots.png_text(png)
    assert "course:smallest-text-pt" in text, (
        "a figure without its legibility chunk: make it with course_lib.plots.subplots (or a "
        "helper) and end the cell with it"
    )
    natural = int.from_bytes(png[16:20], "big") if width is None else width
    width_in, dpi = float(text["course:width-in"]), float(text["course:shown-dpi"])
    assert abs(natural - width_in * dpi) <= 1, (natural, width_in, dpi)
    return plots.png_text_px(png)


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson["file"] for lesson in LESSONS])
def test_every_stored_figure_shows_its_text_at_least_12_px_tall_at_1024x768(lesson):
    found = [
        (i, shown(png, width)) for i, png, width in figures(ROOT / "solutions" / lesson["file"])
    ]
    assert found, "no stored figure: is the lesson executed?"
    small = [f"cell {i}: {px:.1f} px" for i, px in found if px < plots.LEGIBLE_PX]
    assert not small, f"text under {plots.LEGIBLE_PX} px at 1024×768: {small}"


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson["file"] for lesson in LESSONS])
def test_no_stored_figure_hides_a_curve_under_a_legend(lesson):
    under = [
        f"cell {i}: {plots.png_text(png)['course:lines-under-legends']} lines"
        for i, png, _ in figures(ROOT / "solutions" / lesson["file"])
        if plots.png_text(png).get("course:lines-under-legends", "0") != "0"
    ]
    assert not under, f"data under a legend (plots.legend_below puts it under the axes): {under}"


def test_the_check_tells_a_small_text_and_a_too_wide_figure():
    def px(figsize, fontsize):
        fig, ax = plots.subplots(figsize=figsize)
        ax.plot([0, 1], label="a curve")
        ax.legend(fontsize=fontsize)
        return shown(plots.figure_png(fig), None)

    assert px((6, 3), 10) == pytest.approx(10 / 72 * plots.DPI)  # 13.9 px: shown as it is
    assert px((6, 3), 8) < plots.LEGIBLE_PX  # a small legend
    assert px((14, 3), 10) < plots.LEGIBLE_PX  # 10 pt, but scaled down from 1400 to 844 px
    width = plots.max_width()
    assert px((width, 3), 10) == pytest.approx(plots.LEGIBLE_PX)


def test_the_check_tells_a_legend_over_a_curve_and_legend_below_moves_it():
    def under(place):
        fig, ax = plots.subplots(figsize=(5, 3.5))
        ax.plot(range(50), label="a rising line")
        ax.set_xlabel("step")
        place(ax)
        return int(plots.png_text(plots.figure_png(fig))["course:lines-under-legends"])

    assert under(lambda ax: ax.legend(loc="center")) == 1
    assert under(lambda ax: ax.legend(loc="lower right")) == 0  # the line rises away from it
    assert under(plots.legend_below) == 0
