"""The lessons' own explorers (pictures that are not an optimiser's run), one call each:

    explore_noise_floor(diabetes)        # lesson 01: mini-batch SGD's noise floor; η and |B|
    explore_schedules()                  # lesson 06: the five learning-rate schedules
    explore_gradient_norms(X, y)         # lesson 07: ‖∂f/∂W_l‖ by layer; depth, gain, activation

Each makes its figure once and redraws it by changing its artists' data, as
``widgets.explore_plot`` does with a figure (blitting): well under 50 ms a redraw
(``python tools/benchmark.py widgets``). Each returns a ``PlotExplorer``: end the cell
with it; ``update(lr=0.1)`` redraws without a browser.
"""

from functools import partial

import ipywidgets as widgets
import numpy as np

from . import schedules
from .mlp import MLP
from .plots import subplots
from .widgets import explore_plot


def sgd_batches(n, batch_size, seeds, updates):
    """Indices of independent mini-batches, shape (updates, runs, batch_size): for each
    seed, every epoch draws ⌈n/|B|⌉ batches of |B| examples with replacement (lesson 01's
    ``sgd_many(..., replace=True)``, batch for batch)."""
    per_epoch = -(-n // batch_size)
    epochs = -(-updates // per_epoch)
    runs = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        draws = [rng.integers(0, n, per_epoch * batch_size) for _ in range(epochs)]
        runs.append(np.concatenate(draws).reshape(-1, batch_size)[:updates])
    return np.stack(runs, axis=1)


def explore_noise_floor(problem, updates=700, seeds=(0, 1, 2), lr=0.05, batch_size=32):
    """Lesson 01: three runs of mini-batch SGD (independent batches) on a least-squares
    problem from its start, and the predicted noise floor ησ*²/(4|B|), on sliders for η
    and |B|.

    problem: a ``LeastSquares`` (lesson 01: the diabetes data). σ*² is the mean squared
    norm of the example gradients at the minimiser x*. Each mini-batch step is
    x ← x − η (H_B x − g_B) with H_B = X_Bᵀ X_B/|B|, g_B = X_Bᵀ y_B/|B|, computed once per
    batch size: a redraw only runs the updates.
    """
    X, y, x_star = problem.X, problem.y, problem.minima[0]
    sigma2_star = np.mean(np.sum(problem.example_grads(x_star) ** 2, axis=1))
    per_batch_size = {}

    def batches(b):
        if b not in per_batch_size:
            idx = sgd_batches(problem.n, b, seeds, updates)
            Xb = X[idx]  # (updates, runs, |B|, d)
            H = np.einsum("urbd,urbe->urde", Xb, Xb) / b
            per_batch_size[b] = (H, np.einsum("urbd,urb->urd", Xb, y[idx]) / b)
        return per_batch_size[b]

    fig, ax = subplots(figsize=(6, 3.6))
    steps = np.arange(1, updates + 1)
    lines = ax.loglog(steps, np.ones((updates, len(seeds))), lw=0.8)
    floor = ax.axhline(1.0, color="k", ls="--", lw=1, label=r"$\eta\sigma_*^2/(4|B|)$ = 1e-3")
    ax.set(xlabel="update", ylabel="$f - f^*$", xlim=(1, updates), ylim=(1e-6, 1e3))
    title = ax.set_title(" ")
    legend = ax.legend(loc="upper right")

    def noise_floor(lr, batch_size):
        H, g = batches(batch_size)
        x = np.tile(np.asarray(problem.x0, dtype=float), (len(seeds), 1))
        iterates = np.empty((updates, *x.shape))
        with np.errstate(all="ignore"):  # a large η with small batches blows up: shown as such
            for u in range(updates):
                x = x - lr * (np.einsum("rde,re->rd", H[u], x) - g[u])
                iterates[u] = x
            e = iterates - x_star
            gaps = 0.5 * np.einsum("urd,de,ure->ur", e, problem.A, e)
        for line, gap in zip(lines, gaps.T):
            line.set_ydata(np.minimum(gap, 1e3))
        level = lr * sigma2_star / (4 * batch_size)
        floor.set_ydata([level, level])
        legend.get_texts()[0].set_text(r"$\eta\sigma_*^2/(4|B|)$" + f" = {level:.1e}")
        title.set_text(f"η = {lr:.3g}, |B| = {batch_size}")
        return [*lines, floor, title, legend]

    return explore_plot(
        noise_floor,
        figure=fig,
        lr=widgets.FloatLogSlider(value=lr, min=-3, max=-0.3, step=0.05, description="η"),
        batch_size=widgets.SelectionSlider(
            options=[1, 2, 4, 8, 16, 32, 64, 128, 256], value=batch_size, description="|B|"
        ),
    )


def schedule_curves(max_lr, total, warmup, pct_start):
    """Lesson 06's five schedules for a run of ``total`` updates: {name: η_t for t < total}."""
    t = np.arange(total)
    if warmup:
        warm_then_cosine = schedules.sequential_lr(
            t,
            [
                partial(schedules.linear_lr, lr=max_lr, start_factor=0.01, total_iters=warmup),
                partial(schedules.cosine_annealing_lr, lr=max_lr, T_max=max(total - warmup, 1)),
            ],
            milestones=[warmup],
        )
    else:
        warm_then_cosine = schedules.cosine_annealing_lr(t, max_lr, T_max=total)
    return {
        "step (÷10 at T/2)": schedules.step_lr(t, max_lr, step_size=max(total // 2, 1)),
        "exponential (×0.99 per update)": schedules.exponential_lr(t, max_lr, gamma=0.99),
        "cosine": schedules.cosine_annealing_lr(t, max_lr, T_max=total),
        "warm-up, then cosine": warm_then_cosine,
        "one-cycle": schedules.one_cycle_lr(t, max_lr, total_steps=total, pct_start=pct_start),
    }


def explore_schedules(max_lr=0.1, total=300, warmup=30, pct_start=0.3):
    """Lesson 06: the learning rate of every schedule, update by update, on sliders for
    η_max, the length T, the warm-up and one-cycle's pct_start."""
    fig, ax = subplots(figsize=(8.5, 3.2))
    curves = schedule_curves(max_lr, total, warmup, pct_start)
    lines = [ax.plot([], [], label=name)[0] for name in curves]
    ax.set(xlabel="update t", ylabel="learning rate")
    fig.legend(loc="outside right upper")  # beside the curves: drawn once

    def learning_rates(max_lr, total, warmup, pct_start):
        t = np.arange(total)
        for line, lr in zip(lines, schedule_curves(max_lr, total, warmup, pct_start).values()):
            line.set_data(t, lr)
        ax.set(xlim=(-0.02 * total, 1.02 * total), ylim=(0, 1.05 * max_lr))
        return [ax.xaxis, ax.yaxis, *lines]

    return explore_plot(
        learning_rates,
        figure=fig,
        max_lr=widgets.FloatLogSlider(value=max_lr, min=-3, max=0, step=0.05, description="η_max"),
        total=widgets.IntSlider(value=total, min=50, max=1000, step=50, description="T"),
        warmup=widgets.IntSlider(value=warmup, min=0, max=200, step=10, description="warm-up"),
        pct_start=widgets.FloatSlider(
            value=pct_start, min=0.05, max=0.9, step=0.05, description="one-cycle pct_start"
        ),
    )


def explore_gradient_norms(X, y, depth=10, gain=1.0, activation="relu", width=32, max_depth=20):
    """Lesson 07: ‖∂f/∂W_l‖ of every layer at initialisation, on a log scale, on sliders
    for the depth (hidden layers of ``width``), the initialisation gain c and the activation.

    The network is ``MLP(X, y, (d,) + (width,) * depth + (classes,), activation,
    init=c, seed=0)`` (lesson 07's ``deep_net``); the band 0.01 … 100 is shaded.
    """
    sizes = lambda depth: (X.shape[1],) + (width,) * depth + (int(np.max(y)) + 1,)
    fig, ax = subplots(figsize=(7, 3.2))
    (line,) = ax.semilogy([1], [1.0], "o-", ms=4, label="c")
    ax.axhspan(1e-2, 1e2, color="C2", alpha=0.08, label="0.01 … 100")
    ax.set(xlabel="layer l", ylabel="‖∂f/∂W_l‖", ylim=(1e-12, 1e12), xlim=(0.5, max_depth + 1.5))
    # plain-text labels, no minor ticks: typesetting 24 decades of 10^k takes long
    ax.set_yticks(10.0 ** np.arange(-12, 13, 4), [f"1e{k}" for k in range(-12, 13, 4)])
    ax.minorticks_off()
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    title = ax.set_title(" ")
    legend = ax.legend(loc="upper right")

    def gradient_norms(depth, gain, activation):
        net = MLP(X, y, sizes(depth), activation, init=float(gain), seed=0)
        norms = net.layer_grad_norms(net.x0)
        line.set_data(np.arange(1, depth + 2), norms)
        legend.get_texts()[0].set_text(f"c = {gain:.2f}")
        title.set_text(f"{activation}, {depth} hidden layers: loss {net.loss(net.x0):.3g}")
        return [line, title, legend]

    return explore_plot(
        gradient_norms,
        figure=fig,
        depth=widgets.IntSlider(value=depth, min=1, max=max_depth, description="depth"),
        gain=widgets.FloatLogSlider(value=gain, min=-0.5, max=0.5, step=0.01, description="gain c"),
        activation=widgets.Dropdown(
            options=["relu", "tanh"], value=activation, description="activation"
        ),
    )
