"""Runners: apply a step function (see ``optimizers``) for many steps and record the run.

``run`` and ``train_2d`` iterate on a deterministic problem (``run_stack``: several
runs of one step rule stepped together, one per value of a hyperparameter, without
the checks below); ``train_minibatch`` trains on a finite sum (an objective with
``n`` examples whose ``loss(w, idx)`` and ``grad(w, idx)`` take the indices of a
mini-batch).

Divergence is part of the lessons: when the iterate or the loss stops being
finite or explodes, a run stops, warns once with the step and the reason, and
returns what it has. A run that blows up more slowly (its f − f* grows steadily but
has not exploded) runs to the end, quietly, and says so in ``Run.diverging``. A step
that returns something that is not an array of the right shape gets a ``StepError``
naming it (the step contract: ``contract``).
"""

import inspect
import os
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .contract import (
    InputError,
    call_step,
    check_hyperparameters,
    name_of,
    nan_error,
    normalise,
    scheduled_lr,
    step_extras,
)
from .problems import PROBLEMS

EXPLODE = 1e10  # a loss or iterate this many times larger than at the start counts as diverged
# A run that has not exploded is still diverging when its f − f* grows steadily: to GROWTH
# times its start, rising at each of its last max(RISES, steps/3) steps and not slowing
# down (``steady_growth``).
GROWTH, RISES = 2.0, 6


class DivergenceWarning(UserWarning):
    """A run stopped because its iterate or loss stopped being finite or exploded."""


def _user_stacklevel():
    """Stack level of the first frame outside course_lib, so warnings point at the caller."""
    here = os.path.dirname(os.path.abspath(__file__))
    frame, level = inspect.currentframe(), 1
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == here:
        frame, level = frame.f_back, level + 1
    return max(level - 1, 1)


@dataclass
class Run:
    """What a runner records. Unpacks as ``xs, losses = run``."""

    label: str
    xs: np.ndarray  # iterates, shape (recorded, *x.shape); x0 first
    losses: np.ndarray  # objective values at those iterates
    f_star: float = 0.0  # minimum value of the objective, when known
    diverged_at: int = None  # step at which the run stopped, or None
    reason: str = ""  # why it stopped
    hyperparameters: dict = field(default_factory=dict)
    steps: np.ndarray = None  # update count at each record
    epochs: np.ndarray = None  # mini-batch runs: epochs done at each record
    grad_evals: np.ndarray = None  # mini-batch runs: example gradients computed so far
    times: np.ndarray = None  # mini-batch runs: seconds spent in updates so far
    metrics: dict = field(default_factory=dict)
    # Minimisers (second_order.minimize_*) say why they stopped, like scipy's OptimizeResult.
    success: bool = None  # True: converged; False: stopped short (max_iter, divergence)
    message: str = ""

    def __iter__(self):
        return iter((self.xs, self.losses))

    @property
    def diverging(self):
        """Why this run diverges ("" if it does not): the reason it stopped, or else its
        f − f* growing steadily although it has not exploded yet (``steady_growth``)."""
        if self.diverged_at:
            return self.reason
        if not np.isfinite(self.f_star):  # f is unbounded below: a growth means nothing
            return ""
        return steady_growth(self.gap, self.steps)

    @property
    def x(self):
        """The last iterate."""
        return self.xs[-1]

    @property
    def gap(self):
        """losses − f*, for log-scale plots (the loss itself when f* is unknown)."""
        return self.losses - (self.f_star if np.isfinite(self.f_star) else 0.0)

    def __repr__(self):
        tail = f", diverged at step {self.diverged_at}" if self.diverged_at else ""
        return (
            f"Run({self.label!r}: {len(self.losses) - 1} recorded steps, "
            f"final loss {self.losses[-1]:.6g}{tail})"
        )


def _divergence(x_new, loss, x0, loss0):
    if not np.all(np.isfinite(x_new)):
        return "the iterate is no longer finite"
    if not np.isfinite(loss):
        return "the loss is no longer finite"
    if abs(loss) > EXPLODE * (abs(loss0) + 1):
        return f"the loss exploded from {loss0:.3g} to {loss:.3g}"
    if np.linalg.norm(x_new) > EXPLODE * (np.linalg.norm(x0) + 1):
        return f"the iterate exploded to norm {np.linalg.norm(x_new):.3g}"
    return ""


def steady_growth(gap, steps=None):
    """Why a run whose f − f* per record is ``gap`` is diverging, or "" if it is not.

    A blow-up that has not reached EXPLODE yet (GD just past 2/λ_max: ×3.6 in 20 steps)
    is told from a run that converges without being monotone (momentum's ripples, Adam's
    bumps, mini-batch noise) by three signs together: f − f* has grown to at least GROWTH
    times its start, it rose at each of the last k = max(RISES, n/3) of the n records, and
    its growth per record has not slowed down over them (the second half of those k grows
    at least 0.8 times as fast as the first half: geometric growth, or faster). A bump that
    levels off or a transient that decays fails one of them. steps: the update count at
    each record (default: one record per step).
    """
    gap = np.abs(np.asarray(gap, dtype=float))
    n = len(gap) - 1
    if n < 1 or not np.isfinite(gap[0]):
        return ""
    if not np.all(np.isfinite(gap)):
        return f"f − f* is no longer finite from record {int(np.argmin(np.isfinite(gap)))} on"
    k = max(RISES, n // 3)
    ups = np.diff(gap) > 0
    rises = n if ups.all() else n - 1 - int(np.flatnonzero(~ups)[-1])
    if rises < k or gap[-1] < GROWTH * max(gap[0], np.finfo(float).tiny):
        return ""
    window, half = gap[-k - 1 :], k // 2
    first = np.log(window[half] / window[0]) / half
    second = np.log(window[-1] / window[half]) / (k - half)
    if second < 0.8 * first:
        return ""
    steps = np.arange(n + 1) if steps is None else np.asarray(steps)
    return (
        f"f − f* grew from {gap[0]:.3g} to {gap[-1]:.3g} in {steps[-1] - steps[0]} steps, "
        f"steadily for the last {steps[-1] - steps[-1 - rises]}"
    )


def stop_reason(step, k, x, x_new, grad, loss, last_loss, x0, loss0):
    """Why a run must stop after step k, and what to try ("" and "" if it goes on).

    The one diagnosis of both runners: a gradient that is not finite at a finite x is
    the problem's, not the learning rate's; NaN that a step makes from a finite x, a
    finite gradient and a modest loss is the step's own bug (StepError); anything
    else that is not finite or explodes is divergence.
    """
    reason = _divergence(x_new, loss, x0, loss0)
    if not reason:
        return "", ""
    if not np.all(np.isfinite(x_new)):
        with np.errstate(all="ignore"):
            g = np.asarray(grad(x), dtype=float)
        if not np.all(np.isfinite(g)):
            return (
                f"the gradient at x_{k - 1} = {np.array2string(x, precision=4)} is not finite",
                "the problem's gradient is undefined there: this is not the learning rate",
            )
        if np.isnan(x_new).any() and np.isfinite(last_loss) and abs(last_loss) < EXPLODE:
            raise nan_error(step, k)
    return reason, "try a smaller learning rate"


def warn_diverged(label, k, reason, advice, returned):
    """The one DivergenceWarning of a run that stopped at step k, pointing at the caller."""
    warnings.warn(
        f"{label} diverged at step {k}: {reason}. The run stopped there and returns "
        f"{returned}; {advice}.",
        DivergenceWarning,
        stacklevel=_user_stacklevel(),
    )


def stop_if_not_finite(label, k, x, fx, g):
    """(success, message) for a minimiser that must stop at iteration k, or None if x, f
    and ∇f are all finite; warns once, as ``run`` does (the minimisers of ``second_order``
    and ``hessian_free`` share it)."""
    if np.all(np.isfinite(x)) and np.isfinite(fx) and np.all(np.isfinite(g)):
        return None
    what = "f" if not np.isfinite(fx) else ("∇f" if np.all(np.isfinite(x)) else "x")
    reason = f"{what} is no longer finite at iteration {k}"
    warn_diverged(
        label,
        k,
        reason,
        "is f bounded below along this path? (a saddle is not)",
        f"x_0 … x_{k - 1}",
    )
    return False, f"stopped: {reason}; the run returns the iterates before it"


def minimizer_outcome(gnorm, gtol, iterations, max_iter, norm="‖∇f‖"):
    """(success, message) of a minimiser that stops when norm(∇f) < gtol or after max_iter.

    gnorm: that norm at the last iterate; iterations: how many were done. The
    message reads like scipy's, e.g. "converged: ‖∇f‖ < gtol = 0.0001 after 23
    iterations" or "stopped: max_iter = 5 reached before ‖∇f‖ < gtol = 0.0001
    (‖∇f‖ = 0.47)".
    """
    if gnorm < gtol:
        plural = "" if iterations == 1 else "s"
        return True, f"converged: {norm} < gtol = {gtol:g} after {iterations} iteration{plural}"
    return False, (
        f"stopped: max_iter = {max_iter} reached before {norm} < gtol = {gtol:g} "
        f"({norm} = {gnorm:.2g})"
    )


def whole_number(name, value, minimum):
    """value as an int ≥ minimum, or an InputError naming the argument."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum:
        return int(value)
    hint = ""
    if isinstance(value, float) and value.is_integer() and value >= minimum:
        hint = f" (write {int(value)}, or int({value:g}))"
    raise InputError(f"{name} must be a whole number ≥ {minimum}; got {value!r}{hint}.")


def starting_point(objective, x0):
    """x0 (or the objective's own start) as a float array of the objective's shape."""
    x = np.array(objective.x0 if x0 is None else x0, dtype=float)
    shape = np.shape(objective.x0) if hasattr(objective, "x0") else x.shape
    what = getattr(objective, "name", type(objective).__name__)
    if x.shape != shape:
        raise InputError(
            f"x0 has shape {x.shape}, but {what} takes points of shape {shape} "
            f"({int(np.prod(shape))} numbers)."
        )
    if not np.all(np.isfinite(x)):
        raise InputError(f"x0 = {x} is not finite: start from finite numbers.")
    return x


def loss_of(f, x, what="f"):
    """f(x) as one float, or an InputError when f returns something else."""
    with np.errstate(all="ignore"):
        value = f(x)
    if np.ndim(value) != 0:
        raise InputError(
            f"{what}(x) returned an array of shape {np.shape(value)}; it must return one "
            "number (sum over the coordinates)."
        )
    return float(value)


def run(step, problem, x0=None, steps=20, label=None, **hyperparameters):
    """Run ``steps`` steps of ``step`` on ``problem`` from x0 (default: the problem's start)."""
    steps = whole_number("steps", steps, 0)
    x = starting_point(problem, x0)
    check_hyperparameters(step, hyperparameters)
    label = label or name_of(step)
    kwargs = {**step_extras(step, problem), **hyperparameters}
    state, xs = {}, [x.copy()]
    losses = [loss_of(problem.f, x, f"{problem.name}.f")]
    diverged_at, reason = None, ""
    for k in range(1, steps + 1):
        x_new = call_step(step, x, problem.grad, state, k, kwargs, f"{problem.name}.grad")
        loss = loss_of(problem.f, x_new, f"{problem.name}.f")
        reason, advice = stop_reason(
            step, k, x, x_new, problem.grad, loss, losses[-1], xs[0], losses[0]
        )
        if reason:
            if np.all(np.isfinite(x_new)) and np.isfinite(loss):
                xs.append(x_new.copy())  # still drawable: shows where the run was heading
                losses.append(loss)
            diverged_at = k
            warn_diverged(
                label, k, reason, advice, f"x_0 … x_{len(xs) - 1}" if len(xs) > 1 else "x_0 only"
            )
            break
        x = x_new
        xs.append(x.copy())
        losses.append(loss)
    return Run(
        label,
        np.array(xs),
        np.array(losses),
        f_star=problem.f_star,
        diverged_at=diverged_at,
        reason=reason,
        hyperparameters=hyperparameters,
        steps=np.arange(len(losses)),
    )


def make_runs(optimizers, problem, steps=50, x0=None):
    """Run several optimisers from the same start: a list of Runs, one per optimiser.

    optimizers: a list of ``(label, step, hyperparameters)``, or a dict ``label →
    step`` or ``label → (step, hyperparameters)`` (``contract.normalise``); problem: a
    Problem or its name in ``course_lib.PROBLEMS``.
    """
    problem = PROBLEMS[problem] if isinstance(problem, str) else problem
    return [
        run(step, problem, x0=x0, steps=steps, label=label, **hp)
        for label, step, hp in normalise(optimizers)
    ]


def run_stack(step, problem, steps=20, labels=None, x0=None, **hyperparameters):
    """Several runs of ``step`` on ``problem`` stepped together; a list of Runs, one per run.

    Each hyperparameter given as a sequence of n values (one per run) is broadcast against
    the stacked iterates, shape (n, *x0.shape); a number is shared by every run. The runs
    are the ones ``run`` would make one by one, at the cost of one loop: this needs a step
    rule that works elementwise and a problem whose ``f`` and ``grad`` take stacks of points
    (every rule in ``optimizers`` and every course problem does; a rule that reduces over
    the whole of x, e.g. a norm, does not). Unlike ``run`` it neither checks the step's
    return nor stops a diverging run: that run goes on to inf or nan, which its losses show.
    labels: one per run (default: the step's name).
    """
    steps = whole_number("steps", steps, 0)
    x = starting_point(problem, x0)
    check_hyperparameters(step, hyperparameters)
    many = {k: np.asarray(v, dtype=float) for k, v in hyperparameters.items() if np.ndim(v)}
    counts = {v.shape for v in many.values()}
    if len(counts) != 1 or len(next(iter(counts))) != 1:
        raise InputError(
            "run_stack needs at least one hyperparameter given as a 1-D sequence (one value "
            f"per run), all of the same length; got shapes {sorted(counts)}."
        )
    n = len(next(iter(many.values())))
    shape = (n,) + (1,) * x.ndim
    kwargs = {**step_extras(step, problem), **hyperparameters}
    kwargs |= {k: v.reshape(shape) for k, v in many.items()}
    labels = [name_of(step)] * n if labels is None else list(labels)
    if len(labels) != n:
        raise InputError(f"run_stack got {len(labels)} labels for {n} runs.")
    x, state = np.broadcast_to(x, (n,) + x.shape).copy(), {}
    xs = [x]
    with np.errstate(all="ignore"):
        for _ in range(steps):
            x = step(x, problem.grad, state, **kwargs)
            xs.append(x)
        xs = np.array(xs)
        losses = problem.f(xs)  # (steps + 1, n)
    return [
        Run(
            label,
            xs[:, i],
            losses[:, i],
            f_star=problem.f_star,
            hyperparameters={k: (v[i] if k in many else v) for k, v in hyperparameters.items()},
            steps=np.arange(steps + 1),
        )
        for i, label in enumerate(labels)
    ]


def train_2d(step, problem, x0=None, steps=20, label=None, **hyperparameters):
    """Run a step function on a 2-D problem; returns a Run (``xs, losses = train_2d(...)``).

    xs has shape (steps + 1, 2) unless the run diverged and stopped early.
    """
    if problem.dim != 2:
        raise ValueError(
            f"train_2d needs a 2-D problem; {problem.name} has {problem.dim} "
            "dimensions: use run() instead."
        )
    return run(step, problem, x0=x0, steps=steps, label=label, **hyperparameters)


def minibatches(n, batch_size, rng):
    """Index arrays covering range(n) once, in a random order: sampling without replacement."""
    order = rng.permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def train_minibatch(
    step,
    objective,
    x0=None,
    epochs=5,
    batch_size=32,
    seed=0,
    schedule=None,
    record_every=None,
    metrics=None,
    label=None,
    keep_iterates=None,
    **hyperparameters,
):
    """Train on a finite sum with seeded mini-batches; returns a Run.

    objective: has ``n`` and ``loss(w, idx=None)``, ``grad(w, idx=None)`` (idx: the
    examples of a mini-batch; None: all of them). batch_size=None is batch GD,
    1 is SGD. schedule(t) → learning rate for update t = 0, 1, … (overrides lr).
    The full loss (and each ``metrics[name](w)``) is recorded at the start, every
    ``record_every`` updates, and at the end of every epoch (default: only then).
    """
    x = starting_point(objective, x0)
    epochs = whole_number("epochs", epochs, 0)
    n = objective.n
    batch_size = n if batch_size is None else whole_number("batch_size", batch_size, 1)
    check_hyperparameters(step, hyperparameters)
    rng = np.random.default_rng(seed)
    label = label or name_of(step)
    keep = x.size <= 1000 if keep_iterates is None else keep_iterates
    metrics = metrics or {}
    state, t, evals, busy = {}, 0, 0, 0.0
    extras = step_extras(step, objective)  # once: inspect.signature costs ~70 µs per call
    gradient = f"{getattr(objective, 'name', type(objective).__name__)}.grad"  # for messages
    rec = {"xs": [], "losses": [], "steps": [], "epochs": [], "grad_evals": [], "times": []}
    rec_metrics = {name: [] for name in metrics}

    def record(epoch):
        loss = loss_of(objective.loss, x, "loss")
        for key, value in (
            ("losses", loss),
            ("steps", t),
            ("epochs", epoch),
            ("grad_evals", evals),
            ("times", busy),
        ):
            rec[key].append(value)
        if keep:
            rec["xs"].append(x.copy())
        for name, fn in metrics.items():
            rec_metrics[name].append(fn(x))
        return loss

    loss0 = record(0.0)
    x_start = x.copy()
    diverged_at, reason = None, ""
    for epoch in range(epochs):
        batches = minibatches(n, batch_size, rng)
        for b, idx in enumerate(batches):
            kwargs = dict(hyperparameters)
            if schedule is not None:
                kwargs["lr"] = scheduled_lr(schedule, t)
            grad = lambda w, idx=idx: objective.grad(w, idx)
            started = time.perf_counter()
            x_new = call_step(step, x, grad, state, t + 1, {**extras, **kwargs}, gradient)
            busy += time.perf_counter() - started
            t, evals = t + 1, evals + len(idx)
            last = rec["losses"][-1]
            reason, advice = stop_reason(step, t, x, x_new, grad, 0.0, last, x_start, loss0)
            if not reason:
                x = x_new
                if (record_every and t % record_every == 0) or b == len(batches) - 1:
                    loss = record(epoch + (b + 1) / len(batches))
                    reason, advice = stop_reason(step, t, x, x, grad, loss, last, x_start, loss0)
            if reason:
                diverged_at = t
                kept = len(rec["losses"])
                warn_diverged(
                    label, t, reason, advice, f"its {kept} record{'s' * (kept > 1)} before it"
                )
                break
        if reason:
            break
    return Run(
        label,
        np.array(rec["xs"]) if keep else None,
        np.array(rec["losses"]),
        f_star=getattr(objective, "f_star", 0.0),
        diverged_at=diverged_at,
        reason=reason,
        hyperparameters=hyperparameters,
        steps=np.array(rec["steps"]),
        epochs=np.array(rec["epochs"]),
        grad_evals=np.array(rec["grad_evals"]),
        times=np.array(rec["times"]),
        metrics={k: np.array(v) for k, v in rec_metrics.items()},
    )


class Tuned:
    """The result of ``tune``: scores of every (learning rate, seed) and the best rate.

    scores[i, j] is the score of lrs[i] with seeds[j] (inf for a diverged run). The
    best rate is the one with the lowest mean score; ``at_edge`` says it is the first
    or last of the grid, so the grid should be widened before the result is trusted.
    """

    def __init__(self, label, lrs, seeds, scores, runs=None):
        self.label, self.lrs, self.seeds = label, np.asarray(lrs, float), tuple(seeds)
        self.scores = np.asarray(scores, float).reshape(len(self.lrs), len(self.seeds))
        self.runs = runs  # runs[i][j] when train returned Runs, else None
        finite = np.where(np.isnan(self.scores), np.inf, self.scores)
        self.mean = finite.mean(axis=1)
        with np.errstate(invalid="ignore"):  # inf − inf in the sd of a diverged rate
            ddof = 1 if len(self.seeds) > 1 else 0
            self.sd = np.where(np.isfinite(self.mean), finite.std(axis=1, ddof=ddof), np.inf)
        self.best_index = int(np.argmin(self.mean))
        self.best_lr = float(self.lrs[self.best_index])
        self.best_mean = float(self.mean[self.best_index])
        self.best_sd = float(self.sd[self.best_index])
        self.best_runs = None if runs is None else list(runs[self.best_index])
        self.at_edge = len(self.lrs) > 1 and self.best_index in (0, len(self.lrs) - 1)
        self.diverged = int(np.sum(~np.isfinite(finite)))  # runs that diverged, all rates

    def spread(self):
        """'mean ± sd' of the best rate ('mean' alone for a single seed)."""
        if len(self.seeds) == 1:
            return f"{self.best_mean:.4g}"
        return f"{self.best_mean:.4g} ± {self.best_sd:.2g}"

    def __str__(self):
        runs = f"{len(self.seeds)} seed{'s' * (len(self.seeds) > 1)}"
        grid = f"grid {self.lrs.min():.0e} … {self.lrs.max():.0e}, {len(self.lrs)} values"
        edge = "; AT THE EDGE OF THE GRID" if self.at_edge else ""
        return f"{self.label:10s} η = {self.best_lr:.2g}  {self.spread()}  ({runs}; {grid}{edge})"

    __repr__ = __str__


def _score_of(result, score):
    """A train() result as a number: a Run's last loss (inf if it diverged), or a float."""
    if isinstance(result, Run):
        if result.diverged_at is not None or result.success is False:
            return np.inf
        value = score(result) if score else result.losses[-1]
    else:
        value = result if score is None else score(result)
    value = float(value)
    return value if np.isfinite(value) else np.inf


def tune(train, lrs, seeds=(0, 1, 2), label=None, score=None):
    """Tune the learning rate on a grid, with repeats: the course's fairness rule.

    train(lr, seed) → a Run (scored by its last loss) or a number (lower is better);
    score(result) → a number overrides that. Every (lr, seed) pair is run once; a run
    that diverges scores inf, and its DivergenceWarning is kept quiet (a too-large
    rate diverging is what a grid is for). The best rate is the one with the lowest
    mean over the seeds; a warning says so when it sits at the grid's edge. For a
    deterministic method pass seeds=(0,).
    """
    lrs = np.asarray(lrs, dtype=float)
    if lrs.ndim != 1 or len(lrs) == 0 or not np.all(lrs > 0):
        raise InputError(f"tune needs a 1-D grid of positive learning rates; got {lrs!r}")
    seeds = tuple(seeds)
    if not seeds:
        raise InputError("tune needs at least one seed")
    label = label or name_of(train)
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        for lr in lrs:
            results.append([train(float(lr), seed) for seed in seeds])
    scores = [[_score_of(r, score) for r in row] for row in results]
    keep = results if all(isinstance(r, Run) for row in results for r in row) else None
    tuned = Tuned(label, lrs, seeds, scores, runs=keep)
    if tuned.at_edge:
        warnings.warn(
            f"{label}: the best learning rate {tuned.best_lr:.2g} is at the edge of the grid "
            f"({lrs.min():.2g} … {lrs.max():.2g}); widen the grid before comparing.",
            stacklevel=_user_stacklevel(),
        )
    return tuned


def show_tuned(results):
    """Print several tuned methods as a table, best mean first."""
    rows = sorted(results, key=lambda t: t.best_mean)
    width = max(len(str(t.label)) for t in rows)
    print(f"{'method':{width}s}  {'best η':>8s}  {'score, mean ± sd':>22s}  seeds  note")
    for t in rows:
        note = "best η at the grid's edge" if t.at_edge else ""
        if t.diverged:
            note = ", ".join(filter(None, [note, f"{t.diverged} diverged runs on the grid"]))
        print(f"{t.label:{width}s}  {t.best_lr:8.2g}  {t.spread():>22s}  {len(t.seeds):5d}  {note}")


def noise_floors(step, problem, sigma, seeds=(0, 1, 2), steps=1000, last=None, **hyperparameters):
    """The noise floor: f − f* averaged over the last steps of runs with noisy gradients.

    Each run sees ∇f(x) + σ ξ_t, with ξ_t ~ N(0, I) drawn from its seed's generator
    (``np.random.default_rng(seed)``, one draw of x's shape per step). σ, or one
    hyperparameter, may be a 1-D sequence of n values: then every (value, seed) pair runs,
    all stepped together, and a seed's draws are shared by every value. last: how many of
    the last steps are averaged (default: the last fifth). Returns an array of shape
    (n, len(seeds)), or (len(seeds),) when nothing is a sequence; a run that blows up
    scores inf.
    """
    steps = whole_number("steps", steps, 1)
    last = steps // 5 if last is None else whole_number("last", last, 1)
    x0 = starting_point(problem, None)
    check_hyperparameters(step, hyperparameters)
    seeds = tuple(seeds)
    values = {k: np.asarray(v, dtype=float) for k, v in hyperparameters.items() if np.ndim(v)}
    if np.ndim(sigma):
        values["sigma"] = np.asarray(sigma, dtype=float)
    lengths = {len(v) for v in values.values()}
    if len(lengths) > 1 or any(v.ndim != 1 for v in values.values()):
        raise InputError("noise_floors takes σ or hyperparameters as 1-D sequences of one length")
    n = lengths.pop() if lengths else 1
    shape = (n, 1) + (1,) * x0.ndim  # broadcasts against x: (values, seeds, *x0.shape)
    kwargs = {**step_extras(step, problem), **hyperparameters}
    kwargs |= {k: v.reshape(shape) for k, v in values.items() if k != "sigma"}
    sigma = values["sigma"].reshape(shape) if "sigma" in values else float(sigma)
    rngs = [np.random.default_rng(seed) for seed in seeds]

    def noisy_grad(x):
        return problem.grad(x) + sigma * np.stack([rng.standard_normal(x0.shape) for rng in rngs])

    x, state, total = np.broadcast_to(x0, (n, len(seeds)) + x0.shape).copy(), {}, 0.0
    with np.errstate(all="ignore"):
        for k in range(steps):
            x = step(x, noisy_grad, state, **kwargs)
            if k >= steps - last:
                total = total + problem.f(x) - problem.f_star
    floors = np.where(np.isfinite(total), total / last, np.inf)
    return floors if values else floors[0]
