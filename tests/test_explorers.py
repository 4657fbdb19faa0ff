"""The lessons' own explorers (course_lib.explorers): what they draw, and how they redraw."""

import numpy as np
import pytest

from course_lib import (
    LeastSquares,
    data,
    explore_gradient_norms,
    explore_noise_floor,
    explore_schedules,
    schedules,
)
from course_lib.data import load_diabetes
from course_lib.mlp import MLP, split_train_validation


@pytest.fixture(scope="module")
def diabetes():
    return LeastSquares(*load_diabetes())


@pytest.fixture(scope="module")
def digits():
    X, y, _, _ = split_train_validation(*data.load_digits(), validation=0.2, seed=0)
    return X[:256], y[:256]


def sgd_many(X, y, w0, lr, seeds, batch_size, updates):
    """Lesson 01's sgd_many(..., replace=True), written out as the lesson does it."""
    n = len(y)
    rngs = [np.random.default_rng(seed) for seed in seeds]
    W, iterates = np.tile(w0, (len(rngs), 1)).astype(float), []
    while len(iterates) < updates:
        order = np.array([rng.integers(0, n, -(-n // batch_size) * batch_size) for rng in rngs])
        for start in range(0, n, batch_size):
            idx = order[:, start : start + batch_size]
            Xb = X[idx]
            residual = np.einsum("rbd,rd->rb", Xb, W) - y[idx]
            W = W - lr * np.einsum("rbd,rb->rd", Xb, residual) / idx.shape[1]
            iterates.append(W)
    return np.array(iterates[:updates])


def moves(explorer, values):
    """Move each control through its values, one redraw each; returns the PNGs."""
    pngs = []
    for name, many in values.items():
        for value in many:
            pngs.append(explorer.update(**{name: value}))
            assert explorer.status.value == "", explorer.status.value
    return pngs


def test_noise_floor_draws_lesson_01s_runs_and_floor(diabetes):
    e = explore_noise_floor(diabetes)
    e.update(lr=0.1, batch_size=8)
    W = sgd_many(diabetes.X, diabetes.y, diabetes.x0, 0.1, (0, 1, 2), 8, 700)
    err = W - diabetes.minima[0]
    gaps = 0.5 * np.einsum("urd,de,ure->ur", err, diabetes.A, err)
    ax = e.figure.axes[0]
    shown = np.array([line.get_ydata() for line in ax.lines[:3]]).T
    np.testing.assert_allclose(shown, gaps, rtol=1e-9)
    # the lesson's own cell (01): LeastSquares.sgd_runs with replacement, f − f* per update
    runs = diabetes.sgd_runs(diabetes.x0, [0.1] * 3, [0, 1, 2], 8, 700, replace=True)
    np.testing.assert_allclose(shown, diabetes.excess_loss(runs), rtol=1e-9)
    sigma2 = np.mean(np.sum(diabetes.example_grads(diabetes.minima[0]) ** 2, axis=1))
    floor = 0.1 * sigma2 / (4 * 8)
    assert ax.lines[3].get_ydata()[0] == pytest.approx(floor)
    assert f"= {floor:.1e}" in ax.get_legend().get_texts()[0].get_text()
    assert ax.get_title() == "η = 0.1, |B| = 8"


def test_schedules_draw_course_lib_schedules(diabetes):
    e = explore_schedules()
    e.update(max_lr=0.3, total=400, warmup=50, pct_start=0.25)
    lines = {line.get_label(): line for line in e.figure.axes[0].lines}
    t = np.arange(400)
    np.testing.assert_allclose(
        lines["cosine"].get_ydata(), schedules.cosine_annealing_lr(t, 0.3, T_max=400)
    )
    np.testing.assert_allclose(
        lines["one-cycle"].get_ydata(),
        schedules.one_cycle_lr(t, 0.3, total_steps=400, pct_start=0.25),
    )
    warm = lines["warm-up, then cosine"].get_ydata()
    assert warm[0] == pytest.approx(0.003) and warm[50] == pytest.approx(0.3)
    assert e.figure.axes[0].get_ylim() == pytest.approx((0, 0.315))
    e.update(warmup=0)  # no warm-up: plain cosine
    np.testing.assert_allclose(
        lines["warm-up, then cosine"].get_ydata(), lines["cosine"].get_ydata()
    )


def test_gradient_norms_are_lesson_07s_network(digits):
    X, y = digits
    e = explore_gradient_norms(X, y)
    e.update(depth=6, gain=2.0, activation="tanh")
    net = MLP(X, y, (64,) + (32,) * 6 + (10,), activation="tanh", init=2.0, seed=0)
    line = e.figure.axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), net.layer_grad_norms(net.x0))
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 8))
    assert e.figure.axes[0].get_title().startswith("tanh, 6 hidden layers: loss ")


def test_each_redraws_by_blitting_every_control_and_labels_it(diabetes, digits):
    cases = [
        (explore_noise_floor(diabetes), {"lr": [0.002, 0.3], "batch_size": [1, 256]}),
        (
            explore_schedules(),
            {"max_lr": [0.01, 1.0], "total": [50, 1000], "warmup": [0, 200], "pct_start": [0.9]},
        ),
        (
            explore_gradient_norms(*digits),
            {"depth": [1, 20], "gain": [0.4, 3.0], "activation": ["tanh"]},
        ),
    ]
    for e, values in cases:
        first = e.png
        pngs = moves(e, values)
        assert e.picture.full_draws == 1, e  # only the first picture was drawn whole
        assert len(set(pngs)) == len(pngs) and first not in pngs  # every move shows
        assert all(c.description for c in e.controls.values())
        shown = int(e.image.layout.width.removesuffix("px"))
        assert e.png[16:20] == (2 * shown).to_bytes(4, "big")  # the PNG's width: twice as dense


def test_each_shows_its_text_at_least_12_px_tall_at_1024x768(diabetes, digits):
    from course_lib import plots

    for e in (explore_noise_floor(diabetes), explore_schedules(), explore_gradient_norms(*digits)):
        assert plots.png_text_px(e.png) >= plots.LEGIBLE_PX, e
