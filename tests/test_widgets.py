"""The explorers: sliders from step signatures, redraws without a browser, bad input."""

import itertools
import warnings

import ipywidgets
import numpy as np
import pytest

from course_lib import PROBLEMS, course_quadratic, optimizers, quadratic_with_spectrum, widgets
from course_lib.contract import hyperparameters_of
from course_lib.widgets import compare, explore


def _pixels(png):
    import io

    import PIL.Image

    return np.asarray(PIL.Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)


def test_sliders_come_from_the_signature_with_log_scale_for_lr_and_eps():
    e = explore(optimizers.adam, course_quadratic)
    s = e.sliders
    assert set(s) == {"problem", "x1", "x2", "steps", "lr", "beta1", "beta2", "eps", "weight_decay"}
    assert isinstance(s["lr"], ipywidgets.FloatLogSlider)
    assert isinstance(s["eps"], ipywidgets.FloatLogSlider)
    for name in ("beta1", "beta2", "weight_decay"):
        assert type(s[name]) is ipywidgets.FloatSlider, name
    # every slider starts at the step's default, exactly
    for name, default in hyperparameters_of(optimizers.adam).items():
        assert s[name].value == pytest.approx(default, rel=1e-12), name
    assert isinstance(s["problem"], ipywidgets.Dropdown)
    assert set(s["problem"].options) == set(PROBLEMS)
    # A cell that ends with it displays it: a view of its own model, holding the picture.
    if hasattr(e, "_repr_mimebundle_"):  # ipywidgets 8
        view = e._repr_mimebundle_()["application/vnd.jupyter.widget-view+json"]
        assert view["model_id"] == e.model_id
    else:  # ipywidgets 7 displays through _ipython_display_, with its model's id
        assert e.model_id and callable(e._ipython_display_)
    assert any(isinstance(w, ipywidgets.Image) and w.value for w in e.children)


def test_every_optimiser_gets_an_explorer_and_linear_sliders_for_momentum_terms():
    for name, step in optimizers.STEPS.items():
        e = explore(step, "Rosenbrock", steps=5)
        for hp in ("gamma", "rho"):
            if hp in e.sliders:
                assert type(e.sliders[hp]) is ipywidgets.FloatSlider
        assert isinstance(e.sliders["lr"], ipywidgets.FloatLogSlider), name
        assert e.runs[0] is not None and len(e.runs[0].losses) >= 2, name


def test_overrides_set_range_and_value():
    e = explore(optimizers.gd, course_quadratic, lr=(1e-3, 1.0, 0.05))
    lr = e.sliders["lr"]
    assert (lr.min, lr.max) == pytest.approx((-3.0, 0.0))  # exponents of ten
    assert lr.value == pytest.approx(0.05)
    e = explore(optimizers.momentum, course_quadratic, gamma=0.5)
    assert e.sliders["gamma"].value == 0.5
    with pytest.raises(ValueError, match="no numeric hyperparameter"):
        explore(optimizers.gd, course_quadratic, gamma=0.9)
    assert explore(optimizers.momentum, course_quadratic, gamma=1.2).sliders["gamma"].value == 1.2
    with pytest.raises(ValueError, match="outside its range"):
        explore(optimizers.gd, course_quadratic, lr=(1e-3, 1.0, 3.0))
    with pytest.raises(ValueError, match="positive range"):
        explore(optimizers.gd, course_quadratic, lr=(0.0, 1.0))
    with pytest.raises(ValueError, match="2-D"):
        explore(optimizers.gd, quadratic_with_spectrum([1.0, 2.0, 3.0]))


def test_a_redraw_follows_the_sliders_and_changes_the_picture():
    e = explore(optimizers.gd, course_quadratic, steps=20, lr=0.1)
    first = e.png
    assert first.startswith(b"\x89PNG")
    e.update(lr=0.4)
    # the runs use the slider values: the same as calling the runner directly
    from course_lib import run

    expected = run(optimizers.gd, course_quadratic, steps=20, lr=0.4)
    np.testing.assert_allclose(e.runs[0].xs, expected.xs, rtol=1e-6)
    assert e.image.value == e.png
    assert np.abs(_pixels(e.png) - _pixels(first)).sum() > 0
    # the same controls give the same picture: nothing stale is left on the canvas
    again = e.update(lr=0.1)
    assert np.array_equal(_pixels(again), _pixels(first))


def test_moving_a_slider_redraws_through_the_widget_callbacks():
    e = explore(optimizers.momentum, course_quadratic)
    n = e.redraws
    e.sliders["gamma"].value = 0.5  # what a browser does
    assert e.redraws == n + 1
    assert e.runs[0].hyperparameters["gamma"] == 0.5
    e.sliders["steps"].value = 7
    assert len(e.runs[0].losses) == 8


def test_switching_problem_moves_the_start_into_the_new_window():
    e = explore(optimizers.gd, course_quadratic, lr=0.001)
    e.update(problem="Beale")
    assert e.problem is PROBLEMS["Beale"]
    np.testing.assert_allclose([e.x1.value, e.x2.value], PROBLEMS["Beale"].x0, atol=0.05)
    (a, b), (c, d) = PROBLEMS["Beale"].window
    assert (e.x1.min, e.x1.max, e.x2.min, e.x2.max) == (a, b, c, d)
    assert e.x1.readout_format == ".3f"  # Beale's start moves by 0.045: three decimals
    e.update(problem="saddle")  # f* = −∞: a linear loss axis
    assert e.ax_loss.get_yscale() == "linear"


def test_divergence_and_errors_show_in_the_status_line_without_raising():
    e = explore(optimizers.gd, course_quadratic, lr=0.1)
    e.update(lr=5.0)
    assert e.runs[0].diverged_at is not None
    assert "diverged" in e.status.value

    def unfinished(x, grad, state, lr=0.1):
        raise NotImplementedError("Exercise 1.1: gradient descent")

    e = explore(unfinished, course_quadratic)
    assert "Exercise 1.1" in e.status.value and e.runs == [None]

    def broken(x, grad, state, lr=0.1):
        return [0.0, 0.0]

    e = explore(broken, course_quadratic)
    assert "StepError" in e.status.value or "returned a list" in e.status.value


def test_compare_has_one_lr_slider_per_optimiser_and_fixed_values():
    c = compare(
        {
            "GD": (optimizers.gd, {"lr": 1e-3}),
            "momentum": (optimizers.momentum, {"lr": 0.05, "gamma": 0.8}),
            "Adam": (optimizers.adam, {"lr": 0.3}),
        },
        "Beale",
        steps=25,
    )
    s = c.sliders
    assert {"GD.lr", "momentum.lr", "Adam.lr"} <= set(s)
    assert all(isinstance(s[k], ipywidgets.FloatLogSlider) for k in ("GD.lr", "momentum.lr"))
    assert s["momentum.lr"].value == pytest.approx(0.05)
    assert [r.label for r in c.runs] == ["GD", "momentum", "Adam"]
    assert c.runs[1].hyperparameters == {"lr": pytest.approx(0.05), "gamma": 0.8}
    before = c.runs[0].xs.copy()
    after_adam = c.runs[2].xs.copy()
    c.update(**{"GD.lr": 3e-3})
    assert not np.allclose(c.runs[0].xs, before)  # GD changed
    np.testing.assert_array_equal(c.runs[2].xs, after_adam)  # Adam did not
    with pytest.raises(ValueError, match="unknown control"):
        c.update(lr=0.1)
    with pytest.raises(ValueError, match="labels must differ"):
        compare([optimizers.gd, optimizers.gd])
    c2 = compare(
        [("a", optimizers.gd, {}), ("b", optimizers.nesterov, {"gamma": 0.5})],
        sliders=("lr", "gamma"),
    )
    assert "b.gamma" in c2.sliders and "a.gamma" not in c2.sliders


@pytest.fixture
def draws(monkeypatch):
    """Counts of the drawing work done: whole figures drawn, axes' ticks drawn, new figures."""
    import matplotlib.axis
    import matplotlib.figure

    counts = {"figure": 0, "axis": 0, "new figures": 0}

    def counting(cls, method, what):
        original = getattr(cls, method)

        def wrapper(self, *args, **kwargs):
            counts[what] += 1
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, method, wrapper)

    counting(matplotlib.figure.Figure, "draw", "figure")
    counting(matplotlib.axis.Axis, "draw", "axis")
    counting(matplotlib.figure.Figure, "__init__", "new figures")
    return counts


def test_a_redraw_draws_only_what_changed(draws, monkeypatch):
    # The README's redraw times rest on this (tools/benchmark.py widgets measures them):
    # a slider move draws no whole figure and makes none, reruns only the optimiser
    # whose slider moved, and redraws an axis only when its limits change.
    c = compare(
        {
            "GD": optimizers.gd,
            "momentum": (optimizers.momentum, {"lr": 1e-4}),
            "Adam": optimizers.adam,
        },
        "Rosenbrock",
    )
    assert draws["figure"] <= 2  # the first picture (and Rosenbrock's contours, once a process)
    ran = []
    real_run = widgets.run
    monkeypatch.setattr(widgets, "run", lambda *a, **k: ran.append(k["label"]) or real_run(*a, **k))
    before, full_draws = dict(draws), c.picture.full_draws
    for k in range(8):
        c.update(**{"GD.lr": 10 ** (-4 + k / 8)})
    assert draws["figure"] == before["figure"] and draws["new figures"] == before["new figures"]
    assert ran == ["GD"] * 8
    assert draws["axis"] - before["axis"] <= 8  # the loss axis only: the steps did not change
    c.update(steps=60)  # more steps: each run again (to twice its length, or as asked)
    c.update(steps=45)  # fewer: the first 45 steps of those runs, nothing reruns
    assert ran[8:] == ["GD", "momentum", "Adam"] and draws["figure"] == before["figure"]
    assert [len(r.losses) for r in c.runs] == [46, 46, 46]
    c.update(problem="Beale")  # a new problem: its still parts are drawn once,
    c.update(problem="Rosenbrock")  # and kept: back to the first one without a full draw
    c.update(x1=-1.0)
    assert c.picture.full_draws == full_draws + 1  # (Beale's contours: another figure's draw)
    assert draws["new figures"] <= before["new figures"] + 1  # Beale's contours, once a process


def test_the_loss_panel_keeps_its_axes_while_a_slider_moves_a_little(draws):
    # Its limits are round numbers (1, 2 or 5 × 10^k for the loss, a round number of steps):
    # a presenter's small moves redraw no axis, and the limits still frame every curve.
    c = compare({"GD": optimizers.gd, "Adam": optimizers.adam}, course_quadratic, steps=57)
    ax = c.ax_loss
    limits, axes_drawn = (ax.get_xlim(), ax.get_ylim()), draws["axis"]
    for k in range(1, 4):
        c.update(steps=57 + k, x1=c.x1.value + c.x1.step)
    assert (ax.get_xlim(), ax.get_ylim()) == limits and draws["axis"] == axes_drawn
    for problem, steps in itertools.product(("course quadratic", "saddle"), (5, 57, 140, 200)):
        c.update(problem=problem, steps=steps)  # the saddle's f* is -inf: a linear loss axis
        losses = np.concatenate([line.get_ydata() for line in c.curves])
        low, high = ax.get_ylim()
        assert steps <= ax.get_xlim()[1] <= 4 / 3 * steps
        assert low < losses.min() and losses.max() < high
        if c.log_loss:
            assert losses.min() / 4 < low and high < 4 * losses.max()
        else:
            assert high - low < 2.5 * (losses.max() - losses.min())


def test_blitting_shows_the_same_picture_as_a_whole_draw():
    e = explore(optimizers.momentum, course_quadratic, steps=25, lr=0.3, gamma=0.6)
    e.update(lr=0.05, steps=40)
    e.update(lr=0.3, steps=25)
    blitted = _pixels(e.png)
    for artist in e.picture.changing:
        artist.set_animated(False)
    whole = _pixels(widgets.figure_png(e.figure))
    # Only what lies on top of what may differ (the runs are drawn over the minimum's star)
    assert blitted.shape == whole.shape
    assert np.mean(np.any(blitted != whole, axis=-1)) < 0.002


def test_pictures_are_twice_as_dense_as_they_are_shown():
    from course_lib import explore_plot, plots

    def draw(k=1.0):
        fig, _ = plots.subplots(figsize=(4, 3))
        return fig

    for e in (explore(optimizers.gd, course_quadratic), explore_plot(draw, k=(0.5, 2.0))):
        shown = int(e.image.layout.width.removesuffix("px"))
        assert e.image.layout.max_width == "100%" and e.image.layout.height == "auto"
        assert (
            _pixels(e.png).shape[1] == 2 * shown == 2 * widgets.SHOWN_DPI * e.figure.get_figwidth()
        )


def test_png_bytes_is_a_valid_png_of_the_pixels():
    import io

    import PIL.Image

    rgba = np.random.default_rng(0).integers(0, 256, (7, 5, 4), dtype=np.uint8)
    decoded = PIL.Image.open(io.BytesIO(widgets.png_bytes(rgba)))
    assert decoded.mode == "RGBA" and np.array_equal(np.asarray(decoded), rgba)


def test_readouts_show_the_precision_the_step_needs():
    assert widgets.readout_format(0.005) == ".3f"
    assert format(0.545, ".3f") != format(0.55, ".3f")  # d3's "f" is Python's
    assert [widgets.readout_format(s) for s in (0.05, 0.25, 1, 50, 0.001)] == [
        ".2f",
        ".2f",
        ".0f",
        ".0f",
        ".3f",
    ]
    assert widgets.readout_format(0.1, start=0.05) == ".2f"
    assert widgets.readout_format(1 / 3) == ".1f"  # not a round step: enough to resolve it
    assert widgets.readout_format(0.01, log=True) == ".3g"  # a step of ×1.023 on a log slider
    # Lesson 01's η slider (linear, step 0.005) now reads 0.545 and 0.550 apart
    lr = ipywidgets.FloatSlider(value=0.4, min=0.0, max=0.6, step=0.005, description="lr")
    explore(optimizers.gd, course_quadratic, lr=lr)
    assert lr.readout_format == ".3f"
    chosen = ipywidgets.FloatSlider(step=0.005, readout_format=".1f")
    explore(optimizers.gd, course_quadratic, lr=chosen)
    assert chosen.readout_format == ".1f"  # a format the author chose is kept


def test_every_control_has_a_label():
    from course_lib import explore_plot, plots

    def draw(depth=3, activation="relu", pct_start=0.3):
        return plots.subplots(figsize=(3, 2))[0]

    e = explore_plot(
        draw,
        depth=ipywidgets.IntSlider(value=3, min=1, max=5),
        activation=ipywidgets.Dropdown(options=["relu", "tanh"]),
        pct_start=ipywidgets.FloatSlider(value=0.3, min=0.05, max=0.9, step=0.05),
    )
    assert [c.description for c in e.controls.values()] == ["depth", "activation", "pct_start"]
    assert e.controls["pct_start"].readout_format == ".2f"
    assert all(c.style.description_width == "initial" for c in e.controls.values())
    for c in explore(optimizers.adam, "Beale").controls.values():
        assert c.description, c


def test_ipywidgets_version_is_supported():
    major = int(ipywidgets.__version__.split(".")[0])
    assert major in (7, 8), ipywidgets.__version__
    assert widgets.Explorer.__mro__[1] is ipywidgets.VBox


def test_a_run_that_blows_up_slowly_is_flagged_and_others_keep_their_summaries():
    # η = 0.55 > 2/λmax = 0.5: f grows by orders of magnitude without reaching 1e10×
    e = explore(optimizers.gd, course_quadratic, lr=0.55, steps=40)
    assert "gd is diverging: f − f* grew from 10.5 to" in e.status.value
    c = compare(
        {"GD": (optimizers.gd, {"lr": 0.6}), "Adam": (optimizers.adam, {"lr": 0.1})},
        course_quadratic,
        steps=40,
    )
    status = c.status.value
    assert "GD diverged at step" in status or "GD is diverging" in status
    assert "Adam: f = " in status  # one diverging optimiser does not hide the other


def test_explore_plot_redraws_the_figure_its_function_returns():
    from course_lib import explore_plot, plots

    calls = []

    def draw(scale=1.0, n=10):
        calls.append((scale, n))
        fig, ax = plots.subplots(figsize=(3, 2))
        ax.plot(np.arange(n), scale * np.arange(n))
        return fig

    e = explore_plot(draw, scale=(0.5, 2.0, 1.0), n=ipywidgets.IntSlider(value=10, min=2, max=50))
    assert calls == [(1.0, 10)] and e.png.startswith(b"\x89PNG") and e.image.value == e.png
    before = e.png
    e.controls["scale"].value = 2.0  # as a browser does: one redraw
    assert calls[-1] == (2.0, 10) and e.png != before
    e.update(scale=0.5, n=20)  # both at once: one redraw
    assert calls[-1] == (0.5, 20) and len(calls) == 3
    # a function that fails shows why in the widget, and the picture stays
    e = explore_plot(lambda k=1: 1 / 0, k=(0, 5, 1))
    assert "ZeroDivisionError" in e.status.value and e.png == b""


def test_fewer_steps_show_the_first_steps_of_the_run_kept():
    from course_lib import run

    e = explore(optimizers.gd, course_quadratic, steps=100, lr=0.7)  # explodes at step 20
    assert e.runs[0].diverged_at == 20 and "diverged at step 20" in e.status.value
    for steps in (40, 20, 19, 12):
        e.update(steps=steps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fresh = run(optimizers.gd, course_quadratic, steps=steps, lr=0.7)
        np.testing.assert_array_equal(e.runs[0].xs, fresh.xs)
        assert e.runs[0].diverged_at == fresh.diverged_at
    assert "diverged" not in e.status.value and "gd is diverging" in e.status.value


def test_explore_plot_redraws_what_matplotlib_marked_stale_when_told_nothing():
    from course_lib import explore_plot, plots

    fig, ax = plots.subplots(figsize=(4, 3))
    (still,) = ax.plot([0, 1], [0, 1], color="0.7")  # drawn once, kept as pixels
    (line,) = ax.plot([], [])
    label = ax.text(0.05, 0.9, "", transform=ax.transAxes)
    ax.set(xlim=(0, 1), ylim=(0, 2))
    other, _ = plots.subplots(figsize=(4, 3))
    returned = {"k": None}
    extra = []

    def draw(k=1.0, add=0):
        t = np.linspace(0, 1, 50)
        line.set_data(t, k * t**2)
        label.set_text(f"k = {k:.2f}")
        while len(extra) < add:  # an artist added after the first draws
            extra.append(ax.axhline(0.5 + 0.1 * len(extra), color="C3"))
        while len(extra) > add:
            extra.pop().remove()
        return returned["k"]

    e = explore_plot(draw, figure=fig, k=(0.5, 2.0, 1.0), add=(0, 3, 0))
    pngs = [e.update(k=k) for k in (1.5, 0.7, 1.2, 1.9, 0.6)]
    assert len(set(pngs)) == len(pngs)  # every move shows
    # (and the empty titles, which matplotlib never draws, so they stay stale: harmless)
    drawn = [a for a in e.picture.changing if not hasattr(a, "get_text") or a.get_text()]
    assert e.picture.full_draws <= 2 and drawn == [line, label]
    for k in (1.25, 0.8):  # blitted, nothing drawn whole
        e.update(k=k)
    assert e.picture.full_draws <= 2
    # artists added, removed, a still one removed: kept pixels would be wrong, so they are
    # drawn again
    for add in (2, 0, -1):
        if add < 0:
            still.remove()
        blitted = _pixels(e.update(add=max(add, 0), k=0.9))
        for artist in e.picture.changing:
            artist.set_animated(False)
        whole = _pixels(widgets.figure_png(fig))
        assert np.mean(np.any(blitted != whole, axis=-1)) < 0.002, add
        for artist in e.picture.changing:
            artist.set_animated(True)
    returned["k"] = fig  # the figure itself: the same as None
    assert e.update(k=1.1) != e.update(k=1.3) and not e.status.value
    returned["k"] = other  # another figure (a global that a later cell rebound): said
    e.update(k=1.0)
    assert "returned another figure than the one it was given" in e.status.value


def test_every_picture_shows_its_text_at_least_12_px_tall_at_1024x768():
    from course_lib import explore_plot, plots

    def draw(k=1.0):
        fig, ax = plots.subplots(figsize=(4, 3))
        ax.plot([0, k], label="a line")
        ax.legend()
        return fig

    many = {"GD": optimizers.gd, "momentum": optimizers.momentum, "Adam": optimizers.adam}
    for e, move in (
        (explore(optimizers.gd, course_quadratic), {"problem": "Rosenbrock", "steps": 80}),
        (compare(many, course_quadratic), {"steps": 10}),
        (explore_plot(draw, k=(0.5, 2.0)), {"k": 2.0}),
    ):
        for png in (e.png, e.update(**move)):
            assert plots.png_text_px(png) >= plots.LEGIBLE_PX, e
    tiny = explore_plot(lambda k=1.0: draw(k).axes[0].set_title("tiny", fontsize=6).figure, k=1.0)
    assert plots.png_text_px(tiny.png) < plots.LEGIBLE_PX  # the chunk tells a small text
