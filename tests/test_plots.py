"""Figures: the course's figures show inline at exactly their size, once."""

import base64
import struct

import pytest

from course_lib import plots


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])  # the IHDR chunk: width, height


def test_course_figures_are_saved_at_their_own_size_without_a_second_layout_pass():
    fig, ax = plots.subplots(figsize=(4, 2), dpi=50)
    ax.plot([0, 1], [1, 0])
    ax.set_title("a long title that stays inside: constrained layout")
    assert isinstance(fig, plots.CourseFigure)
    assert png_size(plots.figure_png(fig)) == (200, 100)  # not cropped to a tight box


def test_an_ipython_shell_shows_course_figures_with_figure_png_and_other_figures_as_before():
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell
    from matplotlib.figure import Figure

    shell = InteractiveShell.instance()
    try:
        plots.show_inline()
        formatter = shell.display_formatter.formatters["image/png"]
        assert formatter.lookup_by_type(plots.CourseFigure) is plots.figure_png
        fig, _ = plots.subplots(figsize=(3, 2), dpi=40)
        data, _ = shell.display_formatter.format(fig)
        png = data["image/png"]  # bytes, or base64 text in some IPython versions
        assert png_size(png if isinstance(png, bytes) else base64.b64decode(png)) == (120, 80)
        printer = formatter.type_printers.get(Figure)
        assert printer is not plots.figure_png  # a plain Figure keeps the backend's printer
    finally:
        InteractiveShell.clear_instance()
