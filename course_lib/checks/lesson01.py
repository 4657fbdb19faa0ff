"""Lesson 01 (gradient descent): the contraction factor, the mini-batch gradient, the
mini-batch sampler and the sharpness by power iteration."""

from functools import partial

import numpy as np

from ..contract import name_of
from ..data import load_diabetes
from ..problems import LeastSquares, course_quadratic, quadratic_with_spectrum
from ..runners import minibatches
from .engine import Budget, Case, Report, call_student, evaluate_function, printing

# --- Exercise 1.2: the contraction factor ---------------------------------------------------


CONTRACTION = "ρ(η) = max_i |1 − ηλ_i|: one number, over every eigenvalue (in any order)."


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
            "that is the square, the factor by which f − f* shrinks: ρ(η) is the factor of "
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

# --- Exercise 1.3: the mini-batch gradient --------------------------------------------------


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
        return (
            f"the gradient has one entry per weight: shape {expected.shape}, like w (Xᵀr, not X r)."
        )
    known = [
        (-1.0, "wrong sign: the residual is x_iᵀw − y_i (prediction minus target)."),
        (
            float(batch),
            f"{batch} × too large: you summed over the batch; average (divide by the batch size).",
        ),
        (batch / n, f"{batch}/{n} × the expected: divide by the batch size, not by n."),
        (2.0, "2 × too large: the ½ in ½(x_iᵀw − y_i)² cancels the 2 of the derivative."),
        (0.5, "½ × the expected: the derivative of ½ r² is r, not ½ r."),
    ]
    for factor, hint in known:
        if factor != 1 and np.allclose(got, factor * expected, rtol=1e-7, atol=1e-12):
            return hint
    return (
        "g_B = X_Bᵀ(X_B w − y_B)/|B| with X_B = X[idx] and y_B = y[idx]: the residuals of "
        "the batch's rows, times their features, averaged over the batch."
    )


def minibatch_grad_cases():
    """fn(X, y, w, idx) on the diabetes data and a small random problem; expected: LeastSquares."""
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
    """Compare fn(X, y, w, idx) with ∇ of (1/|B|) Σ_{i∈B} ½(x_iᵀw − y_i)², B = idx."""
    return evaluate_function(
        fn, minibatch_grad_cases(), agree=" agree with course_lib.LeastSquares.grad."
    )


check_minibatch_grad = printing(evaluate_minibatch_grad)

# --- Exercise 1.4: the mini-batch sampler ---------------------------------------------------


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


# --- Exercise 1.5: the sharpness λ_max by power iteration -----------------------------------


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
