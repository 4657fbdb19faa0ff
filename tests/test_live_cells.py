"""tests/live_cells.py: which cells a lesson's live cells need (what the browser runs)."""

import builtins
import pathlib
import re

import live_cells
import nbformat
import pytest

SOLUTIONS = pathlib.Path(__file__).resolve().parents[1] / "solutions"
LESSONS = sorted(SOLUTIONS.glob("*.ipynb"))
WITH_LIVE_CELLS = [p for p in LESSONS if any(map(live_cells.is_live, nbformat.read(p, 4).cells))]
LIVE_HELPERS = re.compile(r"\b(explore\w*|compare|race|interact)\(")


def lesson(*sources, live=()):
    """A notebook of code cells; those at the indices ``live`` are tagged live."""
    cells = [nbformat.v4.new_code_cell(s) for s in sources]
    for i in live:
        cells[i].metadata["tags"] = ["live"]
    return cells


def test_a_callback_sees_the_cell_that_rebinds_its_global_later():
    # lesson 08's bug: the explorer's draw() read `fig`, which a later cell rebound
    cells = lesson(
        "fig = make()",
        "def draw(k):\n    return fig, k",
        "explore_plot(draw)",
        "other = 1",
        "fig = another()",
        live=[2],
    )
    assert live_cells.needed(cells) == [0, 1, 2, 4]


@pytest.mark.parametrize("path", WITH_LIVE_CELLS, ids=lambda p: p.name)
def test_no_cell_below_an_explorer_rebinds_what_its_callbacks_read(path):
    """After Run all, an explorer must still draw what its own cell showed."""
    assert live_cells.rebound_later(nbformat.read(path, 4).cells) == []


def test_a_rebinding_below_an_explorer_is_found():
    cells = lesson(
        "fig = a()", "def draw(k):\n    return fig", "explore_plot(draw)", "fig = b()", live=[2]
    )
    assert live_cells.rebound_later(cells) == [(2, 3, ["fig"])]


def test_a_name_the_cell_assigns_itself_needs_no_other_cell():
    cells = lesson("x = 1", "fig = a()", "fig = b()\nrace(fig, x)", "fig = c()", live=[2])
    assert live_cells.needed(cells) == [0, 2]


def test_changes_after_the_last_assignment_are_kept_and_older_ones_are_not():
    cells = lesson(
        "runs = []",
        "runs.append(1)",
        "runs = [0]",
        "runs.append(2)\nd = {}",
        "d['k'] = 3",
        "unrelated = runs",
        "compare(runs, d)",
        live=[6],
    )
    assert live_cells.needed(cells) == [2, 3, 4, 6]


def test_the_set_up_cell_and_what_the_needed_cells_import_are_kept():
    cells = lesson(
        'import sys\nif "google.colab" in sys.modules:\n    %pip install x',
        "import numpy as np\nfrom course_lib import explore",
        "y = np.ones(3)",
        "explore(y)",
        live=[3],
    )
    assert live_cells.needed(cells) == [0, 1, 2, 3]


def test_a_lesson_without_live_cells_has_nothing_to_show_in_the_browser():
    nb = nbformat.v4.new_notebook(cells=lesson("x = 1", "print(x)"))
    assert live_cells.live_lesson(nb) is None


def test_the_slideshow_keeps_the_headings_that_open_slides_and_drops_other_text():
    cells = lesson("x = 1", "explore(x)", "y = 2", live=[1])
    heading, prose = nbformat.v4.new_markdown_cell("## 1. A"), nbformat.v4.new_markdown_cell("t")
    heading.metadata["slideshow"] = {"slide_type": "slide"}
    nb = nbformat.v4.new_notebook(cells=[heading, *cells[:2], prose, cells[2]])
    assert [c.source for c in live_cells.live_lesson(nb, slides=True).cells] == [
        "## 1. A",
        "x = 1",
        "explore(x)",
    ]
    assert [c.source for c in live_cells.live_lesson(nb).cells] == ["x = 1", "explore(x)"]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_live_cells_are_tagged_live(path):
    """The tag is what the browser, the graded release and INSTRUCTORS.md read."""
    for i, cell in enumerate(nbformat.read(path, 4).cells):
        if cell.cell_type == "code":
            calls = bool(LIVE_HELPERS.search(cell.source))
            assert calls == live_cells.is_live(cell), f"{path.name} cell {i}: {cell.source[:80]!r}"


@pytest.mark.parametrize("path", WITH_LIVE_CELLS, ids=lambda p: p.name)
def test_every_name_a_kept_cell_reads_is_bound_by_a_kept_cell(path):
    nb = live_cells.live_lesson(nbformat.read(path, 4))
    uses = [live_cells._uses(cell.source) for cell in nb.cells]
    known = set(dir(builtins)) | {"display", "get_ipython"}
    bound = set(known)
    for cell, use in zip(nb.cells, uses):
        if use is None:  # the set-up cell
            continue
        now, _, assigned, changed = use
        assert now <= bound, f"{path.name}: {sorted(now - bound)} unbound in {cell.source[:80]!r}"
        bound |= assigned | changed
    for cell, use in zip(nb.cells, uses):
        if use is not None:
            missing = use[1] - bound
            assert not missing, f"{path.name}: {sorted(missing)} unbound in {cell.source[:80]!r}"
