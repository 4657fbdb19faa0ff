"""Lesson 01 (gradient descent): the contraction factor, the mini-batch gradient, the
mini-batch sampler and the sharpness by power iteration."""

from functools import partial

import numpy as np

from ..contract import ExerciseNotDone, name_of
from ..data import load_diabetes
from ..problems import (
    LeastSquares,
    Quadratic,
    course_quadratic,
    quadratic_with_spectrum,
    tanh_plateau,
)
from ..runners import minibatches
from .engine import Budget, Case, Report, call_student, evaluate_function, printing

# --- Exercise 1.3 (derive): the contraction factor ------------------------------------------


CONTRACTION = (
    "each direction's error is multiplied by its factor 1 − ηλ_i per step; in the long run the "
    "direction that shrinks slowest (or grows) decides, whatever the sign of its factor: one "
    "number, over every eigenvalue (in any order)."
)


def _contraction_slips(lr, eigenvalues):
    """diagnose(got, expected) for one case: names the usual slips by their values."""
    e = np.asarray(eigenvalues, dtype=float)
    factors = 1 - lr * e
    slips = [
        (
            np.abs(factors),
            "return one number, the largest |1 − ηλ_i| (np.max), not the array of them.",
        ),
        (
            np.max(factors),
            "take the absolute value |1 − ηλ_i|: a factor below −1 flips the sign AND grows, "
            "so the run diverges.",
        ),
        (
            abs(1 - lr * e.max()),
            "every eigenvalue counts, not only λ_max: with a small η the slowest direction "
            "is λ_min's, |1 − ηλ_min|.",
        ),
        (
            abs(1 - lr * e.min()),
            "every eigenvalue counts, not only λ_min: with a large η the direction of λ_max "
            "flips and grows, |1 − ηλ_max|.",
        ),
        (
            max(abs(factors[0]), abs(factors[-1])),
            "the eigenvalues are not sorted: take the maximum over all of them, not over "
            "the first and the last.",
        ),
        (
            np.max(np.abs(factors)) ** 2,
            "that is the square, the factor by which f − f* shrinks: q(η) is the factor of "
            "the distance ‖x − x*‖, max |1 − ηλ_i|.",
        ),
        (
            np.max(np.abs(1 - 2 * lr * e)),
            "the Hessian of ½xᵀAx is A, so the factor is 1 − ηλ, not 1 − 2ηλ.",
        ),
    ]

    def diagnose(got, expected):  # every slip that gives this value: one case may not tell
        return " Or: ".join(
            text
            for value, text in slips
            if got.shape == np.shape(value) and np.allclose(got, value, rtol=1e-9)
        )

    return diagnose


def _contraction_case(name, lr, eigenvalues, A):
    """Expected: the spectral norm of GD's iteration matrix I − ηA (numpy.linalg.norm)."""
    expected = float(np.linalg.norm(np.eye(len(A)) - lr * A, 2))
    return Case(
        name,
        (lr, np.array(eigenvalues)),
        expected,
        hint=CONTRACTION,
        rtol=1e-9,
        diagnose=_contraction_slips(lr, eigenvalues),
    )


def gd_contraction_cases():
    """fn(lr, eigenvalues) on quadratics whose Hessian A has these eigenvalues."""
    q = course_quadratic
    eigs = np.array([5.0, 0.5, 10.0, 1.0, 2.0])  # unsorted on purpose
    A = quadratic_with_spectrum(eigs, seed=1).A
    return [
        _contraction_case(
            "course quadratic, η = 0.1 (λ_min is the slow direction)", 0.1, q.eigenvalues, q.A
        ),
        _contraction_case("course quadratic, η = 0.4 (x2 oscillates)", 0.4, q.eigenvalues, q.A),
        _contraction_case(
            "λ = 2 and 3, η = 0.6: every direction overshoots",
            0.6,
            [2.0, 3.0],
            np.diag([2.0, 3.0]),
        ),
        _contraction_case("course quadratic, η = 0.6 (diverges)", 0.6, q.eigenvalues, q.A),
    ] + [
        _contraction_case(f"5-D, eigenvalues {eigs.tolist()} (unsorted), η = {lr}", lr, eigs, A)
        for lr in (0.05, 0.18, 0.25)
    ]


def evaluate_gd_contraction(fn):
    """Compare fn(lr, eigenvalues) with GD's per-step contraction factor max_i |1 − ηλ_i|."""
    return evaluate_function(fn, gd_contraction_cases())


check_gd_contraction = printing(evaluate_gd_contraction)

# --- Exercise 1.5: the mini-batch gradient --------------------------------------------------


def _gradient_hint(got, expected, batch, n, full=None):
    """Name the usual mistakes of a mini-batch gradient from how got relates to expected.

    full: the gradient over all n examples (a gradient that ignores idx equals it)."""
    if (
        full is not None
        and got.shape == full.shape
        and np.allclose(got, full, rtol=1e-7, atol=1e-12)
    ):
        return "that is the gradient over all the examples: use only the rows idx (X[idx], y[idx])."
    if got.shape != expected.shape:
        return f"the gradient has one entry per parameter: shape {expected.shape}, like x (Xᵀr, not X r)."
    known = [
        (-1.0, "wrong sign: the residual is X_i x − y_i (prediction minus target)."),
        (
            float(batch),
            f"{batch} × too large: you summed over the batch; average (divide by the batch size).",
        ),
        (batch / n, f"{batch}/{n} × the expected: divide by the batch size, not by n."),
        (2.0, "2 × too large: the ½ in ½(X_i x − y_i)² cancels the 2 of the derivative."),
        (0.5, "½ × the expected: the derivative of ½ r² is r, not ½ r."),
    ]
    for factor, hint in known:
        if factor != 1 and np.allclose(got, factor * expected, rtol=1e-7, atol=1e-12):
            return hint
    return (
        "g_B = X_Bᵀ(X_B x − y_B)/|B| with X_B = X[idx] and y_B = y[idx]: the residuals of "
        "the batch's rows, times their features, averaged over the batch."
    )


def minibatch_grad_cases():
    """fn(X, y, x, idx) on the diabetes data and a small random problem; expected: LeastSquares."""
    X, y = load_diabetes()
    rng = np.random.default_rng(0)
    Xs, ys = rng.standard_normal((7, 3)), rng.standard_normal(7)
    rows = [
        ("diabetes, one example", X, y, rng.standard_normal(10), np.array([17])),
        ("diabetes, a batch of 5", X, y, rng.standard_normal(10), rng.permutation(442)[:5]),
        ("diabetes, a batch of 32", X, y, rng.standard_normal(10), rng.permutation(442)[:32]),
        ("diabetes, all 442 examples", X, y, rng.standard_normal(10), np.arange(442)),
        ("7 × 3 random problem, a batch of 3", Xs, ys, rng.standard_normal(3), np.array([4, 0, 6])),
    ]
    return [
        Case(
            name,
            (X_, y_, w, idx),
            LeastSquares(X_, y_).grad(w, idx),
            rtol=1e-9,
            atol=1e-12,
            diagnose=partial(
                _gradient_hint, batch=len(idx), n=len(y_), full=LeastSquares(X_, y_).grad(w)
            ),
        )
        for name, X_, y_, w, idx in rows
    ]


def evaluate_minibatch_grad(fn):
    """Compare fn(X, y, x, idx) with ∇ of (1/|B|) Σ_{i∈B} ½(X_i x − y_i)², B = idx."""
    return evaluate_function(
        fn, minibatch_grad_cases(), agree=" agree with course_lib.LeastSquares.grad."
    )


check_minibatch_grad = printing(evaluate_minibatch_grad)

# --- Exercise 1.6: the mini-batch sampler ---------------------------------------------------


def _epoch_problem(batches, n, sizes):
    """What is wrong with one epoch of mini-batches (expected batch sizes: sizes), or ""."""
    try:
        batches = [np.asarray(b) for b in batches]
    except TypeError:
        return f"expected a list of index arrays, got {type(batches).__name__}."
    if not batches or any(b.ndim != 1 or not np.issubdtype(b.dtype, np.integer) for b in batches):
        return "expected a non-empty list of 1-D integer index arrays."
    every = np.concatenate(batches)
    if every.size and (every.min() < 0 or every.max() >= n):
        return f"indices must lie in 0 … {n - 1}."
    counts = np.bincount(every, minlength=n)
    if counts.max() > 1:
        return (
            f"example {int(np.argmax(counts))} appears {counts.max()} times in one epoch "
            f"and {int(np.sum(counts == 0))} example(s) never: the batches overlap, which is "
            "sampling WITH replacement. Shuffle one permutation of range(n) per epoch and "
            "cut it into consecutive batches."
        )
    if counts.min() == 0:
        return (
            f"{int(np.sum(counts == 0))} examples are never used in the epoch: keep the "
            "last, smaller batch, so that every example is seen once per epoch."
        )
    if [len(b) for b in batches] != sizes:
        return (
            f"batch sizes {[len(b) for b in batches]}, expected {sizes}: batches of "
            "batch_size, only the last one smaller."
        )
    return ""


def _partition(batches):
    """An epoch's batches as sorted index lists, in batch order."""
    return [sorted(np.asarray(b).tolist()) for b in batches]


def _sampler_problem(epoch1, epoch2, again, n, batch_size):
    """What is wrong with two epochs drawn from one rng and the first drawn again, or ""."""
    sizes = [len(b) for b in minibatches(n, batch_size, np.random.default_rng(0))]
    for epoch in (epoch1, epoch2, again):
        problem = _epoch_problem(epoch, n, sizes)
        if problem:
            return problem
    if not all(np.array_equal(a, b) for a, b in zip(epoch1, again)):
        return (
            "the same seed gave different batches: draw the order from the `rng` "
            "argument (rng.permutation), not from np.random or a new generator."
        )
    # Compare epochs as partitions (order inside a batch does not matter), and only when
    # there are several batches of enough examples for a chance repeat to be negligible.
    if len(sizes) == 1 or n <= 6:
        return ""
    chunks = [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
    if _partition(epoch1) == chunks:
        return "the examples come in their original order: shuffle them every epoch."
    if _partition(epoch1) == _partition(epoch2):
        return (
            "two epochs drawn from one rng came in the same order: draw a new "
            "permutation on every call (do not re-seed inside the function)."
        )
    return ""


def evaluate_minibatch_sampler(fn):
    """Whether fn(n, batch_size, rng) samples an epoch as runners.minibatches does, shuffled by rng."""
    name = name_of(fn)
    cases = [(10, 3), (442, 32), (7, 7), (6, 1), (12, 4)]
    for i, (n, batch_size) in enumerate(cases, 1):
        title = f"{i}/{len(cases)} (n = {n}, batch_size = {batch_size})"
        rng = np.random.default_rng(i)
        epochs = []
        for r in (rng, rng, np.random.default_rng(i)):  # two epochs, then the first again
            epoch, failed = call_student(fn, name, title, n, batch_size, r)
            if failed is not None:
                return failed
            epochs.append(epoch)
        problem = _sampler_problem(*epochs, n, batch_size)
        if problem:
            return Report(name, False, [f"✘ {name}: case {title}", f"  hint: {problem}"])
    lines = [
        f"✔ {name}: {len(cases)} cases: every example once per epoch, "
        "in batches of batch_size, shuffled by rng."
    ]
    return Report(name, True, lines + [f"  · n = {n}, batch_size = {b}" for n, b in cases])


check_minibatch_sampler = printing(evaluate_minibatch_sampler)


# --- Exercise 1.9: the sharpness λ_max by power iteration -----------------------------------


def _iterate(A, v0, k):
    """The power iteration's unit vector after k steps from v0: A^k v0 / ‖A^k v0‖."""
    v = v0 / np.linalg.norm(v0)
    for _ in range(k):
        v = A @ v
        v = v / np.linalg.norm(v)
    return v


def _rayleigh(A, v):
    return float(v @ A @ v / (v @ v))


def _sharpness_slips(A, v0, iters):
    """diagnose(got, expected) for one case: the answers of the usual slips, by value."""

    def slips():  # worked out only for a wrong answer
        v = _iterate(A, v0, iters)
        with np.errstate(all="ignore"):
            w = np.linalg.matrix_power(A, iters) @ v0
        values = [
            (
                float(v0 @ A @ v0),
                "normalise v0 first: with iters = 0 the answer is vᵀHv for v = v0/‖v0‖.",
            )
        ]
        if iters:
            values.append(
                (
                    float(w @ A @ w) if np.all(np.isfinite(w)) else np.inf,
                    "v is never normalised: start from v0/‖v0‖ and normalise v at every "
                    "iteration (or divide vᵀHv by vᵀv): vᵀHv of a long v is not λ.",
                )
            )
            v_before = _iterate(A, v0, iters - 1)
            values += [
                (
                    float(np.linalg.norm(A @ v_before)),
                    "that is ‖Hv‖ (v_newᵀ H v_old, with v_new = Hv_old/‖Hv_old‖): it tends to "
                    "|λ_max| too, but slower; return the Rayleigh quotient vᵀHv of the final v.",
                ),
                (
                    float(np.linalg.norm(A @ v)),
                    "that is ‖Hv‖: return the Rayleigh quotient vᵀHv of the final unit v.",
                ),
                (
                    float((A @ v_before) @ A @ (A @ v_before)),
                    "that is wᵀHw for the unnormalised w = Hv: normalise w first, or divide "
                    "wᵀHw by wᵀw.",
                ),
                (
                    _rayleigh(A, v_before),
                    "one iteration too few: apply v ← Hv/‖Hv‖ exactly `iters` times, then return vᵀHv.",
                ),
            ]
        values.append(
            (
                _rayleigh(A, _iterate(A, v0, iters + 1)),
                "one iteration too many: apply v ← Hv/‖Hv‖ exactly `iters` times, then return vᵀHv.",
            )
        )
        values += [
            (
                _rayleigh(A, _iterate(A, v0, fixed)),
                f"iters = {iters} in this case: iterate `iters` times, not a fixed {fixed}.",
            )
            for fixed in (5, 10, 20, 50, 100, 1000)
            if fixed != iters
        ]
        return values

    def diagnose(got, expected):
        if got.size != 1:
            return f"return one number, λ = vᵀHv (got an array of shape {got.shape}: the vector?)."
        for value, text in slips():
            if np.isclose(float(got.ravel()[0]), value, rtol=1e-9, atol=1e-12):
                return text
        return ""

    return diagnose


def _no_loop(report):
    if "UnboundLocalError" in report.lines[0] or "NameError" in report.lines[0]:
        return (
            "with iters = 0 the loop does not run: set v = v0/‖v0‖ before the loop, so "
            "that vᵀHv is defined whatever iters is."
        )
    return ""


SHARPNESS = (
    "start from v = v0/‖v0‖, apply v ← Hv/‖Hv‖ exactly `iters` times, then return the "
    "Rayleigh quotient vᵀHv (one number)."
)


def sharpness_cases():
    """fn(hvp, v0, iters) → vᵀHv after iters iterations: λ_max (numpy.linalg.eigvalsh) where
    the iteration has converged, the Rayleigh quotient of the iterate (numpy.linalg.matrix_power)
    where it has not."""
    rng = np.random.default_rng(4)
    spectrum5 = quadratic_with_spectrum([5.0, 0.5, 10.0, 1.0, 2.0], seed=1).A
    close = quadratic_with_spectrum([1.0, 0.95, 0.3, 0.1], seed=2).A  # λ2/λ1 = 0.95
    X, _ = load_diabetes()
    diabetes = X.T @ X / len(X)
    converged = [
        ("course quadratic", course_quadratic.A, np.ones(2), 100),
        ("5-D, eigenvalues 10, 5, 2, 1, 0.5, rotated", spectrum5, rng.standard_normal(5), 100),
        ("diabetes Hessian XᵀX/n", diabetes, np.ones(10), 200),
        ("λ2/λ1 = 0.95: slow, 600 iterations", close, np.ones(4), 600),
    ]
    early = [
        (
            "5-D, 3 iterations: not converged, vᵀHv of the third iterate",
            spectrum5,
            3 * np.ones(5),
            3,
        ),
        (
            "course quadratic, iters = 0: v0 = (3, 4) normalised, nothing more",
            course_quadratic.A,
            np.array([3.0, 4.0]),
            0,
        ),
        ("λ2/λ1 = 0.95, 1 iteration from a long v0", close, np.array([5.0, -2.0, 4.0, 1.0]), 1),
    ]
    cases = []
    for name, A, v0, iters in converged + early:
        expected = (  # converged: λ_max; else the Rayleigh quotient of A^k v0
            float(np.linalg.eigvalsh(A)[-1])
            if iters >= 100
            else _rayleigh(A, np.linalg.matrix_power(A, iters) @ v0)
        )
        hvp = Budget(
            lambda v, A=A: A @ v,
            "hvp",
            limit=3 * iters + 50,
            advice="the loop runs `iters` times: `for _ in range(iters)`, one hvp a step.",
        )
        cases.append(
            Case(
                name,
                (hvp, v0, iters),
                expected,
                hint=SHARPNESS,
                rtol=1e-6 if iters >= 100 else 1e-9,
                diagnose=_sharpness_slips(A, v0, iters),
                on_error=_no_loop,
            )
        )
    return cases


def evaluate_sharpness(fn):
    """Compare fn(hvp, v0, iters) with vᵀHv after iters power iterations: the largest
    eigenvalue once converged (numpy.linalg.eigvalsh), the iterate's Rayleigh quotient before."""
    return evaluate_function(
        fn,
        sharpness_cases(),
        agree=": λ_max agrees with numpy.linalg.eigvalsh, and vᵀHv of the early iterates "
        "with that of A^k v0 (numpy.linalg.matrix_power).",
    )


check_sharpness = printing(evaluate_sharpness)


# --- Exercise 1.2 (predict): converge smoothly, oscillate or diverge --------------------------


def _unfinished(exercise, what):
    """The one-line ExerciseNotDone of an answer given as values, not as a function."""
    return ExerciseNotDone(
        f"{exercise} — not finished yet: fill in {what} above, run its cell, then run this "
        "cell again."
    )


BEHAVIOURS = ("smooth", "oscillates", "diverges")
PREDICTION_LRS = (0.04, 0.3, 0.49, 0.51)


def gd_behaviour(lr, steps=200):
    """What GD does on the course quadratic at this η, measured on a run of ``steps`` steps."""
    x, xs = course_quadratic.x0, [course_quadratic.x0]
    for _ in range(steps):
        x = x - lr * course_quadratic.grad(x)
        xs.append(x)
    xs = np.array(xs)
    if not np.linalg.norm(xs[-1]) < np.linalg.norm(xs[0]):
        return "diverges"
    flips = np.any(np.sign(xs[1:]) * np.sign(xs[:-1]) < 0)
    return "oscillates" if flips else "smooth"


def _behaviour_hint(lr, expected):
    """Why GD at this η on the course quadratic behaves as measured: its two factors."""
    f1, f2 = 1 - 0.2 * lr, 1 - 4 * lr
    factors = f"x1 is multiplied by 1 − 0.2η = {f1:.3g} per step, x2 by 1 − 4η = {f2:.3g}"
    why = {
        "smooth": "both factors lie between 0 and 1, so both coordinates shrink without "
        "changing sign.",
        "oscillates": "a factor between −1 and 0 flips the sign of x2 at every step, but "
        "it still shrinks.",
        "diverges": "a factor below −1 flips the sign AND grows: |x2| gets larger at every step.",
    }[expected]
    return f"{factors}: {why}"


def evaluate_gd_predictions(predictions):
    """Compare a dict {η: "smooth" | "oscillates" | "diverges"} with GD's measured behaviour."""
    name = "predictions"
    if not isinstance(predictions, dict):
        return Report(
            name,
            False,
            [f"✘ {name}: expected a dict {{η: prediction}}, got {type(predictions).__name__}."],
        )
    missing = [lr for lr in PREDICTION_LRS if predictions.get(lr) in (None, "?", ...)]
    if len(missing) == len(PREDICTION_LRS):
        raise _unfinished(
            "Exercise 1.2: converge, oscillate or diverge?", "each '?' in predictions"
        )
    for i, lr in enumerate(PREDICTION_LRS, 1):
        title = f"{i}/{len(PREDICTION_LRS)} (η = {lr})"
        got = predictions.get(lr)
        expected = gd_behaviour(lr)
        if got in (None, "?", ...):
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {title}: no prediction yet.",
                    f"  hint: write one of {', '.join(map(repr, BEHAVIOURS))} for η = {lr}.",
                ],
            )
        word = str(got).strip().lower()
        if word not in BEHAVIOURS:
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {title}: {got!r} is not one of "
                    f"{', '.join(map(repr, BEHAVIOURS))}.",
                    "  hint: 'converges' is not enough: say whether it converges smoothly "
                    "('smooth') or while flipping sign ('oscillates').",
                ],
            )
        if word != expected:
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {title}",
                    f"  expected {expected!r} (measured: 200 steps of GD from (−5, −2))",
                    f"  got      {word!r}",
                    f"  hint: {_behaviour_hint(lr, expected)}",
                ],
            )
    lines = [f"✔ {name}: {len(PREDICTION_LRS)} learning rates, each as measured:"]
    lines += [f"  · η = {lr}: {gd_behaviour(lr)}" for lr in PREDICTION_LRS]
    return Report(name, True, lines)


check_gd_predictions = printing(evaluate_gd_predictions)


# --- Exercise 1.4 (derive): the largest stable and the best learning rate --------------------


def _limits_hint(got, expected, lam_min, lam_max, part):
    """Name the usual slip in the largest stable η (part 0) or the best η (part 1)."""
    if np.size(got) != 1:
        return "return two numbers: `return largest, best`."
    got = float(np.ravel(got)[0])
    largest = [
        (
            1 / lam_max,
            "1/λ_max is where the steep direction starts to oscillate (its factor "
            "1 − ηλ_max reaches 0); it still converges until that factor reaches −1.",
        ),
        (
            2 / lam_min,
            "2/λ_min lets the steep direction diverge first: its factor 1 − ηλ_max "
            "passes −1 long before the flat one's does.",
        ),
        (1 / lam_min, "at 1/λ_min the steep direction's factor 1 − ηλ_max is far below −1."),
        (
            2 / (lam_min + lam_max),
            "that is the best η; GD still converges a little beyond it, "
            "until the steep direction's factor 1 − ηλ_max reaches −1.",
        ),
    ]
    best = [
        (
            1 / lam_max,
            "at 1/λ_max the steep direction is solved in one step, but the flat one "
            "still shrinks only by 1 − λ_min/λ_max: a larger η helps it, until the steep "
            "direction's |1 − ηλ_max| catches up.",
        ),
        (2 / lam_max, "at 2/λ_max the steep direction's factor is −1: it no longer shrinks."),
        (
            1 / (lam_min + lam_max),
            "that is half the best η: balance the two factors, 1 − ηλ_min = −(1 − ηλ_max).",
        ),
        (1 / lam_min, "at 1/λ_min the steep direction's factor 1 − ηλ_max is far below −1."),
    ]
    if lam_max > lam_min:
        best.append(
            (
                2 / (lam_max - lam_min),
                "check the sign: 1 − ηλ_min = −(1 − ηλ_max) gives η(λ_min + λ_max) = 2.",
            )
        )
    for value, hint in (largest, best)[part]:
        if np.isclose(got, value, rtol=1e-6) and not np.isclose(value, expected, rtol=1e-6):
            return hint
    if part == 1:
        return (
            "the best η makes the larger of |1 − ηλ_min| and |1 − ηλ_max| as small as "
            "possible: one falls as η grows, the other rises, so they are equal at the best η."
        )
    return "GD diverges once a factor 1 − ηλ_i falls below −1: which λ_i gets there first?"


def gd_limits_cases():
    """fn(lam_min, lam_max) → (largest stable η, best η) on quadratics with these eigenvalues."""
    X, _ = load_diabetes()
    lam = np.linalg.eigvalsh(X.T @ X / len(X))
    rows = [
        ("course quadratic, λ = 0.2 and 4", 0.2, 4.0),
        ("λ = 1 and 10", 1.0, 10.0),
        ("diabetes Hessian, κ ≈ 470", float(lam[0]), float(lam[-1])),
        ("λ_min = λ_max = 2 (a round bowl)", 2.0, 2.0),
    ]
    return [
        Case(
            name,
            (lo, hi),
            (2 / hi, 2 / (lo + hi)),
            parts=("largest stable η", "best η"),
            rtol=1e-9,
            diagnose=tuple(partial(_limits_hint, lam_min=lo, lam_max=hi, part=k) for k in (0, 1)),
        )
        for name, lo, hi in rows
    ]


def evaluate_gd_limits(fn):
    """Compare fn(lam_min, lam_max) with GD's stability limit 2/λ_max and best η 2/(λ_min + λ_max)."""
    return evaluate_function(
        fn, gd_limits_cases(), agree=": the largest stable and the best η agree with the theory."
    )


check_gd_limits = printing(evaluate_gd_limits)


# --- Exercise 1.7 (design): a noise floor four times lower ----------------------------------

DESIGN_FROM = (0.05, 32)  # (η, |B|) of the run whose floor is to be lowered
DESIGN_MAX_BATCH = 64
DESIGN_FACTOR = 4


def evaluate_floor_design(lr, batch_size):
    """Whether (lr, batch_size) lowers the floor η σ*²/(4|B|) of (0.05, 32) fourfold, as fast as allowed."""
    name = "design"
    if lr is None or batch_size is None:
        raise _unfinished("Exercise 1.7: a floor four times lower", "lr and batch_size")
    lr0, b0 = DESIGN_FROM
    title = f"(η, |B|) = ({lr!r}, {batch_size!r})"
    problem = ""
    try:
        lr, batch_size = float(lr), batch_size
        whole = float(batch_size) == int(batch_size) and int(batch_size) >= 1
    except (TypeError, ValueError):
        return Report(name, False, [f"✘ {name}: {title}: expected two numbers, η and |B|."])
    if not whole:
        problem = "the batch size is a whole number of examples, at least 1."
    elif int(batch_size) > DESIGN_MAX_BATCH:
        problem = (
            f"|B| = {int(batch_size)} does not fit in memory (at most {DESIGN_MAX_BATCH} "
            "examples): lower η instead of growing the batch further."
        )
    elif not lr > 0:
        problem = "η must be positive."
    else:
        ratio = (lr / int(batch_size)) / (lr0 / b0)  # the floor, relative to the old one
        if ratio > 1 / DESIGN_FACTOR * (1 + 1e-6):
            known = {
                0.5: "the floor halved, not quartered: the floor is proportional to η/|B| "
                "(the variance of the gradient), not to its standard deviation.",
                1.0: "η/|B| is unchanged, so the floor is too: it depends on their ratio.",
            }
            problem = next(
                (h for r, h in known.items() if np.isclose(ratio, r, rtol=1e-3)),
                f"this floor is {ratio:.3g} × the old one, not ¼: the floor is proportional "
                "to η/|B|.",
            )
        elif int(batch_size) < DESIGN_MAX_BATCH:
            problem = (
                f"the floor is low enough, but a batch of {int(batch_size)} forces a smaller η "
                f"than a batch of {DESIGN_MAX_BATCH}: per update the descent is proportional to "
                "η, so take the largest batch that fits, and the largest η it allows."
            )
        elif ratio < 0.95 / DESIGN_FACTOR:
            problem = (
                f"this floor is {ratio:.3g} × the old one, lower than needed: the descent per "
                "update is proportional to η, so take the largest η that meets the target."
            )
    if problem:
        return Report(
            name,
            False,
            [
                f"✘ {name}: {title}",
                f"  expected η/|B| = ¼ × {lr0}/{b0} with |B| ≤ "
                f"{DESIGN_MAX_BATCH}, as few updates as possible",
                f"  hint: {problem}",
            ],
        )
    return Report(
        name,
        True,
        [
            f"✔ {name}: η = {lr:g}, |B| = {int(batch_size)}: η/|B| is a quarter of "
            f"{lr0}/{b0}, with the largest batch that fits."
        ],
    )


check_floor_design = printing(evaluate_floor_design)


# --- Exercise 1.8 (diagnose): four runs gone wrong ------------------------------------------

CAUSES = ("learning rate too large", "ravine", "plateau", "noise floor")
_MYSTERY = {"A": "ravine", "B": "noise floor", "C": "learning rate too large", "D": "plateau"}
_SIGNATURES = {
    "ravine": "it falls smoothly, fast at first and then along a slow straight line on the "
    "log scale: no noise, no growth, no pause. One direction's factor 1 − ηλ_min is close to 1 "
    "(an ill-conditioned problem).",
    "noise floor": "it falls, then jitters up and down around a level it never leaves: the "
    "noise of mini-batch gradients with a constant η.",
    "learning rate too large": "it grows steadily, a straight rising line on the log scale: "
    "a factor 1 − ηλ_max below −1 multiplies the error at every step.",
    "plateau": "it stays almost flat for a long stretch at a high loss, then drops: the "
    "gradient nearly vanished there (a saturated unit or a saddle).",
}


def _gd_gaps(problem, lr, steps):
    x, xs = problem.x0, [problem.x0]
    for _ in range(steps):
        x = x - lr * problem.grad(x)
        xs.append(x)
    return problem.f(np.array(xs)) - problem.f_star


def gd_mystery_runs(steps=300):
    """Exercise 1.8's runs: f − f* at every step, keyed "A" … "D" (how they were made is the exercise)."""
    X, y = load_diabetes()
    diabetes = LeastSquares(X, y)
    ravine = Quadratic(np.diag([0.01, 1.0]), x0=(-5.0, -2.0), name="ravine, κ = 100")
    sgd = diabetes.sgd_runs(diabetes.x0, [0.05], [0], 8, steps)[:, 0]
    with np.errstate(all="ignore"):
        return {
            "A": _gd_gaps(ravine, 1.5, steps),
            "B": diabetes.excess_loss(np.vstack([diabetes.x0, sgd])),
            "C": _gd_gaps(diabetes, 0.505, steps),
            "D": _gd_gaps(tanh_plateau, 1.0, steps),
        }


def evaluate_gd_diagnosis(diagnosis):
    """Compare a dict {run: cause} with the causes of the runs of ``gd_mystery_runs``."""
    name = "diagnosis"
    if not isinstance(diagnosis, dict):
        return Report(
            name,
            False,
            [f"✘ {name}: expected a dict {{run: cause}}, got {type(diagnosis).__name__}."],
        )
    if all(diagnosis.get(k) in (None, "?", ...) for k in _MYSTERY):
        raise _unfinished("Exercise 1.8: four runs gone wrong", "each '?' in diagnosis")
    for i, (run, cause) in enumerate(_MYSTERY.items(), 1):
        title = f"{i}/{len(_MYSTERY)} (run {run})"
        got = diagnosis.get(run)
        word = str(got).strip().lower() if got is not None else None
        if word not in CAUSES:
            return Report(
                name,
                False,
                [f"✘ {name}: case {title}: {got!r} is not one of {', '.join(map(repr, CAUSES))}."],
            )
        if word != cause:
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {title}",
                    f"  expected {cause!r}",
                    f"  got      {word!r}",
                    f"  hint: look at run {run} again: {_SIGNATURES[cause]}",
                ],
            )
    lines = [f"✔ {name}: {len(_MYSTERY)} runs, each cause named:"]
    lines += [f"  · run {run}: {cause}" for run, cause in _MYSTERY.items()]
    return Report(name, True, lines)


check_gd_diagnosis = printing(evaluate_gd_diagnosis)
