"""Optimiser races: trajectories growing step by step on a problem's contours.

    race([("GD", gd, {"lr": 0.4}), ("momentum", momentum, {"lr": 0.05, "gamma": 0.9})],
         course_quadratic, steps=40)

returns a ``Race``: an ``IPython.display.HTML`` holding matplotlib's JavaScript
player (``FuncAnimation.to_jshtml``), which plays in Jupyter, JupyterLab and
Colab without a kernel. It is deterministic (the same call gives the same
HTML) and small (0.3–0.6 MB with the defaults; ``max_mb`` is the hard limit). For slides,
``race(...).save_gif("race.gif")`` writes the same frames as a GIF with Pillow.
"""
import base64
import hashlib
import re
import tempfile
from io import BytesIO
from pathlib import Path

import PIL.Image

import matplotlib
import matplotlib.colors
import numpy as np
from IPython.display import HTML
from matplotlib.animation import FuncAnimation, HTMLWriter, PillowWriter
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .plots import as_runs, plot_contours
from .problems import PROBLEMS
from .runners import Run, run
from .widgets import _normalise


def make_runs(optimizers, problem, steps=50, x0=None):
    """Run several optimisers from the same start: a list of Runs, one per optimiser.

    optimizers: a list of ``(label, step, hyperparameters)``, or a dict ``label →
    step`` or ``label → (step, hyperparameters)`` (as for ``widgets.compare``).
    """
    problem = PROBLEMS[problem] if isinstance(problem, str) else problem
    return [run(step, problem, x0=x0, steps=steps, label=label, **hp)
            for label, step, hp in _normalise(optimizers)]


class Race(HTML):
    """A race as HTML (the JavaScript player); ``save_gif(path)`` writes it as a GIF."""

    def __init__(self, html, animation, fps, labels=(), dpi=72, keep=()):
        super().__init__(html)
        self.animation, self.fps, self.labels, self.dpi = animation, fps, list(labels), dpi
        self.keep = keep     # colours the palette keeps exactly
        self.size_mb = len(html.encode()) / 1e6

    def __repr__(self):
        # Also the text/plain of a stored output: no memory address, so diffs stay clean.
        return f"<Race of {self.labels}: {self.size_mb:.2f} MB of HTML>"

    def save_gif(self, path, fps=None):
        """Write the animation as a GIF (Pillow) for slides; returns the path."""
        path = Path(path)
        # dpi: the figure's own, so that its pre-drawn background lines up with the runs
        writer = _PaletteGIFWriter(fps=fps or self.fps, keep=self.keep)
        self.animation.save(str(path), writer=writer, dpi=self.dpi)
        return path


def race(runs, problem, steps=50, x0=None, frames=30, fps=6, title=None, figsize=(4.8, 3.6),
         dpi=72, colors=32, max_mb=1.0, gif=None):
    """Animate several optimisers racing on a 2-D problem; returns a ``Race`` (HTML).

    runs: Runs (a list, or a dict label → Run), or optimisers as for
    ``make_runs`` (then ``steps`` and ``x0`` apply). frames: at most this many
    frames, evenly spread over the steps (fewer frames, smaller HTML).
    fps: frames per second. figsize, dpi: the size of every frame. max_mb:
    matplotlib's embed limit; a race larger than that raises instead of being
    cut short. gif: also save a GIF to this path.
    """
    problem = PROBLEMS[problem] if isinstance(problem, str) else problem
    if problem.dim != 2:
        raise ValueError(f"a race needs a 2-D problem; {problem.name} has {problem.dim} dimensions")
    if isinstance(runs, Run) or (isinstance(runs, dict) and all(isinstance(r, Run)
                                                                for r in runs.values())):
        runs = as_runs(runs)
    elif not (isinstance(runs, (list, tuple)) and runs and all(isinstance(r, Run) for r in runs)):
        runs = make_runs(runs, problem, steps=steps, x0=x0)
    longest = max(len(r.xs) for r in runs)
    ticks = np.unique(np.linspace(0, longest - 1, min(frames, longest)).round().astype(int))

    with matplotlib.rc_context({"animation.embed_limit": max_mb}):
        # A bare Figure with an Agg canvas (not pyplot): shown as HTML only, never as a
        # still by the inline backend, and FuncAnimation's draws land in its pixel buffer.
        fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        canvas = FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        plot_contours(problem, ax=ax)
        ax.set_title(title or f"Race on {problem.name}", fontsize=11)
        fig.get_layout_engine().execute(fig)
        fig.set_layout_engine("none")
        # What never changes (contours, ticks, labels, title) is drawn once and becomes a
        # picture; each frame draws only the runs on a bare axes at the same place. This
        # makes a frame about five times quicker to draw.
        canvas.draw()
        background = np.asarray(canvas.buffer_rgba()).copy()
        position, xlim, ylim = ax.get_position(), ax.get_xlim(), ax.get_ylim()
        fig.clear()
        fig.figimage(background, origin="upper", zorder=-1)   # under the axes
        ax = fig.add_axes(position)
        ax.set(xlim=xlim, ylim=ylim)
        ax.set_axis_off()
        lines, heads = [], []
        for i, r in enumerate(runs):
            label = r.label + (f" (diverged at step {r.diverged_at})" if r.diverged_at else "")
            (line,) = ax.plot([], [], "-", lw=1.6, color=f"C{i}", label=label)
            (head,) = ax.plot([], [], "o", ms=6, color=f"C{i}", mec="white", zorder=6)
            lines.append(line)
            heads.append(head)
        ax.plot(*runs[0].xs[0].reshape(-1)[:2], "ks", ms=5, zorder=6)
        counter = ax.text(0.02, 0.96, "", transform=ax.transAxes, va="top", fontsize=10,
                          bbox={"boxstyle": "round", "fc": "white", "alpha": 0.8})
        ax.legend(fontsize=8, loc="lower right")

        def draw(k):
            for r, line, head in zip(runs, lines, heads):
                xs = r.xs.reshape(len(r.xs), -1)[: k + 1]
                line.set_data(xs[:, 0], xs[:, 1])
                head.set_data(xs[-1:, 0], xs[-1:, 1])
            counter.set_text(f"step {k}")
            return [*lines, *heads, counter]

        animation = FuncAnimation(fig, draw, frames=ticks, interval=1000 / fps, repeat=False)
        keep = [f"C{i}" for i in range(len(runs))] + ["white", "black", "0.55", "0.85"]
        html = _to_jshtml(animation, fps, colors, keep)
    size = len(html.encode()) / 1e6
    if size > max_mb:
        raise ValueError(f"this race is {size:.2f} MB, over max_mb={max_mb}: use fewer frames, "
                         "a smaller figsize or dpi")
    out = Race(html, animation, fps, [r.label for r in runs], dpi, keep)
    if gif:
        out.save_gif(gif)
    return out


def make_palette(rgba, colors, keep=()):
    """A palette image: ``colors`` colours in all, the ``keep`` colours exactly, the rest
    fitted to the picture ``rgba`` (the first frame: mostly the contours)."""
    keep = [tuple(int(round(255 * v)) for v in matplotlib.colors.to_rgb(c)) for c in keep]
    fitted = PIL.Image.fromarray(np.asarray(rgba)[..., :3]).quantize(
        colors=max(colors - len(keep), 2), method=PIL.Image.Quantize.FASTOCTREE,
        dither=PIL.Image.Dither.NONE)
    entries = fitted.getpalette()[: 3 * max(colors - len(keep), 2)] + [v for c in keep for v in c]
    palette = PIL.Image.new("P", (1, 1))
    palette.putpalette(entries + entries[:3] * (256 - len(entries) // 3))
    return palette


def encode_png(rgba, palette=None):
    """A frame as PNG bytes: with the palette image's colours, or in full colour (None)."""
    image = PIL.Image.fromarray(np.asarray(rgba)[..., :3])
    if palette is not None:
        image = image.quantize(palette=palette, dither=PIL.Image.Dither.NONE)
    out = BytesIO()
    image.save(out, format="png", optimize=True)
    return out.getvalue()


class _PaletteHTMLWriter(HTMLWriter):
    """HTMLWriter whose frames are the canvas as FuncAnimation just drew it, as palette PNGs.

    The stock writer draws every frame a second time through savefig and stores it in
    full colour; this one takes the pixels already drawn, which halves the time, and
    stores them with one small palette for the whole race (the runs' colours kept
    exactly), which divides the size by about five.
    """

    def __init__(self, *args, colors=32, keep=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.colors, self.keep, self.palette = colors, keep, None

    def grab_frame(self, **savefig_kwargs):
        rgba = self.fig.canvas.buffer_rgba()
        if self.colors and self.palette is None:
            self.palette = make_palette(rgba, self.colors, self.keep)
        self._saved_frames.append(base64.b64encode(encode_png(rgba, self.palette)).decode("ascii"))


class _PaletteGIFWriter(PillowWriter):
    """PillowWriter with the frames already drawn and one palette for the whole GIF.

    (Pillow's per-frame palettes can merge close colours, e.g. C1 orange into C3 red.)
    """

    def __init__(self, *args, colors=64, keep=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.colors, self.keep, self.palette = colors, keep, None

    def grab_frame(self, **savefig_kwargs):
        rgba = np.asarray(self.fig.canvas.buffer_rgba())
        if self.palette is None:
            self.palette = make_palette(rgba, self.colors, self.keep)
        self._frames.append(PIL.Image.fromarray(rgba[..., :3]).quantize(
            palette=self.palette, dither=PIL.Image.Dither.NONE))


def _to_jshtml(animation, fps, colors, keep=()):
    """``to_jshtml`` with default_mode "once", palette frames, and a deterministic id."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "race.html")
        writer = _PaletteHTMLWriter(fps=fps, embed_frames=True, default_mode="once",
                                    colors=colors, keep=keep)
        animation.save(str(path), writer=writer, dpi=animation._fig.dpi)
        html = path.read_text()
    # HTMLWriter names its player with uuid4(): replace it by a hash of the frames, so the
    # same race gives the same HTML (clean diffs) and two different races never clash.
    ids = set(re.findall(r"_anim_img([0-9a-f]{32})", html))
    stripped = html
    for old in ids:
        stripped = stripped.replace(old, "")
    digest = hashlib.sha1(stripped.encode()).hexdigest()[:32]
    for old in ids:
        html = html.replace(old, digest)
    return html
