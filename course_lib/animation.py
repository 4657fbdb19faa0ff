"""Optimiser races: trajectories growing step by step on a problem's contours.

    race([("GD", gd, {"lr": 0.4}), ("momentum", momentum, {"lr": 0.05, "gamma": 0.9})],
         course_quadratic, steps=40)

returns a ``Race``: an ``IPython.display.HTML`` holding matplotlib's JavaScript
player (``FuncAnimation.to_jshtml``), which plays in Jupyter, JupyterLab and
Colab without a kernel. It is deterministic (the same call gives the same
HTML) and small: what never changes (contours, axes, title) is drawn once and
shown, by a CSS rule, behind the player's frames, which are transparent palette PNGs
of the runs only. Measured (``Race.size_mb``): the races of lessons 02–05b, three or
four optimisers over 30 frames at 144 dpi, weigh 0.22–0.39 MB of HTML; ``max_mb``
(1 MB) is the hard limit. For
slides, ``race(...).save_gif("race.gif")`` writes the same frames as a GIF with
Pillow (the still picture included).

In class: the race shows at SHOWN_DPI = 96 pixels per inch (the browser's own inch:
matplotlib's 10-point texts are 13.3 pixels tall, ``plots.LEGIBLE_PX``; the finished
picture's PNG text chunk says so, ``plots.legibility``), and its frames are drawn at 1.5
times that pixel density (sharp on a projector or a high-density screen); the player's
buttons are plain characters, so it needs no web font (works offline); its ``<img>``
holds the finished race as a picture, so a notebook whose scripts do not run (an
untrusted or stored one) still shows it; and every display gets its own ids, so two
players on one page (a copied cell, an exercise notebook beside its solution) each drive
their own picture. The ids are a hash of the race, a per-kernel nonce and a display
counter; the nonce is ``$COURSE_RACE_NONCE`` when set (tools/build.py sets it so that
stored outputs do not change from one execution to the next).
"""

import base64
import hashlib
import itertools
import os
import re
import secrets
import tempfile
from io import BytesIO
from pathlib import Path

import matplotlib
import matplotlib.colors
import numpy as np
import PIL.Image
import PIL.PngImagePlugin
from IPython.display import HTML
from matplotlib.animation import FuncAnimation, HTMLWriter, PillowWriter, adjusted_figsize
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .plots import as_runs, legibility, plot_contours, smallest_text_pt
from .problems import PROBLEMS
from .runners import Run, make_runs

SHOWN_DPI = 96  # pixels shown per inch of the race's figure (CSS pixels: 96 to the inch)
PLAYER = "RACEPLAYERID"  # in a race's HTML, where each display puts its own id
_NONCE = os.environ.get("COURSE_RACE_NONCE") or secrets.token_hex(3)
_DISPLAYS = itertools.count(1)
# matplotlib's player draws its buttons with a web font (Font Awesome, from a CDN);
# plain characters need no network.
BUTTONS = {
    "fa fa-minus": "−",
    "fa fa-fast-backward": "|◀◀",
    "fa fa-step-backward": "|◀",
    "fa fa-play fa-flip-horizontal": "◀",
    "fa fa-pause": "❚❚",
    "fa fa-play": "▶",
    "fa fa-step-forward": "▶|",
    "fa fa-fast-forward": "▶▶|",
    "fa fa-plus": "+",
}


class Race(HTML):
    """A race as HTML (the JavaScript player); ``save_gif(path)`` writes it as a GIF.

    ``data`` is the HTML with the race's own hash as id (deterministic); what a
    notebook displays (``_repr_html_``) has an id of its own each time.
    """

    def __init__(self, html, animation, fps, labels=(), dpi=72, background=None):
        self.template = html
        self.digest = hashlib.sha1(html.encode()).hexdigest()[:16]
        super().__init__(html.replace(PLAYER, self.digest))
        self.animation, self.fps, self.labels, self.dpi = animation, fps, list(labels), dpi
        self.background = background  # the still part of every frame (a PIL image)
        self.keep = [f"C{i}" for i in range(len(self.labels))]  # colours a GIF keeps exactly
        self.size_mb = len(html.encode()) / 1e6

    def _repr_html_(self):
        return self.template.replace(PLAYER, f"{self.digest}{_NONCE}{next(_DISPLAYS)}")

    def __repr__(self):
        # Also the text/plain of a stored output: no memory address, so diffs stay clean.
        return f"<Race of {self.labels}: {self.size_mb:.2f} MB of HTML>"

    def save_gif(self, path, fps=None):
        """Write the animation as a GIF (Pillow) for slides; returns the path."""
        path = Path(path)
        # dpi: the figure's own, so that its pre-drawn background lines up with the runs
        writer = _PaletteGIFWriter(fps=fps or self.fps, keep=self.keep, background=self.background)
        self.animation.save(str(path), writer=writer, dpi=self.dpi)
        return path


def race(
    runs,
    problem,
    steps=50,
    x0=None,
    frames=30,
    fps=6,
    title=None,
    figsize=(4.8, 4.2),
    dpi=144,
    max_mb=1.0,
    gif=None,
):
    """Animate several optimisers racing on a 2-D problem; returns a ``Race`` (HTML).

    runs: Runs (a list, or a dict label → Run), or optimisers as for
    ``make_runs`` (then ``steps`` and ``x0`` apply). frames: at most this many
    frames, evenly spread over the steps (fewer frames, smaller HTML).
    fps: frames per second. figsize: the size shown, in inches at SHOWN_DPI pixels per
    inch; dpi: the pixels drawn per inch (144: 1.5 times as sharp as shown). max_mb:
    matplotlib's embed limit; a race larger than that raises instead of being
    cut short. gif: also save a GIF to this path.
    """
    problem = PROBLEMS[problem] if isinstance(problem, str) else problem
    if problem.dim != 2:
        raise ValueError(f"a race needs a 2-D problem; {problem.name} has {problem.dim} dimensions")
    if isinstance(runs, Run) or (
        isinstance(runs, dict) and all(isinstance(r, Run) for r in runs.values())
    ):
        runs = as_runs(runs)
    elif not (isinstance(runs, (list, tuple)) and runs and all(isinstance(r, Run) for r in runs)):
        runs = make_runs(runs, problem, steps=steps, x0=x0)
    longest = max(len(r.xs) for r in runs)
    ticks = np.unique(np.linspace(0, longest - 1, min(frames, longest)).round().astype(int))

    with matplotlib.rc_context({"animation.embed_limit": max_mb}):
        # A bare Figure with an Agg canvas (not pyplot): shown as HTML only, never as a
        # still by the inline backend, and FuncAnimation's draws land in its pixel buffer.
        # Whole pixels, even in number: what HTMLWriter would resize the figure to, so that
        # the still picture and every frame have one size.
        fig = Figure(figsize=adjusted_figsize(*figsize, dpi, 2), dpi=dpi, layout="constrained")
        canvas = FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        plot_contours(problem, ax=ax)
        ax.set_title(title or f"Race on {problem.name}")
        labels = [
            r.label + (f" (diverged at step {r.diverged_at})" if r.diverged_at else "")
            for r in runs
        ]
        # The legend goes under the axes, in the still picture: it never covers a run.
        handles = [Line2D([], [], lw=1.6, color=f"C{i}") for i in range(len(runs))]
        legend = fig.legend(handles, labels, loc="outside lower center", frameon=False)
        for ncols in (2, 1):  # two columns if they fit in the figure's width
            legend.set_ncols(min(ncols, len(runs)))
            if legend.get_window_extent(canvas.get_renderer()).width <= fig.bbox.width:
                break
        fig.get_layout_engine().execute(fig)
        fig.set_layout_engine("none")
        # What never changes (contours, ticks, labels, title, legend) is drawn once, as one
        # picture; the frames are transparent except for the runs, drawn on a bare axes
        # at the same place, and the player shows them over that picture. Frames are
        # then five times quicker to draw and about ten times smaller.
        canvas.draw()
        still_text_pt = smallest_text_pt(fig)
        background = PIL.Image.fromarray(np.asarray(canvas.buffer_rgba()).copy(), "RGBA")
        position, xlim, ylim = ax.get_position(), ax.get_xlim(), ax.get_ylim()
        fig.clear()
        fig.patch.set_alpha(0.0)
        ax = fig.add_axes(position)
        ax.set(xlim=xlim, ylim=ylim)
        ax.set_axis_off()
        lines, heads = [], []
        for i in range(len(runs)):
            (line,) = ax.plot([], [], "-", lw=1.6, color=f"C{i}")
            (head,) = ax.plot([], [], "o", ms=6, color=f"C{i}", mec="white", zorder=6)
            lines.append(line)
            heads.append(head)
        ax.plot(*runs[0].xs[0].reshape(-1)[:2], "ks", ms=5, zorder=6)
        counter = ax.text(
            0.02,
            0.96,
            "",
            transform=ax.transAxes,
            va="top",
            bbox={"boxstyle": "round", "fc": "white", "alpha": 0.8},
        )

        def draw(k):
            for r, line, head in zip(runs, lines, heads):
                xs = r.xs.reshape(len(r.xs), -1)[: k + 1]
                line.set_data(xs[:, 0], xs[:, 1])
                head.set_data(xs[-1:, 0], xs[-1:, 1])
            counter.set_text(f"step {k}")
            return [*lines, *heads, counter]

        animation = FuncAnimation(fig, draw, frames=ticks, interval=1000 / fps, repeat=False)
        # Everything drawn on a frame: the runs' colours, black to white for text and boxes.
        colors = [f"C{i}" for i in range(len(runs))] + [str(g) for g in np.linspace(0, 1, 9)]
        finish = _finish(runs, draw, fig)
        legible = legibility(fig, SHOWN_DPI)  # the frames' text (the step counter),
        smallest = min(still_text_pt, smallest_text_pt(fig))  # and the still picture's
        legible["course:smallest-text-pt"] = f"{smallest:g}"
        html = _to_jshtml(animation, fps, background, dpi, colors, finish, legible)
    size = len(html.encode()) / 1e6
    if size > max_mb:
        raise ValueError(
            f"this race is {size:.2f} MB, over max_mb={max_mb}: use fewer frames, "
            "a smaller figsize or dpi"
        )
    out = Race(html, animation, fps, [r.label for r in runs], dpi, background)
    if gif:
        out.save_gif(gif)
    return out


def make_palette(rgba, colors, keep=()):
    """A palette image: ``colors`` colours in all, the ``keep`` colours exactly, the rest
    fitted to the picture ``rgba`` (the first frame: mostly the contours)."""
    keep = [tuple(int(round(255 * v)) for v in matplotlib.colors.to_rgb(c)) for c in keep]
    fitted = PIL.Image.fromarray(np.asarray(rgba)[..., :3]).quantize(
        colors=max(colors - len(keep), 2),
        method=PIL.Image.Quantize.FASTOCTREE,
        dither=PIL.Image.Dither.NONE,
    )
    fit = np.array(fitted.getpalette()[: 3 * max(colors - len(keep), 2)]).reshape(-1, 3)
    if keep:  # a fitted colour next to a kept one would take its pixels (Pillow maps coarsely)
        near = np.abs(fit[:, None, :] - np.array(keep)[None]).max(axis=-1).min(axis=1) <= 12
        fit = fit[~near]
    entries = [v for c in keep for v in c] + fit.reshape(-1).tolist()
    palette = PIL.Image.new("P", (1, 1))
    palette.putpalette(entries + entries[:3] * (256 - len(entries) // 3))
    return palette


def encode_png(rgba, palette=None, text=None):
    """A picture as PNG bytes, opaque: with the palette image's colours, or as it is (None);
    text: {keyword: value} for the PNG's text chunk."""
    image = PIL.Image.fromarray(np.asarray(rgba)[..., :3].copy())
    if palette is not None:
        image = image.quantize(palette=palette, dither=PIL.Image.Dither.NONE)
    info = PIL.PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    out = BytesIO()
    image.save(out, format="png", optimize=True, pnginfo=info)
    return out.getvalue()


ALPHA_LEVELS = 8


def encode_overlay_png(rgba, colors):
    """A transparent frame as a palette PNG: each pixel's colour snapped to the nearest of
    ``colors`` (given exactly, e.g. the runs' colours and greys) and its opacity to one of
    ALPHA_LEVELS levels. Lines keep their exact colour and their smooth edges (matplotlib's
    pixels are not premultiplied: an edge pixel has the line's colour, less opacity)."""
    rgba = np.asarray(rgba)
    rgb = [tuple(int(round(255 * v)) for v in matplotlib.colors.to_rgb(c)) for c in colors]
    palette = PIL.Image.new("P", (1, 1))
    flat = [v for c in rgb for v in c]
    palette.putpalette(flat + flat[:3] * (256 - len(rgb)))
    index = np.asarray(
        PIL.Image.fromarray(rgba[..., :3].copy()).quantize(
            palette=palette, dither=PIL.Image.Dither.NONE
        ),
        dtype=np.int32,
    )
    level = np.rint(rgba[..., 3] / 255 * ALPHA_LEVELS).astype(np.int32)  # 0 … ALPHA_LEVELS
    # entry 0: transparent; entry 1 + c·L + (level − 1): colour c at that opacity
    entries = np.where(level == 0, 0, 1 + index * ALPHA_LEVELS + level - 1).astype(np.uint8)
    image = PIL.Image.fromarray(entries, "P")
    table = [0, 0, 0] + [v for c in rgb for _ in range(ALPHA_LEVELS) for v in c]
    image.putpalette(table)
    alphas = [0] + [round(255 * (k + 1) / ALPHA_LEVELS) for _ in rgb for k in range(ALPHA_LEVELS)]
    out = BytesIO()
    image.save(out, format="png", optimize=True, transparency=bytes(alphas))
    return out.getvalue()


class _OverlayHTMLWriter(HTMLWriter):
    """HTMLWriter whose frames are the canvas as FuncAnimation just drew it: transparent
    PNGs of the runs only (the stock writer draws each frame a second time, via savefig)."""

    def __init__(self, *args, colors=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.colors = colors

    def grab_frame(self, **savefig_kwargs):
        png = encode_overlay_png(self.fig.canvas.buffer_rgba(), self.colors)
        self._saved_frames.append(base64.b64encode(png).decode("ascii"))


class _PaletteGIFWriter(PillowWriter):
    """PillowWriter with the frames already drawn and one palette for the whole GIF.

    (Pillow's per-frame palettes can merge close colours, e.g. C1 orange into C3 red.)
    """

    def __init__(self, *args, colors=64, keep=(), background=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.colors, self.keep, self.background, self.palette = colors, keep, background, None

    def grab_frame(self, **savefig_kwargs):
        frame = PIL.Image.fromarray(np.asarray(self.fig.canvas.buffer_rgba()).copy(), "RGBA")
        if self.background is not None:  # the runs over the still picture
            frame = PIL.Image.alpha_composite(self.background, frame)
        rgb = np.asarray(frame)[..., :3]
        if self.palette is None:
            self.palette = make_palette(rgb, self.colors, [*self.keep, "white", "black"])
        self._frames.append(
            PIL.Image.fromarray(rgb).quantize(palette=self.palette, dither=PIL.Image.Dither.NONE)
        )


def _finish(runs, draw, fig):
    """The last frame, as transparent RGBA pixels (drawn now, before the animation runs)."""
    draw(max(len(r.xs) for r in runs) - 1)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


def _to_jshtml(animation, fps, background, dpi, colors, finish, legible=None):
    """``to_jshtml`` with default_mode "once", overlay frames shown over ``background``,
    the finished race in the ``<img>`` itself (with ``legible`` in its PNG text chunk),
    buttons without a web font, and the placeholder id ``PLAYER``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "race.html")
        writer = _OverlayHTMLWriter(fps=fps, embed_frames=True, default_mode="once", colors=colors)
        animation.save(str(path), writer=writer, dpi=dpi)
        html = path.read_text()
    ids = set(re.findall(r'<img id="_anim_img([0-9a-f]{32})"', html))
    if len(ids) != 1:
        raise RuntimeError("matplotlib's HTMLWriter output changed: cannot find its <img>")
    (player,) = ids
    html = html.replace(player, PLAYER)
    html = re.sub(r'<link rel="stylesheet"\s+href="[^"]*font-awesome[^"]*">', "", html)
    for icon, text in BUTTONS.items():
        html = html.replace(f'<i class="{icon}"></i>', f"<span>{text}</span>")
    if "font-awesome" in html or 'class="fa ' in html:
        raise RuntimeError("matplotlib's player changed: it still asks for Font Awesome")
    # The picture shows at SHOWN_DPI pixels per inch, drawn at dpi: sharper on dense screens.
    height, width = background.size[1], background.size[0]
    shown = f'width="{round(width * SHOWN_DPI / dpi)}" height="{round(height * SHOWN_DPI / dpi)}"'
    finished = PIL.Image.alpha_composite(background, PIL.Image.fromarray(finish, "RGBA"))
    runs = [c for c in colors if c.startswith("C")]
    picture = encode_png(finished, make_palette(finished, 64, [*runs, "white", "black"]), legible)
    picture = base64.b64encode(picture).decode("ascii")
    html = html.replace(
        f'<img id="_anim_img{PLAYER}">',
        f'<img id="_anim_img{PLAYER}" {shown} alt="the race, finished" '
        f'src="data:image/png;base64,{picture}">',
    )
    still = base64.b64encode(encode_png(background, make_palette(background, 64))).decode("ascii")
    # The still picture is the background of the player's <img>, stretched with it.
    html += (
        f"<style>#_anim_img{PLAYER} {{background-image: url(data:image/png;base64,{still});"
        " background-size: 100% 100%; background-repeat: no-repeat}</style>\n"
    )
    return html
