"""Interactive explorers for live teaching: sliders, and a picture that follows them.

    explore(step, problem)                       # one optimiser: a slider per hyperparameter
    compare({"GD": gd, "Adam": adam}, problem)   # several side by side, one lr slider each
    explore_plot(update, figure=fig, lr=(1e-3, 1.0))   # any figure (see explore_plot)

Each returns an ipywidgets ``VBox``: make it the last expression of a cell and it
shows. ``explore`` takes its sliders from the step function's signature (the
optimiser contract of ``course_lib.optimizers``): ``lr`` and ``eps`` get
log-scale sliders, ``gamma``, ``rho``, ``beta1``, ``beta2``, ``weight_decay``
linear ones; a keyword argument overrides a slider: ``lr=(1e-3, 1.0)`` sets its
range, ``lr=0.05`` its starting value, ``lr=(1e-3, 1.0, 0.05)`` both. There are
also sliders for the starting point and the number of steps, and a drop-down
for the problem (``course_lib.PROBLEMS``). Every control is labelled and shows
its value to the precision its step needs.

Pictures (``Picture``): a PNG in an ``ipywidgets.Image``, so it works alike with
ipywidgets 7.7.1 (Colab) and 8 and the inline backend (no Output widget, no ipympl);
drawn at DENSITY = 2 pixels per pixel shown and shown at a fixed size, SHOWN_DPI = 88
pixels per inch of figure (smaller only in a narrower window): sharp on a projector or a
zoomed page, and matplotlib's 10-point texts are 12.2 pixels tall (``plots.LEGIBLE_PX``;
the PNG's text chunk says so, ``plots.legibility``). A redraw takes well under 50 ms
because it draws only what changed (blitting): the rest is drawn once and kept as
pixels, each redraw pastes them back and draws the changing artists on them, and the PNG
is encoded the quick way (``png_bytes``). Without a browser (tests, benchmarks) call
``explorer.update(lr=0.3, steps=50)``; ``explorer.png`` is the last picture and
``explorer.picture.full_draws`` counts the full draws of its figure.
"""

import dataclasses
import html
import math
import struct
import warnings
import zlib

import ipywidgets as widgets
import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import PlaceHolderLayoutEngine
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator, ScalarFormatter

from .contract import CourseError, hyperparameters_of, name_of, normalise
from .plots import legibility, plot_contours
from .problems import PROBLEMS
from .runners import DivergenceWarning, run

# Default slider per hyperparameter name: ("log", min, max) in powers of ten, or
# ("linear", min, max, step). Anything else numeric gets a linear slider around its default.
SLIDERS = {
    "lr": ("log", -4.0, 1.0),
    "eps": ("log", -12.0, 0.0),
    "gamma": ("linear", 0.0, 0.999, 0.001),
    "rho": ("linear", 0.0, 0.999, 0.001),
    "beta1": ("linear", 0.0, 0.999, 0.001),
    "beta2": ("linear", 0.9, 0.9999, 0.0001),
    "weight_decay": ("linear", 0.0, 0.5, 0.005),
}
COLORS = ["C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7"]
# pixels shown per inch of figure: 10-point text shows 12.2 px tall (plots.LEGIBLE_PX), and
# the explorer's 9.5 inches show as 836 pixels (at most plots.SHOWN_WIDTH: never scaled down)
SHOWN_DPI = 88
DENSITY = 2  # pixels drawn per pixel shown: sharp on a projector, a zoomed page, a dense screen
FIGSIZE = (9.5, 3.8)  # the explorer's figure, in inches
PANEL_LEFT = (0.065, 0.13, 0.40, 0.78)  # axes positions, fixed: no layout engine per redraw
PANEL_RIGHT = (0.575, 0.13, 0.40, 0.78)
# The loss panel's limits, as m × 10^k for m in: the steps' (at most 4/3 of the steps), the
# loss's (1, 2 or 5 times a power of ten); see _round_limit.
STEPS_LIMITS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
LOSS_LIMITS = (1.0, 2.0, 5.0, 10.0)
_CONTOURS = {}  # id(problem) → (problem, its contours as pixels), shared by all explorers


# --- controls ----------------------------------------------------------------------------


def _range(name, spec):
    """(value override, (min, max) or None) from a slider spec: a value, (min, max) or
    (min, max, value)."""
    if not isinstance(spec, (tuple, list)):
        return spec, None
    if len(spec) not in (2, 3):
        raise ValueError(f"{name}={spec!r}: give (min, max) or (min, max, value)")
    lo_hi = (float(spec[0]), float(spec[1]))
    if not lo_hi[0] < lo_hi[1]:
        raise ValueError(f"{name}={spec!r}: the minimum must be below the maximum")
    return (spec[2] if len(spec) == 3 else None), lo_hi


def readout_format(step, start=0.0, log=False):
    """The readout a slider needs so that two neighbouring values never read the same.

    Linear: as many decimals as the step and the start have (0.005 → ".3f", so 0.545 and
    0.55 read apart), or enough to resolve the step. Log scale (``step`` in powers of ten):
    significant digits enough for a step's ratio (0.01: 10^0.01 = 1.023, ".3g").
    """
    if log:
        digits = max(1, math.ceil(-math.log10(10.0**step - 1))) + 1
        return f".{digits}g"

    def decimals(x):
        x = abs(float(x))
        exact = [d for d in range(7) if abs(x * 10**d - round(x * 10**d)) < 1e-6 * max(1, x)]
        return exact[0] if exact else max(0, math.ceil(-math.log10(x)))

    return f".{max(decimals(step), decimals(start) if start else 0)}f"


def labelled(name, control):
    """A control ready to show: labelled with ``name`` if it has no label, with room for
    the label, and (a slider) reading out its value to the precision its step needs."""
    if hasattr(control, "description") and not control.description:
        control.description = name
    style = getattr(control, "style", None)
    if style is not None and hasattr(style, "description_width") and not style.description_width:
        style.description_width = "initial"
    default = control.traits().get("readout_format")
    if default is not None and control.readout_format == default.default_value:
        step = getattr(control, "step", None)
        if isinstance(control, widgets.FloatLogSlider):
            control.readout_format = readout_format(step, log=True)
        elif isinstance(step, float) and step > 0:
            control.readout_format = readout_format(step, control.min)
    return control


def make_slider(name, default, spec=None, description=None):
    """One slider for hyperparameter ``name``; spec overrides the range: see the module docstring.

    Log-scale sliders (``SLIDERS``) take their range in powers of ten. Without an
    explicit range, a value outside the usual one widens it; with one, a value outside
    it is an error. A widget given as spec is used as it is (labelled if it has no label).
    """
    if isinstance(spec, widgets.ValueWidget):
        return labelled(description or name, spec)
    given, lo_hi = _range(name, spec)
    value = default if given is None else given
    description = description or name
    if isinstance(default, bool):
        return widgets.Checkbox(value=bool(value), description=description)
    kind = SLIDERS.get(name)
    if kind is None:  # a linear slider around the default
        top = 2 * abs(float(value)) if value else 1.0
        kind = ("linear", 0.0 if float(value) >= 0 else -top, top, top / 200)
    log = kind[0] == "log"
    if lo_hi is not None:
        if log and lo_hi[0] <= 0:
            raise ValueError(f"{name}={spec!r}: a log-scale slider needs a positive range")
        if given is None:
            value = min(max(value, lo_hi[0]), lo_hi[1])  # (min, max) alone: the default, inside
        elif not lo_hi[0] <= value <= lo_hi[1]:
            raise ValueError(f"{name}: the value {value} lies outside its range {lo_hi}")
        lo, hi = (math.log10(lo_hi[0]), math.log10(lo_hi[1])) if log else lo_hi
        step = (hi - lo) / 200
    elif log:
        lo, hi, step = kind[1], kind[2], 0.01
        if value > 0:  # a default outside the usual range widens it rather than being clipped
            lo = min(lo, math.floor(math.log10(value)))
            hi = max(hi, math.ceil(math.log10(value)))
        else:
            value = 10.0**lo
    else:
        lo, hi, step = kind[1:]
        lo, hi = min(lo, value), max(hi, value)
    options = {"base": 10} if log else {}
    if log:
        cls = widgets.FloatLogSlider
    elif isinstance(default, int) and isinstance(value, int):
        cls, step = widgets.IntSlider, max(step, 1)
    else:
        cls = widgets.FloatSlider
    return labelled(
        description,
        cls(
            value=float(value) if log else value,
            min=lo,
            max=hi,
            step=step,
            description=description,
            continuous_update=False,
            style={"description_width": "initial"},
            **options,
        ),
    )


def _set_range(slider, lo, hi, value):
    """Change a slider's range and value in an order every ipywidgets version accepts."""
    slider.min, slider.max = min(slider.min, lo), max(slider.max, hi)
    slider.value = value
    slider.min, slider.max = lo, hi


# --- pictures ----------------------------------------------------------------------------


def png_bytes(rgba, text=None):
    """An RGBA array (a canvas's buffer) as PNG bytes, the quick way: the rows as they are
    (RGBA, unfiltered: no copy to RGB, which costs as much as the compression) at zlib's
    level 1. Six times quicker than Pillow for the explorer's 1672 × 669 pixels.
    text: {keyword: value} written as tEXt chunks (Latin-1)."""
    rgba = np.asarray(rgba, dtype=np.uint8)
    height, width = rgba.shape[:2]
    rows = np.zeros((height, 1 + 4 * width), np.uint8)  # each row: filter type 0, then RGBA
    rows[:, 1:] = rgba.reshape(height, 4 * width)

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA, no interlace
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", header),
            *(chunk(b"tEXt", f"{k}\0{v}".encode("latin-1")) for k, v in (text or {}).items()),
            chunk(b"IDAT", zlib.compress(rows, 1)),
            chunk(b"IEND", b""),
        ]
    )


def shown_size(figure):
    """The layout of an image of ``figure`` at its fixed size: SHOWN_DPI pixels per inch,
    never wider than the output (then scaled down, keeping its proportions)."""
    return widgets.Layout(width=_shown_width(figure), max_width="100%", height="auto")


def _shown_width(figure):
    # rounded down: never more than half the pixels drawn (matplotlib rounds them down too)
    return f"{math.floor(figure.get_figwidth() * SHOWN_DPI)}px"


def figure_png(figure):
    """A figure drawn once, whole, at DENSITY × SHOWN_DPI, as PNG bytes."""
    figure.set_dpi(SHOWN_DPI * DENSITY)
    own = figure.canvas  # an explorer's Picture draws on it: given back afterwards
    canvas = FigureCanvasAgg(figure)
    try:
        canvas.draw()
        return png_bytes(canvas.buffer_rgba(), legibility(figure, SHOWN_DPI))
    finally:
        figure.set_canvas(own)


class Picture:
    """A figure shown in an ``ipywidgets.Image`` (``widget``) and redrawn by blitting.

    ``show(changing, key)``: everything but the ``changing`` artists is drawn once per
    ``key`` and kept as pixels; each call pastes those pixels back, draws the changing
    artists on them and shows the result. ``show()`` draws it all. An axis (``ax.yaxis``)
    among the changing artists is drawn only when its limits or scale change: the pixels
    with its ticks are kept as well, in layers in the order given (put first the axis that
    changes least). Each layer keeps its last KEEP pixels.
    """

    KEEP = 6  # pixels kept per layer: 3.7 MB each for the explorer's figure

    def __init__(self, figure):
        figure.set_dpi(SHOWN_DPI * DENSITY)
        self.figure, self.canvas = figure, FigureCanvasAgg(figure)
        self.widget = widgets.Image(format="png", layout=shown_size(figure))
        self.png, self.full_draws, self.changing, self._layers = b"", 0, [], []
        self.legibility = {}  # plots.legibility of the last full draw (texts rarely resize)

    def _draw_all(self):
        self.canvas.draw()
        self.full_draws += 1
        self.legibility = legibility(self.figure, SHOWN_DPI)
        engine = self.figure.get_layout_engine()
        if engine is not None and not isinstance(engine, PlaceHolderLayoutEngine):
            # The layout is made once, at the first draw (before any pixels are kept): pasted
            # pixels and the artists drawn on them must agree.
            self.figure.set_layout_engine("none")

    def _layer(self, depth, key, draw):
        """Layer depth's pixels for key: kept, or drawn by draw() and kept (least recently
        used ones dropped)."""
        while len(self._layers) <= depth:
            self._layers.append({})
        kept = self._layers[depth]
        pixels = kept.pop(key, None)
        if pixels is None:
            draw()
            pixels = self.canvas.copy_from_bbox(self.figure.bbox)
            if len(kept) >= self.KEEP:
                kept.pop(next(iter(kept)))
        kept[key] = pixels
        return pixels

    def stale_artists(self):
        """The artists that changed since they were drawn (matplotlib marks them stale: a
        line's set_data, a text's new text…), with those that changed before: the figure's
        and its axes' own artists (not the axes' ticks: their limits are the key's)."""
        figure = self.figure
        children = [a for parent in (figure, *figure.axes) for a in parent.get_children()]
        found = [a for a in children if a.stale and not isinstance(a, (Axes, Axis))]
        kept = [a for a in self.changing if any(a is c for c in children)]
        changing = kept + [a for a in found if not any(a is k for k in kept)]
        return sorted(changing, key=lambda a: a.get_zorder())  # drawn in the figure's order

    def show(self, changing=None, key=None):
        """Draw the figure (only ``changing`` if its background for ``key`` is kept) and
        show it; returns the PNG bytes."""
        if changing is None:
            self._draw_all()
        else:
            changing = list(changing)
            if changing != self.changing:  # other artists change: the backgrounds are wrong
                for artist in self.changing:
                    artist.set_animated(False)
                for artist in changing:
                    artist.set_animated(True)
                self.changing, self._layers = changing, []
            pixels = self._layer(0, key, self._draw_all)  # all but the changing artists
            axes = [a for a in changing if isinstance(a, Axis)]
            for depth, axis in enumerate(axes, 1):
                key = (key, axis.get_scale(), *axis.get_view_interval())

                def draw(below=pixels, axis=axis):
                    self.canvas.restore_region(below)
                    self.figure.draw_artist(axis)

                pixels = self._layer(depth, key, draw)
            self.canvas.restore_region(pixels)
            for artist in changing:
                if not isinstance(artist, Axis):
                    self.figure.draw_artist(artist)
        self.png = png_bytes(self.canvas.buffer_rgba(), self.legibility)
        self.widget.value = self.png
        return self.png


def _red(lines):
    return [f"<span style='color:#b00'>{html.escape(n, quote=False)}</span>" for n in lines]


# --- optimiser explorers -----------------------------------------------------------------


class Explorer(widgets.VBox):
    """Sliders and a picture: trajectories on the contours (left) and f − f* per step (right).

    entries: a list of ``(label, step, sliders, fixed)``: ``sliders`` maps a
    hyperparameter name to its widget, ``fixed`` maps names to constant values.
    Use ``explore`` or ``compare`` rather than building one directly.
    """

    def __init__(self, entries, problem, steps=30, x0=None, max_steps=200, continuous=False):
        problem = PROBLEMS.get(problem, problem) if isinstance(problem, str) else problem
        if getattr(problem, "dim", None) != 2:
            raise ValueError(
                f"an explorer draws 2-D problems; {problem!r} is not one "
                f"(pick one of {sorted(PROBLEMS)})"
            )
        self.entries = entries
        self.problems = dict(PROBLEMS)
        self.problems.setdefault(problem.name, problem)
        self.problem = problem
        self.runs, self.redraws = [], 0
        self._busy = False  # set while controls are moved by the code itself
        self._made = [None] * len(entries)  # per optimiser: (what it was run with, run, notes)

        style = {"description_width": "initial"}
        self.problem_menu = widgets.Dropdown(
            options=list(self.problems), value=problem.name, description="problem", style=style
        )
        start = problem.x0 if x0 is None else np.asarray(x0, dtype=float)
        self.x1, self.x2 = (
            labelled(
                f"start x{sub}",
                widgets.FloatSlider(
                    value=value,
                    min=lo,
                    max=hi,
                    step=(hi - lo) / 200,
                    description=f"start x{sub}",
                    continuous_update=False,
                    style=style,
                ),
            )
            for value, (lo, hi), sub in zip(start, problem.window, "₁₂")
        )
        self.steps = widgets.IntSlider(
            value=steps,
            min=1,
            max=max(max_steps, steps),
            description="steps",
            continuous_update=False,
            style=style,
        )
        self.status = widgets.HTML()
        self._make_figure()
        self.image = self.picture.widget

        shared = widgets.VBox([self.problem_menu, self.x1, self.x2, self.steps])
        columns = [shared]
        for label, _, sliders, fixed in entries:
            shown = list(sliders.values())
            if len(entries) > 1:
                shown = [widgets.HTML(f"<b>{label}</b>")] + shown
            if fixed:
                text = ", ".join(
                    f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in fixed.items()
                )
                shown.append(widgets.HTML(f"<small>fixed: {text}</small>"))
            columns.append(widgets.VBox(shown))
        controls = widgets.HBox(columns, layout=widgets.Layout(flex_flow="row wrap"))
        super().__init__([controls, self.image, self.status])

        for w in self._controls():
            if hasattr(w, "continuous_update"):
                # False: redraw when the mouse is released (a drag would queue redraws)
                w.continuous_update = continuous
            w.observe(self._on_change, names="value")
        self.redraw()

    # --- controls ------------------------------------------------------------------------

    def _controls(self):
        yield from (self.problem_menu, self.x1, self.x2, self.steps)
        for _, _, sliders, _ in self.entries:
            yield from sliders.values()

    @property
    def sliders(self):
        """Every control by name: problem, x1, x2, steps and the hyperparameters.

        With several optimisers a hyperparameter is named ``label.name``.
        """
        out = {"problem": self.problem_menu, "x1": self.x1, "x2": self.x2, "steps": self.steps}
        for label, _, sliders, _ in self.entries:
            for name, w in sliders.items():
                out[name if len(self.entries) == 1 else f"{label}.{name}"] = w
        return out

    controls = sliders  # the name PlotExplorer uses

    @property
    def png(self):
        """The picture on show, as PNG bytes."""
        return self.picture.png

    def _on_change(self, change):
        if self._busy:
            return
        if change["owner"] is self.problem_menu:
            self._switch_problem(self.problems[change["new"]])
        self.redraw()

    def _switch_problem(self, problem):
        self.problem = problem
        (a, b), (c, d) = problem.window
        self._busy = True
        try:
            _set_range(self.x1, a, b, problem.x0[0])
            _set_range(self.x2, c, d, problem.x0[1])
            self.x1.step, self.x2.step = (b - a) / 200, (d - c) / 200
            for slider in (self.x1, self.x2):  # the readout the new step needs
                slider.readout_format = readout_format(slider.step, slider.min)
        finally:
            self._busy = False
        self._show_problem()

    def update(self, **values):
        """Set controls by name (see ``sliders``) and redraw once; returns the PNG bytes."""
        controls = self.sliders
        unknown = sorted(set(values) - set(controls))
        if unknown:
            raise ValueError(f"unknown control(s) {unknown}; this explorer has {sorted(controls)}")
        self._busy = True
        try:
            if "problem" in values:
                name = values.pop("problem")
                name = getattr(name, "name", name)
                self.problem_menu.value = name
                self._switch_problem(self.problems[name])
            for name, value in values.items():
                controls[name].value = value
        finally:
            self._busy = False
        return self.redraw()

    # --- drawing -------------------------------------------------------------------------

    def _make_figure(self):
        # A bare Figure (not pyplot): the inline backend never shows it by itself, and
        # fixed axes positions avoid running a layout engine on every redraw.
        fig = Figure(figsize=FIGSIZE)
        self.ax_path = fig.add_axes(PANEL_LEFT)
        self.ax_loss = fig.add_axes(PANEL_RIGHT)
        self.background = self.ax_path.imshow(
            np.zeros((2, 2, 4)), aspect="auto", zorder=0, interpolation="nearest"
        )
        (self.minima,) = self.ax_path.plot([], [], "k*", ms=10, zorder=5)
        (self.start,) = self.ax_path.plot([], [], "ks", ms=5, zorder=6)
        self.paths, self.ends, self.curves = [], [], []
        for i, (label, *_) in enumerate(self.entries):
            color = COLORS[i % len(COLORS)]
            self.paths += self.ax_path.plot([], [], "-o", ms=2.5, lw=1.3, color=color, zorder=4)
            self.ends += self.ax_path.plot([], [], "o", ms=6, mfc="white", mec=color, zorder=6)
            self.curves += self.ax_loss.plot([], [], color=color, lw=1.5, label=label)
        self.ax_path.set(xlabel="$x_1$", ylabel="$x_2$")
        self.ax_loss.set_xlabel("step")
        self.ax_loss.grid(True, alpha=0.3)
        self.ax_loss.xaxis.set_major_locator(MaxNLocator(6, integer=True))
        for axis in (self.ax_path.xaxis, self.ax_path.yaxis):
            axis.set_major_locator(MaxNLocator(5))
        if len(self.entries) > 1:  # above the loss panel, where no curve runs under it
            self.ax_loss.legend(
                loc="lower right",
                bbox_to_anchor=(1.0, 1.0),
                ncol=min(len(self.entries), 4),
                frameon=False,
                borderaxespad=0.1,
                handlelength=1.5,
                columnspacing=1.0,
            )
        # A plain text, not the axis label: it is drawn once, with the static pixels.
        self.loss_label = self.ax_loss.text(
            -0.19, 0.5, "", rotation=90, va="center", ha="center", transform=self.ax_loss.transAxes
        )
        # Blitting: what depends only on the problem (contours, frames, labels, the legend)
        # is drawn once per problem and kept as pixels; a redraw draws the paths, the loss
        # curves and the loss panel's axes (their ticks follow the steps and the losses).
        self.changing = [
            self.ax_loss.xaxis,
            self.ax_loss.yaxis,
            *self.curves,
            self.start,
            *self.paths,
            *self.ends,
        ]
        self.picture = Picture(fig)
        self.figure = fig
        self._show_problem()

    def _contour_image(self, problem):
        """The problem's contours rendered at the panel's pixel size, as an RGBA array (once
        per problem and process: every explorer of a lesson shares them)."""
        kept = _CONTOURS.get(id(problem))
        if kept is None or kept[0] is not problem:
            w, h = PANEL_LEFT[2] * FIGSIZE[0], PANEL_LEFT[3] * FIGSIZE[1]
            fig = Figure(figsize=(w, h), dpi=SHOWN_DPI * DENSITY)
            canvas = FigureCanvasAgg(fig)
            ax = fig.add_axes((0, 0, 1, 1))
            plot_contours(problem, ax=ax)
            if len(problem.minima):
                ax.lines[-1].remove()  # the minima's stars are drawn on top later
            ax.set_axis_off()
            canvas.draw()
            if len(_CONTOURS) >= 16:
                _CONTOURS.pop(next(iter(_CONTOURS)))
            kept = _CONTOURS[id(problem)] = (problem, np.asarray(canvas.buffer_rgba()).copy())
        return kept[1]

    def _show_problem(self):
        p = self.problem
        (a, b), (c, d) = p.window
        self.background.set_data(self._contour_image(p))
        self.background.set_extent((a, b, c, d))
        minima = p.minima if len(p.minima) else np.empty((0, 2))
        self.minima.set_data(minima[:, 0], minima[:, 1])
        self.ax_path.set(xlim=(a, b), ylim=(c, d))
        self.ax_path.set_title(p.name)
        self.log_loss = bool(np.isfinite(p.f_star))
        self.ax_loss.set_yscale("log" if self.log_loss else "linear")
        # Few ticks and no minor ones: drawing tick labels is most of a redraw's time.
        self.ax_loss.yaxis.set_major_locator(
            LogLocator(numticks=6) if self.log_loss else MaxNLocator(5)
        )
        self.ax_loss.yaxis.set_minor_locator(NullLocator())
        self.loss_label.set_text("$f(x) - f^*$" if self.log_loss else "$f(x)$")
        self.ax_loss.yaxis.set_major_formatter(
            FuncFormatter(_power_of_ten) if self.log_loss else ScalarFormatter()
        )

    def values(self):
        """Current hyperparameters per optimiser: {label: {name: value}}."""
        return {
            label: {**fixed, **{k: w.value for k, w in sliders.items()}}
            for label, _, sliders, fixed in self.entries
        }

    def _run(self, i, x0, hp):
        """Optimiser i's run of ``steps`` steps from x0 with hyperparameters hp, and notes on
        it. Rerun only when something it depends on changed (one of several optimisers'
        sliders moves): a run is deterministic, so fewer steps are the first steps of the run
        kept, and more steps than it has rerun it to twice its length (dragging the steps
        slider up reruns it a few times, not at every move)."""
        label, step, _, _ = self.entries[i]
        steps, key = self.steps.value, (self.problem.name, tuple(x0), tuple(sorted(hp.items())))
        made = self._made[i]
        same = made is not None and made[0] == key
        if not same or (
            made[1] is not None and not made[1].diverged_at and len(made[1].xs) <= steps
        ):
            length = min(max(steps, 2 * len(made[1].xs) - 2), self.steps.max) if same else steps
            warned = []
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", DivergenceWarning)
                    r = run(step, self.problem, x0=x0, steps=length, label=label, **hp)
                warned = [
                    f"{label}: {w.message}"
                    for w in caught
                    if not issubclass(w.category, DivergenceWarning)
                ]
            except CourseError as exc:  # e.g. an unfinished exercise: say so, keep going
                r, warned = None, [f"{label}: {exc}"]
            except Exception as exc:  # a bug in a student's step: show it in the widget
                r, warned = None, [f"{label}: {type(exc).__name__}: {exc}"]
            self._made[i] = made = (key, r, warned)
        r, notes = _first_steps(made[1], steps), list(made[2])
        if r is not None and r.diverged_at:
            notes.insert(0, f"{label} diverged at step {r.diverged_at} ({r.reason})")
        elif r is not None and r.diverging:  # a slow blow-up: it has not exploded yet
            notes.insert(0, f"{label} is diverging: {r.diverging}")
        return r, notes

    def redraw(self):
        """Rerun the optimisers whose controls changed and redraw; returns the PNG bytes."""
        x0 = np.array([self.x1.value, self.x2.value])
        self.runs, notes = [], []
        for i, hp in enumerate(self.values().values()):
            r, said = self._run(i, x0, hp)
            self.runs.append(r)
            notes += said
        self._draw_runs(x0)
        # Problems in red, then the summary of every run that has one (a diverging run
        # does not hide the others').
        self.status.value = "<br>".join([*_red(notes), self._summary()])
        self.picture.show(self.changing, key=self.problem.name)
        self.redraws += 1
        return self.png

    def _draw_runs(self, x0):
        self.start.set_data([x0[0]], [x0[1]])
        ymin, ymax, nmax = np.inf, -np.inf, 1
        for r, path, end, curve in zip(self.runs, self.paths, self.ends, self.curves):
            if r is None:
                for artist in (path, end, curve):
                    artist.set_data([], [])
                continue
            xs = r.xs.reshape(len(r.xs), -1)
            path.set_data(xs[:, 0], xs[:, 1])
            end.set_data(xs[-1:, 0], xs[-1:, 1])
            ys = r.gap if self.log_loss else r.losses
            ys = np.maximum(ys, 1e-16) if self.log_loss else ys  # a run that hits f* stays visible
            ys = np.where(np.isfinite(ys), ys, np.nan)
            curve.set_data(np.arange(len(ys)), ys)
            if np.isfinite(ys).any():
                ymin, ymax = min(ymin, np.nanmin(ys)), max(ymax, np.nanmax(ys))
            nmax = max(nmax, len(ys) - 1)
        # Round-number limits stay put while a slider moves a little: the loss panel's axes
        # are then not redrawn (up to a third of a redraw) and their ticks stand still.
        self.ax_loss.set_xlim(0, _round_limit(max(nmax, self.steps.value), STEPS_LIMITS))
        if np.isfinite(ymin):
            if self.log_loss:
                low = _round_limit(ymin / 1.5, LOSS_LIMITS, up=False)
                high = _round_limit(min(ymax * 1.5, 1e300), LOSS_LIMITS)
                self.ax_loss.set_ylim(low, high)
                few_decades = high / low < 1e3  # then label 2 and 5 times powers of ten too
                self.ax_loss.yaxis.set_major_locator(
                    LogLocator(subs=(1.0, 2.0, 5.0) if few_decades else (1.0,), numticks=6)
                )
            else:
                pad = 0.05 * (ymax - ymin) + 1e-12
                tick = _round_limit(min(ymax - ymin + 2 * pad, 1e300) / 5, LOSS_LIMITS)
                low, high = np.floor((ymin - pad) / tick), np.ceil((ymax + pad) / tick)
                self.ax_loss.set_ylim(low * tick, high * tick)

    def _summary(self):
        parts = [
            f"{r.label}: f = {r.losses[-1]:.4g} at x = ({r.x[0]:.4g}, {r.x[1]:.4g}) after "
            f"{len(r.losses) - 1} steps"
            for r in self.runs
            if r is not None and not r.diverged_at
        ]
        return "<small>" + html.escape(" · ".join(parts), quote=False) + "</small>"

    def __repr__(self):
        return f"<Explorer of {[e[0] for e in self.entries]} on {self.problem.name!r}>"


def _first_steps(r, steps):
    """The first ``steps`` steps of run r (None stays None)."""
    if r is None or len(r.xs) <= steps + 1:
        return r
    cut = slice(steps + 1)
    return dataclasses.replace(
        r, xs=r.xs[cut], losses=r.losses[cut], steps=r.steps[cut], diverged_at=None, reason=""
    )


def _round_limit(value, ladder, up=True):
    """value > 0 rounded up (or down) to the nearest m × 10^e with m in ladder (1 … 10)."""
    e = math.floor(math.log10(value))
    m = value / 10.0**e
    if up:
        return next(k for k in ladder if k >= m * (1 - 1e-12)) * 10.0**e
    return max(k for k in ladder if k <= m * (1 + 1e-12)) * 10.0**e


def _power_of_ten(value, _):
    """Tick label such as 1e-03 or 0.5 in plain text: mathtext labels are slow to draw."""
    return f"{value:.0e}" if value < 1e-3 or value >= 1e4 else f"{value:g}"


def explore(
    step,
    problem="course quadratic",
    steps=30,
    x0=None,
    label=None,
    max_steps=200,
    continuous=False,
    **sliders,
):
    """An explorer for one step function: a slider per hyperparameter, the start, the steps.

    step: a step function (optimiser contract); its keyword hyperparameters with
    numeric defaults become sliders. problem: a 2-D Problem or a name of
    ``course_lib.PROBLEMS``. steps: the initial number of steps (slider up to
    max_steps). x0: the initial start (default: the problem's). Keyword
    arguments override a hyperparameter's slider: a value ``lr=0.05``, a range
    ``lr=(1e-3, 1.0)`` or both ``lr=(1e-3, 1.0, 0.05)``, or a widget.
    continuous: redraw while a slider is dragged (default: when it is released).
    Returns an ``Explorer`` (an ipywidgets VBox): end the cell with it.
    """
    defaults = hyperparameters_of(step)
    unknown = sorted(set(sliders) - set(defaults))
    if unknown:
        raise ValueError(
            f"{name_of(step)}() has no numeric hyperparameter(s) {unknown}; "
            f"its sliders are {sorted(defaults)}"
        )
    made = {name: make_slider(name, value, sliders.get(name)) for name, value in defaults.items()}
    return Explorer(
        [(label or name_of(step), step, made, {})],
        problem,
        steps=steps,
        x0=x0,
        max_steps=max_steps,
        continuous=continuous,
    )


def compare(
    optimizers,
    problem="course quadratic",
    steps=30,
    x0=None,
    sliders=("lr",),
    max_steps=200,
    continuous=False,
):
    """An explorer for several optimisers side by side: shared problem, start and steps.

    optimizers: a dict ``label → step`` or ``label → (step, hyperparameters)``, or
    a list of steps or of ``(label, step, hyperparameters)``. Each optimiser gets
    its own slider for every name in ``sliders`` (default: only ``lr``, log
    scale), starting from its hyperparameters or else its defaults; its other
    hyperparameters stay fixed at those values. continuous: as for ``explore``.
    Returns an ``Explorer``.
    """
    entries = []
    for label, step, hp in normalise(optimizers):
        defaults = hyperparameters_of(step)
        unknown = sorted(set(hp) - set(defaults))
        if unknown:
            raise ValueError(
                f"{label}: {name_of(step)}() has no hyperparameter(s) {unknown}; "
                f"it has {sorted(defaults)}"
            )
        values = {**defaults, **hp}
        made = {
            name: make_slider(name, defaults[name], values[name], description=name)
            for name in sliders
            if name in defaults
        }
        fixed = {name: v for name, v in hp.items() if name not in made}
        entries.append((label, step, made, fixed))
    labels = [e[0] for e in entries]
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels must differ, got {labels}: pass a dict label → step")
    return Explorer(
        entries, problem, steps=steps, x0=x0, max_steps=max_steps, continuous=continuous
    )


class PlotExplorer(widgets.VBox):
    """Controls and a figure that follows them (see ``explore_plot``)."""

    def __init__(self, draw, controls, figure=None):
        self.draw, self.controls, self.redraws, self._busy = draw, controls, 0, False
        self.picture = None if figure is None else Picture(figure)
        if figure is None:
            layout = widgets.Layout(max_width="100%", height="auto")
            self.image = widgets.Image(format="png", layout=layout)
        else:
            self.image = self.picture.widget
        self.status = widgets.HTML()
        self._png, self._figure = b"", None
        row = widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap"))
        super().__init__([row, self.image, self.status])
        for control in controls.values():
            control.observe(self._on_change, names="value")
        self.redraw()

    @property
    def png(self):
        """The picture on show, as PNG bytes (b"" before the first one)."""
        return self._png

    @property
    def figure(self):
        """The figure on show (None before the first one)."""
        return self.picture.figure if self.picture else self._figure

    def _on_change(self, change):
        if not self._busy:
            self.redraw()

    def update(self, **values):
        """Set controls by name and redraw once; returns the PNG bytes."""
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise ValueError(
                f"unknown control(s) {unknown}; this explorer has {sorted(self.controls)}"
            )
        self._busy = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._busy = False
        return self.redraw()

    def _show(self, returned):
        if self.picture is None:  # draw made a new figure: draw it whole
            if not isinstance(returned, Figure):
                raise TypeError(
                    f"{name_of(self.draw)}() returned {type(returned).__name__}, not a figure"
                )
            self.image.layout.width = _shown_width(returned)  # not a new Layout widget
            self.image.value = png = figure_png(returned)
            self._figure = returned
            return png
        figure = self.picture.figure
        if isinstance(returned, Figure) and returned is not figure:
            raise TypeError(
                f"{name_of(self.draw)}() returned another figure than the one it was given "
                "(figure=): change that one's artists and return them (or None)"
            )
        if returned is None or returned is figure:  # no word on what changed: ask matplotlib
            if not self.picture.full_draws:
                return self.picture.show()
            changing = self.picture.stale_artists()
        else:
            changing = list(returned) if isinstance(returned, (list, tuple)) else [returned]
        # The kept pixels hold the axes whose limits are not redrawn, and every artist that
        # does not change: new limits, or an artist added or removed, need new pixels.
        key = tuple(
            None if axis in changing else tuple(axis.get_view_interval())
            for ax in figure.axes
            for axis in (ax.xaxis, ax.yaxis)
        ) + tuple(id(a) for ax in figure.axes for a in ax.get_children())
        return self.picture.show(changing, key)

    def redraw(self):
        """Call the function with the controls' values and show the figure (or its error)."""
        values = {name: control.value for name, control in self.controls.items()}
        try:
            self._png = self._show(self.draw(**values))
            self.status.value = ""
        except CourseError as exc:  # e.g. an unfinished exercise: say so, keep the last picture
            self.status.value = "".join(_red([str(exc)]))
        except Exception as exc:  # a bug in the function: show it in the widget
            self.status.value = "".join(_red([f"{type(exc).__name__}: {exc}"]))
        self.redraws += 1
        return self._png

    def __repr__(self):
        return f"<PlotExplorer of {name_of(self.draw)}() with {sorted(self.controls)}>"


def explore_plot(draw, figure=None, **controls):
    """Controls for ``draw``'s arguments and a figure that follows them.

    Quick (blitting, for explorers an instructor drags): make the figure once and pass it
    as ``figure``; ``draw(**values)`` changes its artists (``line.set_data``,
    ``text.set_text``, ``ax.set_ylim`` …) and returns the artists it changed, as
    ``FuncAnimation(blit=True)`` does; everything else is drawn once and kept as pixels.
    Return ``ax.yaxis`` (or ``ax.xaxis``) among them when their limits change: the ticks
    are redrawn; limits that change without it make a full redraw (right, but slower).
    Returning None (or ``figure``) lets matplotlib tell: the artists it marked stale are
    redrawn. Simple (slow: a new figure each time): ``draw(**values)`` returns a new
    matplotlib Figure (e.g. from ``plots.subplots``), without ``figure``.

    controls: one ipywidgets control per argument (a slider, a drop-down…; labelled with
    the argument's name if it has no label), or a value or range as for ``explore``
    (``make_slider``). Like ``explore``, the picture is a PNG in an ``ipywidgets.Image``
    at a fixed size, twice as dense: no Output widget, so it works with ipywidgets 7 and 8.
    """
    made = {}
    for name, spec in controls.items():
        if isinstance(spec, (tuple, list)):  # (min, max) or (min, max, value)
            made[name] = make_slider(name, spec[2] if len(spec) == 3 else spec[0], spec)
        else:
            made[name] = make_slider(name, spec, spec)
    for control in made.values():
        control.continuous_update = False
    return PlotExplorer(draw, made, figure)
