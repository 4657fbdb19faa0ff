"""Lesson 06 (training a network): softmax cross-entropy, backward through a tanh layer, and
learning-rate schedules against torch.optim.lr_scheduler."""

from functools import partial

import numpy as np

from ..contract import name_of
from ..data import load_references
from ..mlp import numerical_gradient, softmax_cross_entropy
from .engine import Case, Report, call_student, evaluate_function, fmt, printing

# --- Exercise 6.1: softmax cross-entropy ----------------------------------------------------


def _loss_hint(got, expected, n):
    if got.shape != ():
        return "the loss is one number, the mean over the batch."
    if not np.isfinite(got):
        return "got inf/NaN: exp overflowed; subtract each row's maximum before exp."
    if np.isclose(got, expected * n, rtol=1e-9):
        return "that is the sum over the batch: take the mean."
    return ""


def _dlogits_hint(got, expected, n):
    if got.shape != expected.shape:
        return f"dlogits must have the shape of logits, {expected.shape}; got {got.shape}."
    if np.allclose(got, -expected, rtol=1e-4, atol=1e-6):
        return "your gradient has the wrong sign: it is softmax(z) − onehot(y), not the reverse."
    if n > 1 and np.allclose(got, n * expected, rtol=1e-4, atol=1e-6):
        return f"your gradient is N = {n} times too large: the loss is a mean, so divide by N."
    return ""


def _softmax_cross_entropy_case(name, logits, y, hint):
    """Expected: course_lib.mlp's loss and central finite differences of it, computed now."""
    loss = softmax_cross_entropy(logits, y)[0]
    dlogits = numerical_gradient(lambda z: softmax_cross_entropy(z, y)[0], logits)
    return Case(
        name,
        (logits, y),
        (loss, dlogits),
        hint=hint,
        parts=("loss", "dlogits"),
        rtol=(1e-9, 1e-5),
        atol=(1e-12, 1e-6),
        diagnose=(partial(_loss_hint, n=len(y)), partial(_dlogits_hint, n=len(y))),
        source=("course_lib.mlp", "finite differences"),
    )


def softmax_cross_entropy_cases():
    """fn(logits, y) → (loss, dlogits) on a seeded batch, one example, and logits near 1000."""
    rng = np.random.default_rng(6)
    return [
        _softmax_cross_entropy_case(
            "3 examples, 4 classes",
            rng.normal(size=(3, 4)),
            np.array([0, 3, 1]),
            "loss = −mean_i log softmax(z_i)[y_i], softmax over each row (axis=1); "
            "dz = (softmax(z) − onehot(y)) / N.",
        ),
        _softmax_cross_entropy_case(
            "1 example, 5 classes",
            rng.normal(size=(1, 5)) * 2,
            np.array([2]),
            "softmax normalises each *row* (axis=1), over the classes.",
        ),
        _softmax_cross_entropy_case(
            "4 examples, 3 classes, logits ≈ 1000",
            1000 + 3 * rng.normal(size=(4, 3)),
            np.array([2, 0, 2, 1]),
            "exp(1000) overflows: subtract each row's maximum before exp (softmax does not "
            "change when a constant is added to a row).",
        ),
    ]


def evaluate_softmax_cross_entropy(fn):
    """Compare fn(logits, y) → (loss, dlogits) with course_lib.mlp and finite differences."""
    return evaluate_function(
        fn,
        softmax_cross_entropy_cases(),
        agree=": the loss agrees with course_lib.mlp and the gradient with finite differences.",
    )


check_softmax_cross_entropy = printing(evaluate_softmax_cross_entropy)

# --- Exercise 6.2: backward through a tanh layer --------------------------------------------


def _dense_hints(dh, x, W, h):
    """diagnose for dW, db and dx: the usual mistake each wrong gradient matches."""
    da = dh * (1 - h * h)
    products = lambda d: (x.T @ d, d.sum(axis=0), d @ W.T)  # dW, db, dx from the upstream d
    mistakes = [
        (
            products(dh),
            "the tanh derivative is missing: multiply dh by 1 − h² (h is the layer's output) "
            "before the products.",
        ),
        (
            products(dh * (1 - np.tanh(h) ** 2)),
            "h is already tanh(a): the derivative is 1 − h², not 1 − tanh(h)².",
        ),
        (
            (None, da.mean(axis=0), None),
            "sum over the examples, do not average: the 1/N is already inside dh.",
        ),
    ]

    def hint(k, got, expected):
        if got.shape != expected.shape:
            part, like = (("dW", "W"), ("db", "b"), ("dx", "x"))[k]
            return f"{part} must have shape {expected.shape}, like {like}; got {got.shape}."
        for values, text in mistakes:
            if values[k] is not None and np.allclose(got, values[k], rtol=1e-6, atol=1e-8):
                return text
        if np.allclose(got, -expected, rtol=1e-6, atol=1e-8):
            return "wrong sign."
        return ""

    return tuple(partial(hint, k) for k in range(3))


def _dense_tanh_case(rng, n, d_in, d_out, name, hint):
    """A seeded layer h = tanh(x W + b) and dh; expected: finite differences of Σ dh ⊙ h."""
    dh, x = rng.normal(size=(n, d_out)), rng.normal(size=(n, d_in))
    W, b = rng.normal(size=(d_in, d_out)) / np.sqrt(d_in), rng.normal(size=d_out) * 0.5
    h = np.tanh(x @ W + b)
    scalar = lambda x_, W_, b_: float(np.sum(dh * np.tanh(x_ @ W_ + b_)))
    expected = (
        numerical_gradient(lambda v: scalar(x, v, b), W),
        numerical_gradient(lambda v: scalar(x, W, v), b),
        numerical_gradient(lambda v: scalar(v, W, b), x),
    )
    return Case(
        name,
        (dh, x, W, h),
        expected,
        hint=hint,
        parts=("dW", "db", "dx"),
        rtol=1e-6,
        atol=1e-8,
        diagnose=_dense_hints(dh, x, W, h),
        source="finite differences",
    )


def dense_tanh_cases():
    """fn(dh, x, W, h) → (dW, db, dx) on three seeded layers."""
    rng = np.random.default_rng(7)
    return [
        _dense_tanh_case(
            rng,
            3,
            4,
            2,
            "batch of 3, 4 inputs → 2 units",
            "with a = x W + b and h = tanh(a): da = dh ⊙ (1 − h²), dW = xᵀ da, "
            "db = Σ_i da_i, dx = da Wᵀ.",
        ),
        _dense_tanh_case(
            rng,
            1,
            5,
            3,
            "one example, 5 inputs → 3 units",
            "db sums da over the examples (axis=0): shape (units,).",
        ),
        _dense_tanh_case(
            rng,
            6,
            3,
            5,
            "batch of 6, 3 inputs → 5 units",
            "each gradient has the shape of its variable: dW like W (inputs, units), "
            "dx like x (batch, inputs).",
        ),
    ]


def evaluate_dense_tanh_backward(fn):
    """Compare fn(dh, x, W, h) → (dW, db, dx) for h = tanh(x W + b) with finite differences."""
    return evaluate_function(
        fn, dense_tanh_cases(), agree=": dW, db and dx agree with finite differences."
    )


check_dense_tanh_backward = printing(evaluate_dense_tanh_backward)

# --- Exercises 6.3 and 6.4: learning-rate schedules -----------------------------------------


def _shift_hint(got, expected):
    """A hint when a schedule is the reference shifted by one update."""
    if len(got) > 2 and np.allclose(got[:-1], expected[1:], rtol=1e-9, atol=1e-12):
        return (
            "your rates are one update early: schedule(t) is the rate *of* update t, "
            "with t = 0 at the first update (π t / T, not π (t + 1) / T)."
        )
    if len(got) > 2 and np.allclose(got[1:], expected[:-1], rtol=1e-9, atol=1e-12):
        return "your rates are one update late: t starts at 0, where the rate is η (no t − 1)."
    return ""


def _rates(fn, name, title, hyperparameters, T):
    """fn(t, **hyperparameters) for t = 0 … T − 1: (rates, None), or (None, a ✘ Report)."""
    rates = []
    for t in range(T):
        value, failed = call_student(fn, name, f"{title} at t = {t}", t, **hyperparameters)
        if failed is not None:
            return None, failed
        try:
            rates.append(float(value))
        except (TypeError, ValueError):
            return None, Report(
                name,
                False,
                [
                    f"✘ {name}: case {title} returned {type(value).__name__} at t = {t}; "
                    "expected one number, the learning rate of update t."
                ],
            )
    return np.array(rates), None


def evaluate_schedule(fn, schedule=None, section="schedules"):
    """Compare fn(t, **hyperparameters), t = 0 … T, with torch.optim.lr_scheduler's rates."""
    name = name_of(fn)
    ref = load_references(section)["schedules"][schedule or name]
    for i, case in enumerate(ref["cases"], 1):
        title = f"{i}/{len(ref['cases'])} ({case['name']})"
        expected = np.array(case["expected"], dtype=float)
        got, failed = _rates(fn, name, title, case["hyperparameters"], len(expected))
        if failed is not None:
            return failed
        bad = ~np.isclose(got, expected, rtol=1e-9, atol=1e-12)
        if bad.any():
            t, last = int(np.argmax(bad)), len(expected) - 1
            hp = ", ".join(f"{k}={v!r}" for k, v in case["hyperparameters"].items())
            lines = [
                f"✘ {name}: case {title}, called as {name}(t, {hp})",
                f"  t = {t} is the first update that disagrees"
                + (" (the ones before it agree)" if t else ""),
                f"  expected lr_{t} = {expected[t]:.10g}",
                f"  got      lr_{t} = {got[t]:.10g}",
                f"  expected lr_0 … lr_{last}: {fmt(expected)}",
                f"  got      lr_0 … lr_{last}: {fmt(got)}",
            ]
            hints = [_shift_hint(got, expected), case.get("hint", "")]
            return Report(name, False, lines + [f"  hint: {h}" for h in hints if h])
    n = sum(len(c["expected"]) for c in ref["cases"])
    cases = f"{len(ref['cases'])} case" + ("s" if len(ref["cases"]) > 1 else "")
    lines = [f"✔ {name}: {cases}, {n} learning rates agree with {ref['source']}."]
    return Report(name, True, lines + [f"  · {c['name']}" for c in ref["cases"]])


check_schedule = printing(evaluate_schedule)
