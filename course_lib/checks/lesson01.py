"""Lesson 01 (gradient descent): the contraction factor, the mini-batch gradient, the
mini-batch sampler and the sharpness by power iteration."""

from functools import partial

import numpy as np

from ..contract import name_of
from ..data import load_diabetes
from ..problems import LeastSquares, course_quadratic, quadratic_with_spectrum
from ..runners import minibatches
from .engine import Case, Report, call_student, evaluate_function, printing

# --- Exercise 1.2: the contraction factor ---------------------------------------------------


def _contraction_case(name, lr, eigenvalues, A, hint):
    """Expected: the spectral norm of GD's iteration matrix I − ηA (numpy.linalg.norm)."""
    expected = float(np.linalg.norm(np.eye(len(A)) - lr * A, 2))
    return Case(name, (lr, np.array(eigenvalues)), expected, hint=hint, rtol=1e-9)


def gd_contraction_cases():
    """fn(lr, eigenvalues) on quadratics whose Hessian A has these eigenvalues."""
    q = course_quadratic
    eigs = np.array([5.0, 0.5, 10.0, 1.0, 2.0])  # unsorted on purpose
    A = quadratic_with_spectrum(eigs, seed=1).A
    return [
        _contraction_case(
            "course quadratic, η = 0.1 (λ_min is the slow direction)",
            0.1,
            q.eigenvalues,
            q.A,
            "every eigenvalue counts: with a small η the slowest direction is λ_min's.",
        ),
        _contraction_case("course quadratic, η = 0.4 (x2 oscillates)", 0.4, q.eigenvalues, q.A, ""),
        _contraction_case(
            "course quadratic, η = 0.6 (diverges)",
            0.6,
            q.eigenvalues,
            q.A,
            "take |1 − ηλ|: a factor below −1 flips the sign AND grows, so the run diverges.",
        ),
    ] + [
        _contraction_case(
            f"5-D, eigenvalues {eigs.tolist()} (unsorted), η = {lr}",
            lr,
            eigs,
            A,
            "use every eigenvalue (the array is not sorted): np.max(np.abs(...)).",
        )
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
    return ""


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


def _sharpness_hint(got, expected):
    """Tell the usual slips of a power iteration apart by the size of the answer."""
    got = float(np.ravel(got)[0]) if np.size(got) == 1 else None
    if got is None:
        return "return one number, λ_max (e.g. the Rayleigh quotient v·Hv with ‖v‖ = 1)."
    if abs(got) > 10 * abs(expected):
        return "normalise v at every iteration, and divide v·Hv by v·v (or use ‖v‖ = 1)."
    return "iterate `iters` times: v ← Hv/‖Hv‖, then λ = v·Hv; few iterations are not enough."


def sharpness_cases():
    """fn(hvp, v0, iters) → λ_max; expected: numpy.linalg.eigvalsh of the same matrix."""
    rng = np.random.default_rng(4)
    spectrum5 = quadratic_with_spectrum([5.0, 0.5, 10.0, 1.0, 2.0], seed=1).A
    close = quadratic_with_spectrum([1.0, 0.95, 0.3, 0.1], seed=2).A  # λ2/λ1 = 0.95
    X, _ = load_diabetes()
    diabetes = X.T @ X / len(X)
    cases = [
        ("course quadratic", course_quadratic.A, np.ones(2), 100),
        ("5-D, eigenvalues 10, 5, 2, 1, 0.5, rotated", spectrum5, rng.standard_normal(5), 100),
        ("diabetes Hessian XᵀX/n", diabetes, np.ones(10), 200),
        ("λ2/λ1 = 0.95: slow, 600 iterations", close, np.ones(4), 600),
    ]
    return [
        Case(
            name,
            (lambda v, A=A: A @ v, v0, iters),
            float(np.linalg.eigvalsh(A)[-1]),
            rtol=1e-6,
            diagnose=_sharpness_hint,
        )
        for name, A, v0, iters in cases
    ]


def evaluate_sharpness(fn):
    """Compare fn(hvp, v0, iters) with the largest eigenvalue of the matrix behind hvp."""
    return evaluate_function(fn, sharpness_cases(), agree=" agree with numpy.linalg.eigvalsh.")


check_sharpness = printing(evaluate_sharpness)
