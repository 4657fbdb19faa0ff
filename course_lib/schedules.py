"""Learning-rate schedules ``schedule(t) → lr``, as in ``torch.optim.lr_scheduler``.

Each schedule is a plain function ``name(t, lr, …)`` of the update counter
t = 0, 1, 2, … (the learning rate used by update t) and of its hyperparameters.
``train_minibatch(..., schedule=...)`` calls ``schedule(t)`` before update t, so
bind the hyperparameters first, e.g. ``functools.partial(cosine_annealing_lr,
lr=0.1, T_max=300)`` or ``lambda t: cosine_annealing_lr(t, lr=0.1, T_max=300)``.

The correspondence with PyTorch: ``schedule(t)`` is the learning rate a torch
scheduler has set after ``scheduler.step()`` was called t times (once per
update, after ``optimizer.step()``), i.e. its ``get_last_lr()``; ``lr`` is the
optimiser's initial learning rate (torch's ``base_lr``). Every function here
agrees with its torch scheduler to ~1e-12 (tests/test_schedules.py). All of them
accept an array of t as well, for plots. Arguments are held to their meaning before
anything is computed (as torch refuses a negative learning rate or a start factor
above 1): an ``InputError`` names the argument and its range.
"""

import itertools
import math

import numpy as np

from .contract import InputError

# What each argument means: (test, how to say it). A test sees a float or a float array.
RATE = (lambda v: v >= 0, "a learning rate η ≥ 0 (a negative one climbs the function)")
FACTOR = (lambda v: v > 0, "a factor γ > 0 applied per decay (< 1 decays, > 1 grows)")
UPDATES = (lambda v: v >= 1, "a number of updates ≥ 1")


def _as_output(t, value):
    """A float for a scalar t, an array for an array of t."""
    return float(value) if np.ndim(t) == 0 else np.asarray(value, dtype=float)


def _require(schedule, **arguments):
    """Raise InputError for the first argument that is not a finite number passing its test.

    arguments: name → (value, (test, meaning)); one number or an array (one rate per run).
    """
    for name, (value, (test, meaning)) in arguments.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and math.isfinite(value) and test(value):  # one number: the common case
            continue
        where = f"{schedule}(): {name} = {value!r}"
        try:
            values = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            values = None
        if values is None or isinstance(value, (str, bytes, bool)):
            raise InputError(f"{where} is not a number; {name} is {meaning}.")
        if not np.all(np.isfinite(values) & test(values)):
            raise InputError(f"{where} is out of range: {name} is {meaning}.")


def _counter(t):
    """t as a float array, refusing negative counters (there is no update −1)."""
    t = np.asarray(t, dtype=float)
    if np.any(t < 0):
        raise InputError(f"the update counter t starts at 0; got {t.min():g}")
    return t


def constant_lr(t, lr):
    """The same learning rate for every update (no schedule)."""
    _require("constant_lr", lr=(lr, RATE))
    return _as_output(t, np.full(np.shape(t), float(lr)))


def step_lr(t, lr, step_size, gamma=0.1):
    """Step decay: η_t = η · gamma^⌊t / step_size⌋.

    lr: η; step_size: updates between two decays; gamma: the factor of each decay (torch's
    name; not the momentum coefficient γ).
    torch.optim.lr_scheduler.StepLR(step_size, gamma=0.1).
    """
    _require("step_lr", lr=(lr, RATE), step_size=(step_size, UPDATES), gamma=(gamma, FACTOR))
    return _as_output(t, lr * gamma ** np.floor(_counter(t) / step_size))


def exponential_lr(t, lr, gamma):
    """Exponential decay: η_t = η · gamma^t.

    lr: η; gamma: factor per update (e.g. 0.99). torch.optim.lr_scheduler.ExponentialLR(gamma).
    """
    _require("exponential_lr", lr=(lr, RATE), gamma=(gamma, FACTOR))
    return _as_output(t, lr * gamma ** _counter(t))


def cosine_annealing_lr(t, lr, T_max, eta_min=0.0):
    """Cosine annealing: η_t = η_min + ½(η − η_min)(1 + cos(π t / T_max)).

    lr: η = η_max, used at t = 0; T_max: updates to reach eta_min (at t = T_max);
    eta_min: the final learning rate (default 0). Beyond T_max the cosine climbs
    again, as torch's does (it has period 2·T_max); use T_max = number of updates.
    torch.optim.lr_scheduler.CosineAnnealingLR(T_max, eta_min=0).
    """
    _require(
        "cosine_annealing_lr",
        lr=(lr, RATE),
        T_max=(T_max, (lambda v: v > 0, "a number of updates > 0")),
        eta_min=(eta_min, (RATE[0], "the final learning rate η_min ≥ 0")),
    )
    t = _counter(t)
    return _as_output(t, eta_min + 0.5 * (lr - eta_min) * (1 + np.cos(np.pi * t / T_max)))


def linear_lr(t, lr, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
    """Linear warm-up (or decay) of a factor: η_t = η · (s + (e − s) · min(t, T) / T).

    lr: η; start_factor s (at t = 0), end_factor e (reached at t = total_iters = T
    and kept afterwards). Warm-up: s small, e = 1. torch.optim.lr_scheduler.LinearLR
    (defaults s = 1/3, e = 1, T = 5).
    """
    _require(  # the factors' ranges are torch's (LinearLR refuses the others)
        "linear_lr",
        lr=(lr, RATE),
        start_factor=(start_factor, (lambda v: (v > 0) & (v <= 1), "a factor s in (0, 1]")),
        end_factor=(end_factor, (lambda v: (v >= 0) & (v <= 1), "a factor e in [0, 1]")),
        total_iters=(total_iters, UPDATES),
    )
    t = np.minimum(_counter(t), total_iters)
    return _as_output(t, lr * (start_factor + (end_factor - start_factor) * t / total_iters))


def _anneal(start, end, pct, strategy):
    if strategy == "cos":
        return end + (start - end) / 2 * (np.cos(np.pi * pct) + 1)
    return (end - start) * pct + start


def one_cycle_lr(
    t,
    max_lr,
    total_steps,
    pct_start=0.3,
    anneal_strategy="cos",
    div_factor=25.0,
    final_div_factor=1e4,
    three_phase=False,
):
    """One-cycle (Smith & Topin 2019), exactly as torch.optim.lr_scheduler.OneCycleLR.

    Starts at max_lr / div_factor, rises to max_lr at update pct_start·total_steps − 1,
    then anneals to (max_lr / div_factor) / final_div_factor at update total_steps − 1.
    anneal_strategy: "cos" (default) or "linear"; three_phase=True goes back down to
    the initial rate symmetrically before the final annealing. Only the learning rate:
    torch's OneCycleLR also cycles the momentum by default (cycle_momentum=True, 0.95
    → 0.85 → 0.95), which a schedule(t) → lr cannot do.
    """
    if anneal_strategy not in ("cos", "linear"):
        raise InputError(f"anneal_strategy must be 'cos' or 'linear'; got {anneal_strategy!r}")
    _require(
        "one_cycle_lr",
        max_lr=(max_lr, RATE),
        total_steps=(total_steps, UPDATES),
        pct_start=(pct_start, (lambda v: (v >= 0) & (v <= 1), "a fraction in [0, 1]")),
        div_factor=(div_factor, (lambda v: v > 0, "a divisor > 0")),
        final_div_factor=(final_div_factor, (lambda v: v > 0, "a divisor > 0")),
    )
    t = _counter(t)
    if np.any(t > total_steps):
        raise InputError(
            f"one_cycle_lr is defined for t = 0 … {total_steps} (total_steps); got t = {t.max():g}"
        )
    initial = max_lr / div_factor
    minimum = initial / final_div_factor
    # (end update, start lr, end lr) of each phase, as torch's _schedule_phases
    if three_phase:
        phases = [
            (pct_start * total_steps - 1, initial, max_lr),
            (2 * pct_start * total_steps - 2, max_lr, initial),
            (total_steps - 1, initial, minimum),
        ]
    else:
        phases = [
            (pct_start * total_steps - 1, initial, max_lr),
            (total_steps - 1, max_lr, minimum),
        ]
    # torch refuses a phase without an update (its formula would divide by zero): so do we
    ends = [0.0] + [end for end, _, _ in phases]
    for i, (a, b) in enumerate(itertools.pairwise(ends), 1):
        if not b > a:
            raise InputError(
                f"one_cycle_lr: pct_start = {pct_start} with total_steps = {total_steps} leaves "
                f"phase {i} of {len(phases)} empty (from update {a:g} to update {b:g}): "
                "choose pct_start so that every phase has at least one update."
            )
    out = np.empty_like(t)
    start, done = 0.0, np.zeros(t.shape, dtype=bool)
    for i, (end, lr_a, lr_b) in enumerate(phases):
        here = ~done & ((t <= end) | (i == len(phases) - 1))
        pct = (t[here] - start) / (end - start)
        out[here] = _anneal(lr_a, lr_b, pct, anneal_strategy)
        done |= here
        start = end
    return _as_output(t, out)


def sequential_lr(t, schedules, milestones):
    """Chain schedules: schedules[i] runs from milestones[i−1] with its own counter from 0.

    schedules: callables s(t) → lr; milestones: the updates where the next one takes
    over (len(schedules) − 1 of them, increasing). E.g. a linear warm-up for 50
    updates, then cosine annealing::

        sequential_lr(t, [partial(linear_lr, lr=0.1, start_factor=0.01, total_iters=50),
                          partial(cosine_annealing_lr, lr=0.1, T_max=250)], [50])

    torch.optim.lr_scheduler.SequentialLR(optimizer, schedulers, milestones).
    """
    if len(milestones) != len(schedules) - 1:
        raise InputError(
            f"{len(schedules)} schedules need {len(schedules) - 1} milestones; "
            f"got {len(milestones)}"
        )
    if any(not b > a for a, b in itertools.pairwise([0, *milestones])):
        raise InputError(f"milestones must increase from an update > 0; got {list(milestones)}")
    bounds = [0, *milestones]
    if np.ndim(t) == 0:  # one update: call the chosen schedule with a plain number
        i = int(np.searchsorted(milestones, _counter(t), side="right"))
        return float(schedules[i](t - bounds[i]))
    t = _counter(t)
    which = np.searchsorted(np.asarray(milestones, dtype=float), t, side="right")
    out = np.empty_like(t)
    for i, schedule in enumerate(schedules):
        here = which == i
        if np.any(here):
            out[here] = schedule(t[here] - bounds[i])
    return _as_output(t, out)


SCHEDULES = {
    f.__name__: f
    for f in (
        constant_lr,
        step_lr,
        exponential_lr,
        cosine_annealing_lr,
        linear_lr,
        one_cycle_lr,
        sequential_lr,
    )
}
