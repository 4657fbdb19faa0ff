"""Interactive explorers for live teaching: sliders for an optimiser's hyperparameters.

    explore(step, problem)                  # one optimiser: a slider per hyperparameter
    compare({"GD": gd, "Adam": adam}, problem)   # several side by side, one lr slider each

Both return an ``Explorer``, an ipywidgets ``VBox``: make it the last expression of
a cell and it shows. Sliders come from the step function's signature (the
optimiser contract of ``course_lib.optimizers``): ``lr`` and ``eps`` get
log-scale sliders, ``gamma``, ``rho``, ``beta1``, ``beta2``, ``weight_decay``
linear ones; a keyword argument overrides a slider: ``lr=(1e-3, 1.0)`` sets its
range, ``lr=0.05`` its starting value, ``lr=(1e-3, 1.0, 0.05)`` both. There are
also sliders for the starting point and the number of steps, and a drop-down
for the problem (``course_lib.PROBLEMS``).

Works with ipywidgets 7.7.1 (Colab) and 8.x and the inline backend (no ipympl):
each redraw renders one persistent figure to PNG and puts it in an
``ipywidgets.Image``. It is fast because nothing that did not change is redone:
the contours of each problem are rendered once into a cached image, and a redraw
only reruns the optimisers and moves the lines. Without a browser (tests,
benchmarks) call ``explorer.update(lr=0.3, steps=50)`` or ``explorer.redraw()``;
``explorer.runs`` holds the last runs and ``explorer.png`` the last picture.
"""

import html
import math
import warnings
from io import BytesIO

import ipywidgets as widgets
import numpy as np
import PIL.Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator, ScalarFormatter

from .contract import CourseError, hyperparameters_of, name_of, normalise
from .plots import plot_contours
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
FIGSIZE, DPI = (9.6, 3.8), 80  # one PNG of 768×304 pixels: small and quick to encode
PANEL_LEFT = (0.065, 0.13, 0.40, 0.78)  # axes positions, fixed: no layout engine per redraw
PANEL_RIGHT = (0.575, 0.13, 0.40, 0.78)
GROWTH = 1e3  # a run whose f − f* grows this many times is flagged as diverging


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


def make_slider(name, default, spec=None, description=None):
    """One slider for hyperparameter ``name``; spec overrides the range: see the module docstring.

    Log-scale sliders (``SLIDERS``) take their range in powers of ten. Without an
    explicit range, a value outside the usual one widens it; with one, a value outside
    it is an error.
    """
    if isinstance(spec, widgets.ValueWidget):
        return spec
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
    options = {"readout_format": ".2e", "base": 10} if log else {"readout_format": ".4g"}
    if log:
        cls = widgets.FloatLogSlider
    elif isinstance(default, int) and isinstance(value, int):
        cls, options, step = widgets.IntSlider, {}, max(step, 1)
    else:
        cls = widgets.FloatSlider
    return cls(
        value=float(value) if log else value,
        min=lo,
        max=hi,
        step=step,
        description=description,
        continuous_update=False,
        style={"description_width": "initial"},
        **options,
    )


def _set_range(slider, lo, hi, value):
    """Change a slider's range and value in an order every ipywidgets version accepts."""
    slider.min, slider.max = min(slider.min, lo), max(slider.max, hi)
    slider.value = value
    slider.min, slider.max = lo, hi


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
        self.runs, self.png, self.redraws = [], b"", 0
        self._busy = False  # set while controls are moved by the code itself
        self._backgrounds = {}  # problem name → rendered contours (an RGBA array)

        style = {"description_width": "initial"}
        self.problem_menu = widgets.Dropdown(
            options=list(self.problems), value=problem.name, description="problem", style=style
        )
        start = problem.x0 if x0 is None else np.asarray(x0, dtype=float)
        self.x1, self.x2 = (
            widgets.FloatSlider(
                value=value,
                min=lo,
                max=hi,
                step=(hi - lo) / 200,
                description=f"start x{sub}",
                continuous_update=False,
                style=style,
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
        self.image = widgets.Image(format="png")
        self.status = widgets.HTML()
        self._make_figure()

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
        self.figure = fig = Figure(figsize=FIGSIZE, dpi=DPI)
        FigureCanvasAgg(fig)
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
                fontsize=8,
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
        # Blitting: what depends only on the problem and the number of steps (contours,
        # frames, the x ticks, labels, the legend) is drawn once and kept as pixels; a
        # redraw pastes it back and draws the "animated" artists: the paths, the loss
        # curves and the loss panel's y axis (its ticks follow the losses).
        for artist in (self.start, *self.paths, *self.ends, *self.curves, self.ax_loss.yaxis):
            artist.set_animated(True)
        self._pixels = {}  # (problem name, loss panel's x range) → the static pixels
        self._show_problem()

    def _contour_image(self, problem):
        """The problem's contours rendered once at the panel's pixel size, as an RGBA array."""
        if problem.name not in self._backgrounds:
            w, h = PANEL_LEFT[2] * FIGSIZE[0], PANEL_LEFT[3] * FIGSIZE[1]
            fig = Figure(figsize=(w, h), dpi=DPI)
            canvas = FigureCanvasAgg(fig)
            ax = fig.add_axes((0, 0, 1, 1))
            plot_contours(problem, ax=ax)
            if len(problem.minima):
                ax.lines[-1].remove()  # the minima's stars are drawn on top later
            ax.set_axis_off()
            canvas.draw()
            self._backgrounds[problem.name] = np.asarray(canvas.buffer_rgba()).copy()
        return self._backgrounds[problem.name]

    def _show_problem(self):
        p = self.problem
        (a, b), (c, d) = p.window
        self.background.set_data(self._contour_image(p))
        self.background.set_extent((a, b, c, d))
        minima = p.minima if len(p.minima) else np.empty((0, 2))
        self.minima.set_data(minima[:, 0], minima[:, 1])
        self.ax_path.set(xlim=(a, b), ylim=(c, d))
        self.ax_path.set_title(p.name, fontsize=10)
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

    def redraw(self):
        """Rerun every optimiser with the current controls and redraw; returns the PNG bytes."""
        x0 = np.array([self.x1.value, self.x2.value])
        self.runs, notes = [], []
        for (label, step, _, _), hp in zip(self.entries, self.values().values()):
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", DivergenceWarning)
                    r = run(step, self.problem, x0=x0, steps=self.steps.value, label=label, **hp)
            except CourseError as exc:  # e.g. an unfinished exercise: say so, keep going
                notes.append(f"{label}: {exc}")
                r = None
            except Exception as exc:  # a bug in a student's step: show it in the widget
                notes.append(f"{label}: {type(exc).__name__}: {exc}")
                r = None
            if r is not None and r.diverged_at:
                notes.append(f"{label} diverged at step {r.diverged_at} ({r.reason})")
            notes += [
                f"{label}: {w.message}"
                for w in caught
                if r is not None and not issubclass(w.category, DivergenceWarning)
            ]
            self.runs.append(r)
        self._draw_runs(x0)
        # Problems in red, then the summary of every run that has one (a diverging run
        # does not hide the others').
        notes += [f"{r.label} is diverging: {why}" for r, why in self._growing()]
        red = [f"<span style='color:#b00'>{html.escape(n, quote=False)}</span>" for n in notes]
        self.status.value = "<br>".join([*red, self._summary()])
        self.png = self._render()
        self.image.value = self.png
        self.redraws += 1
        return self.png

    def _render(self):
        """The figure as PNG bytes: static pixels pasted back, changing artists drawn on them."""
        canvas = self.figure.canvas
        key = (self.problem.name, self.ax_loss.get_xlim())
        pixels = self._pixels.get(key)
        if pixels is None:
            canvas.draw()  # draws everything but the animated artists
            pixels = self._pixels[key] = canvas.copy_from_bbox(self.figure.bbox)
        canvas.restore_region(pixels)
        for artist in (self.start, *self.paths, *self.ends):
            self.ax_path.draw_artist(artist)
        for artist in (self.ax_loss.yaxis, *self.curves):
            self.ax_loss.draw_artist(artist)
        rgba = np.asarray(canvas.buffer_rgba())
        buffer = BytesIO()
        # compress_level=1: a third of the default's encoding time for a slightly larger file.
        PIL.Image.fromarray(rgba[..., :3]).save(buffer, format="png", compress_level=1)
        return buffer.getvalue()

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
        self.ax_loss.set_xlim(0, max(nmax, self.steps.value))
        if np.isfinite(ymin):
            if self.log_loss:
                self.ax_loss.set_ylim(ymin / 2, ymax * 2)
                few_decades = ymax / ymin < 1e3  # then label 2 and 5 times powers of ten too
                self.ax_loss.yaxis.set_major_locator(
                    LogLocator(subs=(1.0, 2.0, 5.0) if few_decades else (1.0,), numticks=6)
                )
            else:
                pad = 0.05 * (ymax - ymin) + 1e-12
                self.ax_loss.set_ylim(ymin - pad, ymax + pad)

    def _growing(self):
        """(run, why) for runs that did not stop but whose f − f* grew by 1000× or more."""
        out = []
        for r in self.runs:
            if r is None or r.diverged_at:
                continue
            gap = np.abs(r.gap)
            if gap[-1] > GROWTH * max(gap[0], 1e-12):
                out.append(
                    (r, f"f − f* grew from {gap[0]:.3g} to {gap[-1]:.3g} in {len(gap) - 1} steps")
                )
        return out

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
    """Sliders and the figure a function draws from their values (see ``explore_plot``)."""

    def __init__(self, draw, controls):
        self.draw, self.controls = draw, controls
        self.image = widgets.Image(format="png")
        self.status = widgets.HTML()
        self.png, self.redraws, self._busy = b"", 0, False
        super().__init__([widgets.HBox(list(controls.values())), self.image, self.status])
        for control in controls.values():
            control.observe(self._on_change, names="value")
        self.redraw()

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

    def redraw(self):
        """Call the function with the controls' values; show its figure (or its error)."""
        values = {name: control.value for name, control in self.controls.items()}
        try:
            fig = self.draw(**values)
            if not isinstance(fig, Figure):
                raise TypeError(
                    f"{name_of(self.draw)}() returned {type(fig).__name__}, not a figure"
                )
            buffer = BytesIO()
            fig.savefig(buffer, format="png", dpi=DPI)
            self.png = self.image.value = buffer.getvalue()
            self.status.value = ""
        except CourseError as exc:  # e.g. an unfinished exercise: say so, keep the last picture
            self.status.value = (
                f"<span style='color:#b00'>{html.escape(str(exc), quote=False)}</span>"
            )
        except Exception as exc:  # a bug in the function: show it in the widget
            message = f"{type(exc).__name__}: {exc}"
            self.status.value = (
                f"<span style='color:#b00'>{html.escape(message, quote=False)}</span>"
            )
        self.redraws += 1
        return self.png

    def __repr__(self):
        return f"<PlotExplorer of {name_of(self.draw)}() with {sorted(self.controls)}>"


def explore_plot(draw, **controls):
    """Sliders for ``draw``'s arguments and the figure it returns, redrawn as they move.

    draw(**values) → a matplotlib Figure (e.g. from ``plots.subplots``); controls: one
    ipywidgets control per argument (a slider, a drop-down…), or a value or range as for
    ``explore`` (``make_slider``). Like ``explore``, the picture is a PNG in an
    ``ipywidgets.Image``: no Output widget, so it works alike with ipywidgets 7 and 8.
    """
    made = {}
    for name, spec in controls.items():
        if isinstance(spec, (tuple, list)):  # (min, max) or (min, max, value)
            made[name] = make_slider(name, spec[2] if len(spec) == 3 else spec[0], spec)
        elif isinstance(spec, widgets.ValueWidget):
            made[name] = spec
        else:
            made[name] = make_slider(name, spec)
    for control in made.values():
        control.continuous_update = False
    return PlotExplorer(draw, made)
