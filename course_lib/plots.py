"""Plotting: contours with trajectories, loss curves, and grids of panels.

One way to show a figure, everywhere in the course: it is the value of its cell.
``show_trace_2d``, ``plot_losses`` and ``show_grid`` return their figure closed in
pyplot, so that it shows exactly once; ``subplots`` makes such a figure for drawing
by hand; ``plot_contours`` draws into an axes and returns it. Pass ``ax`` to a
helper to draw into an existing figure instead.

Legible on a projector: every text of a figure the course shows is at least LEGIBLE_PX
pixels tall on a 1024×768 screen. matplotlib's default sizes (10 pt, titles 12 pt) are
at DPI = 100 pixels per inch: 13.9 px as long as the figure is at most SHOWN_WIDTH
pixels wide (wider, it is scaled down): keep figures at most ``max_width()`` inches wide
and texts at matplotlib's sizes; a legend that would cover data goes under the axes
(``legend_below``, or ``fig.legend(loc="outside lower center")`` for several panels).
``figure_png`` writes the figure's smallest text (pt), its width (inches), the pixels it
shows per inch, and how many data lines run under a legend into the PNG's own text chunk
(``legibility``), so that a test checks every stored figure (tests/test_legibility.py).
"""

import dataclasses
import struct
from io import BytesIO

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axis import Axis, Tick
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.image import imsave
from matplotlib.text import Text
from matplotlib.transforms import Bbox, ScaledTranslation

from .runners import Run

DPI = 100  # pixels per inch of a course figure, drawn and shown (whatever the backend's default)
LEGIBLE_PX = 12  # the smallest text height, in pixels shown on a 1024×768 screen
# Measured in Chromium at 1024×768 (tests/test_browser.py): JupyterLab's notebook with its
# left sidebar collapsed shows outputs 844 px wide (simple mode 854; with the file browser
# open 592); jupyterlab-rise's slides show an image at most 895 px wide (95 % of the 942 px
# output area). An image wider than this is scaled down to it.
SHOWN_WIDTH = 844


def shown_text_px(pt, width_in, shown_dpi, shown_width=SHOWN_WIDTH):
    """The height in screen pixels of a pt-point text in a figure width_in inches wide,
    shown at shown_dpi pixels per inch, scaled down if wider than shown_width pixels."""
    return pt / 72 * min(shown_dpi, shown_width / width_in)


def max_width(pt=10, shown_dpi=DPI, px=LEGIBLE_PX):
    """The widest figure (inches) whose pt-point texts still show px pixels tall."""
    if pt / 72 * shown_dpi < px:
        return 0.0
    return pt / 72 * SHOWN_WIDTH / px


def _visible_texts(artist):
    if not artist.get_visible():
        return
    if isinstance(artist, Text) and artist.get_text().strip():
        yield artist
    children = artist.get_children()
    if isinstance(artist, Axis):  # only the ticks drawn: those in view
        lo, hi = sorted(artist.get_view_interval())
        slack = 1e-9 * (hi - lo)
        children = [
            c
            for c in children
            if not isinstance(c, Tick) or lo - slack <= c.get_loc() <= hi + slack
        ]
    for child in children:
        yield from _visible_texts(child)


def smallest_text_pt(fig):
    """The size (points) of the smallest visible, non-empty text of a drawn figure (inf if none).

    Texts are tick labels, axis labels, titles, legends, annotations: what
    the last draw laid out (tick labels follow the view: draw the figure first)."""
    return min((t.get_fontsize() for t in _visible_texts(fig)), default=float("inf"))


def _inner(box, fx, fy):
    """The box shrunk to fx of its width and fy of its height, about its centre."""
    dx, dy = (1 - fx) / 2 * box.width, (1 - fy) / 2 * box.height
    return Bbox.from_extents(box.x0 + dx, box.y0 + dy, box.x1 - dx, box.y1 - dy)


def lines_under_legends(fig):
    """How many data lines (or markers) of a drawn figure run under one of its legends."""
    legends = [a.get_legend() for a in fig.axes if a.get_legend()] + list(fig.legends)
    boxes = [legend.get_window_extent() for legend in legends if legend.get_visible()]
    under = 0
    for ax in fig.axes:
        for line in ax.lines:
            # data only: not the reference lines (axhline: their transform is not transData)
            if not line.get_visible() or line.get_transform() != ax.transData:
                continue
            xy = line.get_transform().transform(line.get_xydata())
            if line.get_linestyle() not in ("None", "", " ") and len(xy) > 1:
                t = np.linspace(0, 1, 9)[:, None, None]  # points along each segment
                xy = ((1 - t) * xy[:-1] + t * xy[1:]).reshape(-1, 2)
            if line.get_clip_on():  # only what is drawn: inside the axes
                (ax0, ay0), (ax1, ay1) = ax.bbox.get_points()
                x, y = xy.T
                xy = xy[(ax0 <= x) & (x <= ax1) & (ay0 <= y) & (y <= ay1)]
            x, y = xy.T
            for box in boxes:
                (x0, y0), (x1, y1) = _inner(box, 0.96, 0.9).get_points()  # not its padding
                if np.any((x0 < x) & (x < x1) & (y0 < y) & (y < y1)):
                    under += 1
    return under


def legibility(fig, shown_dpi):
    """What a test needs to tell the figure's smallest text on screen, as PNG text chunks."""
    return {
        "course:lines-under-legends": f"{lines_under_legends(fig)}",
        "course:smallest-text-pt": f"{smallest_text_pt(fig):g}",
        "course:width-in": f"{fig.get_figwidth():g}",
        "course:shown-dpi": f"{shown_dpi:g}",
    }


def png_text(png):
    """The tEXt chunks of PNG bytes, as {keyword: value}."""
    chunks, i = {}, 8
    while i + 8 <= len(png):
        (size,), kind = struct.unpack(">I", png[i : i + 4]), png[i + 4 : i + 8]
        if kind == b"tEXt":
            key, _, value = png[i + 8 : i + 8 + size].partition(b"\0")
            chunks[key.decode("latin-1")] = value.decode("latin-1")
        i += 12 + size
    return chunks


def png_text_px(png, shown_width=SHOWN_WIDTH):
    """The smallest text of a course figure's PNG, in pixels on screen (its ``legibility``
    chunk; None if it has none)."""
    text = png_text(png)
    try:
        pt, width_in, shown_dpi = (
            float(text[f"course:{key}"]) for key in ("smallest-text-pt", "width-in", "shown-dpi")
        )
    except KeyError:
        return None
    return shown_text_px(pt, width_in, shown_dpi, shown_width)


class CourseFigure(Figure):
    """A figure made by ``subplots``: shown inline as a PNG of exactly its size.

    The inline backend saves figures with bbox_inches="tight", which lays every tick
    label out a second time: 20–25 % of a lesson's cell time, measured on lesson 03.
    Constrained layout already keeps everything inside the figure, so the course's
    figures skip that pass (``show_inline``).
    """


def figure_png(fig):
    """The PNG bytes of a figure at its own size and dpi, shown one pixel per pixel, with its
    ``legibility`` in the PNG's text chunk."""
    own = fig.canvas
    canvas = FigureCanvasAgg(fig)
    try:
        # savefig's own steps for a PNG, with the drawing first: the smallest text is
        # known only once the tick labels are laid out.
        canvas.draw()
        buffer = BytesIO()
        imsave(
            buffer,
            np.asarray(canvas.buffer_rgba()),
            format="png",
            dpi=fig.dpi,
            metadata=legibility(fig, fig.dpi),
        )
        return buffer.getvalue()
    finally:
        fig.set_canvas(own)


def show_inline():
    """In IPython, show CourseFigures with ``figure_png`` (other figures are untouched)."""
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to register
        return
    shell = get_ipython()
    if shell is not None and hasattr(shell, "display_formatter"):
        shell.display_formatter.formatters["image/png"].for_type(CourseFigure, figure_png)


show_inline()


def subplots(nrows=1, ncols=1, **kwargs):
    """``plt.subplots`` for a figure that shows as the value of its cell, and only then.

    The course's one way to show a figure: make it here (or with a helper below) and
    end the cell with it. It is closed in pyplot, so the inline backend does not show
    it a second time. Layout "constrained" unless given.
    """
    kwargs.setdefault("layout", "constrained")
    kwargs.setdefault("dpi", DPI)
    kwargs.setdefault("FigureClass", CourseFigure)
    fig, axes = plt.subplots(nrows, ncols, **kwargs)
    plt.close(fig)
    return fig, axes


def subplot_mosaic(mosaic, **kwargs):
    """``plt.subplot_mosaic`` for a figure that shows as the value of its cell (see ``subplots``)."""
    kwargs.setdefault("layout", "constrained")
    kwargs.setdefault("dpi", DPI)
    kwargs.setdefault("FigureClass", CourseFigure)
    fig, axes = plt.subplot_mosaic(mosaic, **kwargs)
    plt.close(fig)
    return fig, axes


def legend_below(ax, **kwargs):
    """A legend under the axes, below its tick labels and x label: it covers no data (and
    constrained layout makes room for it: make the figure taller). kwargs go to
    ``ax.legend`` (e.g. ``ncols=2``, ``handles=``, ``labels=``)."""
    ticks = FontProperties(size=plt.rcParams["xtick.labelsize"]).get_size_in_points()
    label = FontProperties(size=plt.rcParams["axes.labelsize"]).get_size_in_points()
    below = 10 + 1.3 * ticks + 1.3 * label  # points: room for an x label, set now or later
    at = ax.transAxes + ScaledTranslation(0, -below / 72, ax.figure.dpi_scale_trans)
    kwargs.setdefault("frameon", False)
    return ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0), bbox_transform=at, **kwargs)


def _new(ax, figsize):
    if ax is not None:
        return ax.figure, ax
    return subplots(figsize=figsize)


def as_runs(runs):
    """A Run, a list of Runs, or a dict label → Run, as a list of Runs with their labels.

    A dict's labels go on copies: the caller's Runs keep their own.
    """
    if isinstance(runs, Run):
        return [runs]
    if isinstance(runs, dict):
        return [dataclasses.replace(r, label=label) for label, r in runs.items()]
    return list(runs)


def plot_contours(problem, ax=None, window=None, levels=None, figsize=(5.2, 4.0)):
    """Draw the contours of a 2-D problem (cached grid) and its minimisers; returns the axes."""
    _, ax = _new(ax, figsize)
    x1, x2, f = problem.grid(window=window)
    levels = problem.levels if levels is None else levels
    if levels is None:
        gap = f - np.min(f)
        top = np.percentile(gap, 95)
        # The floor keeps log-spaced levels off 0; relative to the range, so that a problem
        # whose values are all tiny (e.g. a quadratic × 1e-6) still gets increasing levels.
        levels = np.min(f) + np.geomspace(
            max(np.percentile(gap, 0.5), min(1e-3, 1e-6 * top)), top, 14
        )
    norm = LogNorm() if np.all(np.asarray(levels) > 0) else None
    ax.contourf(x1, x2, f, levels=levels, cmap="Blues_r", norm=norm, alpha=0.35, extend="both")
    ax.contour(x1, x2, f, levels=levels, colors="0.55", linewidths=0.6)
    if len(problem.minima):
        ax.plot(*problem.minima.T, "k*", ms=10, zorder=5)
    (a, b), (c, d) = window or problem.window
    ax.set(xlim=(a, b), ylim=(c, d), xlabel="$x_1$", ylabel="$x_2$")
    return ax


def show_trace_2d(problem, runs, ax=None, title=None, window=None, legend=True, figsize=(5.2, 4.0)):
    """Trajectories of one or several runs on the contours of a 2-D problem; returns the figure."""
    fig, ax = _new(ax, figsize)
    plot_contours(problem, ax=ax, window=window)
    for r in as_runs(runs):
        label = r.label + (f" (diverged at step {r.diverged_at})" if r.diverged_at else "")
        xs = r.xs.reshape(len(r.xs), -1)
        (line,) = ax.plot(xs[:, 0], xs[:, 1], "-o", ms=3, lw=1.4, label=label)
        # color= too, or this marker would take the next colour of the cycle and the
        # runs would not match their loss curves (plot_losses).
        ax.plot(
            *xs[-1], "o", ms=6, mfc="white", mec=line.get_color(), color=line.get_color(), zorder=6
        )
    if runs:
        ax.plot(*as_runs(runs)[0].xs[0], "ks", ms=5, zorder=6)
    ax.set_title(title or problem.name)
    if legend and runs:
        ax.legend(loc="best")
    return fig


def plot_losses(runs, ax=None, x="steps", logy=None, title=None, figsize=(5.2, 3.6), legend=True):
    """Loss (f − f* when f* is known) against steps, epochs, grad_evals or times; returns the figure.

    legend=False leaves the legend out (e.g. for one ``fig.legend`` beside several panels)."""
    fig, ax = _new(ax, figsize)
    runs = as_runs(runs)
    finite_star = all(np.isfinite(r.f_star) for r in runs)
    logy = finite_star if logy is None else logy
    for r in runs:
        xs = getattr(r, x) if getattr(r, x) is not None else np.arange(len(r.losses))
        ys = r.gap if finite_star else r.losses
        if logy:
            ys = np.maximum(ys, 1e-16)  # a run that reached f* exactly stays on the plot
        ax.plot(xs, ys, label=r.label)
    ax.set_yscale("log" if logy else "linear")
    names = {
        "steps": "step",
        "epochs": "epoch",
        "grad_evals": "example gradients computed",
        "times": "seconds",
    }
    ax.set(xlabel=names.get(x, x), ylabel="$f(x) - f^*$" if finite_star else "$f(x)$", title=title)
    ax.grid(True, which="major", alpha=0.3)
    if legend:
        ax.legend()
    return fig


def show_grid(panels, ncols=3, size=(3.2, 3.0), legend="first"):
    """A grid of trajectory panels, each ``(problem, runs, title)``; returns the figure.

    legend: "first" draws the legend in the first panel only, "all" in every one.
    """
    nrows = -(-len(panels) // ncols)
    fig, axes = subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(panels):
            ax.set_visible(False)
            continue
        problem, runs, title = panels[i]
        show_trace_2d(
            problem,
            runs,
            ax=ax,
            title=title,
            legend=(legend == "all" or (legend == "first" and i == 0)),
        )
    return fig
