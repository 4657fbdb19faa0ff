"""Lesson 06 (training a network): softmax cross-entropy and backward through a tanh layer
(Exercises 6.1–6.2), momentum's best η predicted (6.3), the schedules against
torch.optim.lr_scheduler (6.4–6.5), three training runs diagnosed (6.6) and an experiment where
a schedule pays (6.7)."""

from functools import partial

import numpy as np

from .. import optimizers
from ..contract import name_of
from ..data import load_references
from ..mlp import numerical_gradient, softmax_cross_entropy, train_lockstep
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


def _dense_hints(da, x, W, a):
    """diagnose for dW, db and dx: the usual mistake each wrong gradient matches."""
    delta = da * (1 - a * a)
    products = lambda d: (x.T @ d, d.sum(axis=0), d @ W.T)  # dW, db, dx from δ
    mistakes = [
        (
            products(da),
            "the tanh derivative is missing: multiply da by 1 − a² (a is the layer's output) "
            "before the products.",
        ),
        (
            products(da * (1 - np.tanh(a) ** 2)),
            "a is already tanh(z): the derivative is 1 − a², not 1 − tanh(a)².",
        ),
        (
            (None, delta.mean(axis=0), None),
            "sum over the examples, do not average: the 1/N is already inside da.",
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
    """A seeded layer a = tanh(x W + b) and da; expected: finite differences of Σ da ⊙ a."""
    da, x = rng.normal(size=(n, d_out)), rng.normal(size=(n, d_in))
    W, b = rng.normal(size=(d_in, d_out)) / np.sqrt(d_in), rng.normal(size=d_out) * 0.5
    a = np.tanh(x @ W + b)
    scalar = lambda x_, W_, b_: float(np.sum(da * np.tanh(x_ @ W_ + b_)))
    expected = (
        numerical_gradient(lambda v: scalar(x, v, b), W),
        numerical_gradient(lambda v: scalar(x, W, v), b),
        numerical_gradient(lambda v: scalar(v, W, b), x),
    )
    return Case(
        name,
        (da, x, W, a),
        expected,
        hint=hint,
        parts=("dW", "db", "dx"),
        rtol=1e-6,
        atol=1e-8,
        diagnose=_dense_hints(da, x, W, a),
        source="finite differences",
    )


def dense_tanh_cases():
    """fn(da, x, W, a) → (dW, db, dx) on three seeded layers."""
    rng = np.random.default_rng(7)
    return [
        _dense_tanh_case(
            rng,
            3,
            4,
            2,
            "batch of 3, 4 inputs → 2 units",
            "with z = x W + b and a = tanh(z): δ = da ⊙ (1 − a²), dW = xᵀ δ, "
            "db = Σ_i δ_i, dx = δ Wᵀ.",
        ),
        _dense_tanh_case(
            rng,
            1,
            5,
            3,
            "one example, 5 inputs → 3 units",
            "db sums δ over the examples (axis=0): shape (units,).",
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
    """Compare fn(da, x, W, a) → (dW, db, dx) for a = tanh(x W + b) with finite differences."""
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


# --- Section 2: the two functions chained are the network's gradient --------------------------


def evaluate_backprop_chain(dW1, db1, net, idx):
    """Compare the first layer's gradient chained by hand (Exercises 6.1 and 6.2) with
    ``net.grad(net.x0, idx)`` for W_1 and b_1."""
    name = "backprop_chain"
    (gW1, gb1), *_ = net.unpack(net.grad(net.x0, idx))
    for part, got, expected in (("dW1", dW1, gW1), ("db1", db1, gb1)):
        got = np.asarray(got, dtype=float)
        if got.shape != expected.shape:
            return Report(
                name,
                False,
                [
                    f"✘ {name}: {part} has shape {got.shape}; net.grad's is {expected.shape}.",
                    "  hint: dense_tanh_backward returns (dW, db, dx) in that order, dW shaped "
                    "like W_1 and db like b_1.",
                ],
            )
        if not np.allclose(got, expected, rtol=1e-8, atol=1e-12):
            return Report(
                name,
                False,
                [
                    f"✘ {name}: {part} differs from net.grad's by up to "
                    f"{np.max(np.abs(got - expected)):.2g}",
                    "  hint: δ_2 from softmax_cross_entropy, back through W_2 (δ_2 W_2ᵀ is ∂f/∂a_1), "
                    "then dense_tanh_backward(that, X_batch, W1, a1); do both checks above pass?",
                ],
            )
    return Report(
        name,
        True,
        [f"✔ {name}: your two functions, chained, give net.grad for W_1 and b_1 (to 1e-8)."],
    )


check_backprop_chain = printing(evaluate_backprop_chain)

# --- Exercise 6.3: momentum's best learning rate against SGD's ---------------------------------

MOMENTUM_HINTS = {
    "one": (
        "momentum adds up the past gradients: with a gradient that stays the same, its step grows "
        "to η g/(1 − γ). For the same steps as SGD it needs a smaller η."
    ),
    "inverted": "that is momentum's best η over SGD's, the inverse: SGD's is the larger one.",
    "other": (
        "with a gradient g that stays the same for many updates, momentum's velocity settles at "
        "v = γ v + η g, so v = η g/(1 − γ): at γ = 0.9, how many times SGD's step η g is that?"
    ),
}


def curve_shift(right, left):
    """The factor F, a power of √10, that moves ``left``'s loss curve onto ``right``'s: the mean
    squared difference of log mean loss, over their rates with η_right = F η_left (at least three
    such pairs), is lowest. Both are Tuned results on grids of rates half a decade apart."""
    mismatch = {}
    for j in range(-8, 9):
        factor = 10 ** (j / 2)
        pairs = [
            (np.log(a), np.log(b))
            for lr, a in zip(right.lrs, right.mean)
            for lr_left, b in zip(left.lrs, left.mean)
            if np.isclose(lr, factor * lr_left, rtol=1e-6) and np.isfinite(a) and np.isfinite(b)
        ]
        if len(pairs) >= 3:
            mismatch[factor] = np.mean([(a - b) ** 2 for a, b in pairs])
    return min(mismatch, key=mismatch.get), mismatch


def evaluate_momentum_factor(prediction, sweep):
    """Compare a predicted factor, SGD's best η ÷ momentum's (γ = 0.9), with the sweep's: the
    factor that moves momentum's loss curve onto SGD's (``curve_shift``, robust where a best η
    is decided by the seeds); within a quarter of a decade (half the grid's spacing) passes."""
    name = "sgd_over_momentum"
    measured = curve_shift(sweep["gd"], sweep["momentum"])[0]
    try:
        value = float(prediction)
    except (TypeError, ValueError):
        value = np.nan
    said = f"SGD's loss curve is momentum's moved {measured:.3g} times to the right"
    if not value > 0:
        return Report(
            name,
            False,
            [
                f"✘ {name}: expected one positive number, a factor; got {prediction!r}.",
                "  hint: by what factor is SGD's best η larger than momentum's? e.g. 3.0.",
            ],
        )
    if abs(np.log10(value / measured)) <= 0.25:
        return Report(
            name,
            True,
            [f"✔ {name}: {said}; you predicted {value:g}. Momentum's steps are η g/(1 − γ)."],
        )
    if abs(np.log10(value)) <= 0.25:
        hint = MOMENTUM_HINTS["one"]
    elif abs(np.log10(value * measured)) <= 0.25:
        hint = MOMENTUM_HINTS["inverted"]
    else:
        hint = MOMENTUM_HINTS["other"]
    return Report(
        name,
        False,
        [f"✘ {name}: you predicted {value:g}; measured: {said}.", f"  hint: {hint}"],
    )


check_momentum_factor = printing(evaluate_momentum_factor)

# --- Exercise 6.6: three training runs, diagnosed ----------------------------------------------

DIAGNOSES = ("too large", "too small", "decays too early")
MYSTERY_TRAININGS = {"A": "decays too early", "B": "too large", "C": "too small"}
# SGD, batches of 32, seed 0: the learning rate of update t for each run
MYSTERY_RATES = {
    "too large": lambda t: 10.0,
    "too small": lambda t: 0.03,
    "decays too early": lambda t: 3.0 * 0.9**t,  # a hundredth of its start after 45 updates
}


def mystery_trainings(net, epochs=10, record_every=15):
    """Three runs of SGD on ``net``, {"A": Run, "B": Run, "C": Run}: the same initialisation
    and mini-batches (seed 0, batches of 32), each with its own learning rates (not said which:
    one too large, one too small, one a schedule that decays too early); the training loss
    recorded every ``record_every`` updates."""
    letters = list(MYSTERY_TRAININGS)
    rates = [MYSTERY_RATES[MYSTERY_TRAININGS[k]] for k in letters]
    runs = train_lockstep(
        optimizers.gd,
        net,
        epochs=epochs,
        batch_size=32,
        seed=0,
        schedule=lambda t: np.array([rate(t) for rate in rates]),
        record_every=record_every,
        every_epoch=False,
        label=letters,
    )
    return dict(zip(letters, runs))


TRAINING_TELLS = {
    "too large": (
        "a rate too large makes the loss jump: it may fall at first, then it stalls high and "
        "noisy (the cliff of section 4). Which run never gets low and never settles?"
    ),
    "too small": (
        "a rate too small gives a smooth curve that keeps falling at the same slow pace to the "
        "end: more updates, or a larger η, would help. Which run is still falling steadily?"
    ),
    "decays too early": (
        "a schedule that decays too early falls fast while its rate is large, then goes flat "
        "while the loss still had room to fall: the rate has reached almost zero."
    ),
}


def evaluate_training_diagnosis(diagnosis):
    """Compare a diagnosis {"A": …, "B": …, "C": …} (each one of "too large", "too small",
    "decays too early") with the learning rates of mystery_trainings()."""
    name = "diagnosis"
    if not isinstance(diagnosis, dict) or set(diagnosis) != set(MYSTERY_TRAININGS):
        got = sorted(diagnosis) if isinstance(diagnosis, dict) else type(diagnosis).__name__
        return Report(
            name,
            False,
            [
                f'✘ {name}: expected a dict with the keys "A", "B" and "C"; got {got}.',
                '  hint: one diagnosis for each run, e.g. {"A": "too small", "B": …, "C": …}.',
            ],
        )
    unknown = [v for v in diagnosis.values() if v not in DIAGNOSES]
    if unknown:
        return Report(
            name,
            False,
            [
                f"✘ {name}: {unknown[0]!r} is not one of the diagnoses.",
                '  hint: answer each run with "too large", "too small" or "decays too early".',
            ],
        )
    wrong = [k for k in MYSTERY_TRAININGS if diagnosis[k] != MYSTERY_TRAININGS[k]]
    if not wrong:
        said = "; ".join(f"{k}: {v}" for k, v in MYSTERY_TRAININGS.items())
        return Report(
            name,
            True,
            [
                f"✔ {name}: {said}. A: η = 3 × 0.9ᵗ, a hundredth of its start after one "
                "epoch; B: η = 10; C: η = 0.03."
            ],
        )
    lines = [f"✘ {name}: {len(wrong)} of the 3 runs diagnosed otherwise"]
    for k in wrong:
        lines += [
            f"  run {k}: you said {diagnosis[k]!r}",
            f"  hint: {TRAINING_TELLS[diagnosis[k]]}",
        ]
    return Report(name, False, lines)


check_training_diagnosis = printing(evaluate_training_diagnosis)

# --- Exercise 6.7: an experiment where a schedule pays ----------------------------------------

DESIGN_KEYS = ("weight_decay", "batch_size", "epochs")
UPDATE_BUDGET = 450  # the plain comparison's: 10 epochs of 45 mini-batches


def _design_problem(design):
    """A one-line reason the design is not one the exercise allows, or ''."""
    if not isinstance(design, dict):
        return f"expected a dict; got {type(design).__name__}."
    extra = sorted(set(design) - set(DESIGN_KEYS))
    if extra:
        return f"{extra} cannot be changed; a design sets some of {list(DESIGN_KEYS)}."
    omega = design.get("weight_decay", 0.0)
    if not (isinstance(omega, (int, float, np.floating)) and 0 <= omega <= 1):
        return f"weight_decay must be a number in 0 … 1; got {omega!r}."
    for key in ("batch_size", "epochs"):
        value = design.get(key, 1)
        if not (isinstance(value, (int, np.integer)) and value >= 1):
            return f"{key} must be a whole number ≥ 1; got {value!r}."
    return ""


def evaluate_schedule_design(design, race):
    """Judge a design (some of weight_decay, batch_size, epochs) by its measured outcome:
    race = {"constant": Tuned, "cosine": Tuned}, both schedules tuned on one grid with 3 seeds
    or more, within the budget of 450 updates. Passes when cosine's mean final loss is below
    the constant rate's by more than twice the larger of their standard deviations."""
    name = "design"
    problem = _design_problem(design)
    if problem:
        return Report(
            name,
            False,
            [
                f"✘ {name}: {problem}",
                '  hint: e.g. design = {"weight_decay": …} or {"batch_size": …, "epochs": …}.',
            ],
        )
    if not isinstance(race, dict) or set(race) != {"constant", "cosine"}:
        return Report(
            name,
            False,
            [
                f"✘ {name}: the race must be the dict race_schedules(**design) returns.",
                "  hint: run race_schedules(**design) and pass its result.",
            ],
        )
    constant, cosine = race["constant"], race["cosine"]
    if len(constant.seeds) < 3 or list(constant.lrs) != list(cosine.lrs):
        return Report(
            name,
            False,
            [
                f"✘ {name}: the two schedules must be tuned on one grid with 3 seeds or more.",
                "  hint: the fairness rule; race_schedules does that.",
            ],
        )
    updates = int(constant.best_runs[0].steps[-1])
    if updates > UPDATE_BUDGET:
        return Report(
            name,
            False,
            [
                f"✘ {name}: {updates} updates; the budget is {UPDATE_BUDGET}.",
                "  hint: epochs × updates per epoch (about 1438 / batch_size) must stay within "
                f"{UPDATE_BUDGET}: a gain bought with more updates is not the schedule's.",
            ],
        )
    gain = constant.best_mean - cosine.best_mean
    spread = max(constant.best_sd, cosine.best_sd)
    setting = ", ".join(f"{k}={v!r}" for k, v in design.items()) or "nothing changed"
    measured = (
        f"cosine {cosine.best_mean:.3g} ± {cosine.best_sd:.1g} (η = {cosine.best_lr:g}), "
        f"constant {constant.best_mean:.3g} ± {constant.best_sd:.1g} (η = {constant.best_lr:g})"
    )
    if gain > 2 * spread:
        return Report(
            name,
            True,
            [
                f"✔ {name}: with {setting}, cosine annealing ends below the tuned constant rate "
                f"by more than twice the seeds' spread: {measured}."
            ],
        )
    if not design.get("weight_decay"):
        hint = (
            "without a penalty this network can fit every training image: each example's "
            "gradient vanishes at the minimum, so there is no noise floor (ησ*²/(4|B|) with "
            "σ* = 0, lesson 01) for a decay to remove. What keeps the examples pulling apart "
            "at the minimum?"
        )
    elif gain > 0:
        hint = (
            "cosine ends lower, but by less than twice the seeds' spread: not a gain three "
            "seeds can tell from luck. A floor that sits higher (more noise at the minimum) "
            "makes the gain larger."
        )
    else:
        hint = (
            "the penalty leaves some noise at the minimum, but its floor is still below what the "
            "constant rate reaches in this budget. A larger ω raises it."
        )
    return Report(name, False, [f"✘ {name}: with {setting}: {measured}", f"  hint: {hint}"])


check_schedule_design = printing(evaluate_schedule_design)
