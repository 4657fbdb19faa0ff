"""Lesson 07 (deep networks): the factor per ReLU layer against the factors measured on deep
networks, initialisation stds against torch.nn.init, clipping by global norm against
torch.nn.utils.clip_grad_norm_, the batch-norm backward pass against torch.nn.BatchNorm1d and
finite differences, and the diagnosis of four runs."""

from functools import cache, partial

import numpy as np

from ..contract import name_of
from ..data import load_digits, load_references
from ..mlp import MLP, batch_norm_forward, numerical_gradient, split_train_validation
from .engine import Case, Described, Report, call_student, evaluate_function, printing

# --- Exercise 7.1: the factor per layer -----------------------------------------------------

# c = 3 first: there every usual slip (c, c/2, c²/2, c², c√2) gives a different value
FACTOR_GAINS = (3.0, 2.0, float(np.sqrt(2.0)), 1.0, 0.5)


@cache
def measured_factors(depths=tuple(range(2, 21, 3)), seeds=(0, 1, 2)):
    """{c: the factor per hidden layer of ‖∂f/∂W_1‖} for ReLU networks 64 → 32 × L → 10 with
    gain c at initialisation (lesson 07's set-up, 256 digits): 10^slope of the seeds' mean
    log10 ‖∂f/∂W_1‖ fitted against the depth L."""
    X, y = load_digits()
    X_train, y_train, _, _ = split_train_validation(X, y, validation=0.2, seed=0)
    X_small, y_small = X_train[:256], y_train[:256]
    factors = {}
    for c in FACTOR_GAINS:
        logs = []
        for seed in seeds:
            row = []
            for depth in depths:
                net = MLP(
                    X_small, y_small, (64,) + (32,) * depth + (10,), "relu", init=c, seed=seed
                )
                row.append(np.log10(net.layer_grad_norms(net.x0)[0]))
            logs.append(row)
        factors[c] = float(10 ** np.polyfit(depths, np.mean(logs, axis=0), 1)[0])
    return factors


def _factor_hint(got, expected, c):
    """The usual slip behind a wrong factor per layer, or ""."""
    slips = [
        (
            c,
            "that is a linear layer's factor: ReLU zeroes the negative half of z, so it keeps "
            "half of the mean square: the size is multiplied by c/√2.",
        ),
        (
            c / 2,
            "ReLU halves the mean square (the variance), not the size: the size is "
            "multiplied by √(1/2), so c/√2.",
        ),
        (c * c / 2, "c²/2 is the factor of the mean square; the size (its root) changes by c/√2."),
        (
            c * c,
            "c² is a linear layer's factor of the mean square: ReLU halves it, and the size "
            "is its root, c/√2.",
        ),
        (c * np.sqrt(2), "ReLU keeps half of the mean square: divide by √2, do not multiply."),
    ]
    for value, text in slips:
        if got.size == 1 and np.isclose(got.ravel()[0], value, rtol=1e-6):
            return text
    return ""


def factor_per_layer_cases():
    """fn(c) → the factor per layer, against the factors measured for five gains."""
    return [
        Case(
            f"c = {c:.3g}",
            (c,),
            factor,
            hint="Var(z_l) = c²·E[a_{l−1}²], and ReLU keeps the positive half of a symmetric "
            "z: the mean square is multiplied by c²/2 per layer, the size by its square root.",
            rtol=0.1,
            atol=0.0,
            diagnose=partial(_factor_hint, c=c),
            source="measured on ReLU networks of 2 to 20 hidden layers, within 10 %",
        )
        for c, factor in measured_factors().items()
    ]


def evaluate_factor_per_layer(fn):
    """Compare fn(c) with the factor per hidden layer measured on deep ReLU networks."""
    return evaluate_function(
        fn,
        factor_per_layer_cases(),
        agree=": your factor per layer matches the one measured on deep ReLU networks.",
    )


check_factor_per_layer = printing(evaluate_factor_per_layer)

# --- Exercise 7.1: Xavier and He initialisation ---------------------------------------------


def _init_hint(got, expected, scheme, fan_in, fan_out, gain):
    """The usual slip that reproduces a wrong std, or ""."""
    slips = [
        (gain / np.sqrt(fan_in), "Xavier averages the two fans: var = 2·gain²/(fan_in + fan_out).")
        if scheme == "xavier"
        else (gain / np.sqrt(fan_out), "He uses fan_in (torch's default mode='fan_in')."),
        (expected / gain, "torch multiplies by the nonlinearity's gain: 1, 5/3 (tanh), √2 (ReLU).")
        if gain != 1
        else (None, ""),
        (expected**2, "that is the variance: return the standard deviation, its square root."),
        (
            expected / np.sqrt(gain) if gain != 1 else None,
            "the gain multiplies the standard deviation (so the variance by gain²), not the "
            "variance.",
        ),
        (
            expected * np.sqrt(3),
            "that is the bound a of xavier_uniform_ (U(−a, a) has variance a²/3): the normal "
            "version's std is a/√3.",
        ),
    ]
    if scheme == "he" and gain == np.sqrt(2):
        slips[1] = (expected / gain, "He's factor 2 is missing: ReLU zeroes half of its inputs.")
    for value, text in slips:
        if value is not None and got.shape == () and np.isclose(got, value, rtol=1e-9):
            return text
    return ""


def init_std_cases():
    """fn(scheme, fan_in, fan_out, nonlinearity) → std, on torch's five reference cases."""
    ref = load_references("deep")["init_std"]
    return [
        Case(
            c["name"],
            tuple(c["args"]),
            c["expected"],
            hint=c["hint"],
            rtol=1e-9,
            atol=0.0,
            diagnose=partial(
                _init_hint,
                scheme=c["args"][0],
                fan_in=c["args"][1],
                fan_out=c["args"][2],
                gain=c["gain"],
            ),
            source="torch.nn.init",
        )
        for c in ref["cases"]
    ]


def evaluate_init_std(fn):
    """Compare fn(scheme, fan_in, fan_out, nonlinearity) → std with torch.nn.init's."""
    return evaluate_function(
        fn,
        init_std_cases(),
        agree=": the std agrees with torch.nn.init.xavier_normal_ / kaiming_normal_.",
    )


check_init_std = printing(evaluate_init_std)

# --- Exercise 7.2: clipping by global norm --------------------------------------------------


def _clip_hint(got, expected, grads, max_norm):
    """diagnose for the clipped arrays (flattened): the usual slips."""
    flat = [np.ravel(g) for g in grads]
    norms = [np.linalg.norm(g) for g in flat]
    total = np.sqrt(sum(n * n for n in norms))
    slips = [
        (
            [g * min(1.0, max_norm / (n + 1e-6)) for g, n in zip(flat, norms)],
            "clip by the *global* norm √(Σ‖g‖²) over all arrays, one factor for all of "
            "them: not each array by its own norm.",
        ),
        (
            [g * min(1.0, max_norm / (sum(norms) + 1e-6)) for g in flat],
            "the global norm is √(Σ‖g_i‖²), the norm of all entries together, not the sum "
            "of the arrays' norms Σ‖g_i‖.",
        ),
        (
            [g * min(1.0, max_norm / total) for g in flat],
            "torch divides by total + 1e-6: max_norm / (total + 1e-6).",
        ),
        (
            [g * max_norm / (total + 1e-6) for g in flat],
            "only shrink: the factor is min(1, max_norm / (total + 1e-6)); a gradient "
            "already shorter than max_norm is left as it is.",
        ),
        (
            [g * max_norm / total for g in flat],
            "only shrink, and add torch's 1e-6: the factor is min(1, max_norm / (total + "
            "1e-6)); a gradient already shorter than max_norm is left as it is.",
        ),
        (
            [np.clip(g, -max_norm, max_norm) for g in flat],
            "that clips each entry to [−max_norm, max_norm] (torch's clip_grad_value_): "
            "clip_grad_norm_ multiplies the whole gradient by one factor.",
        ),
        (
            flat,
            "the arrays come back unclipped: multiply every array by the factor "
            "min(1, max_norm / (total + 1e-6)).",
        ),
    ]
    said = []  # every slip with these values: one case may not tell them apart
    for values, text in slips:
        values = np.concatenate(values)
        if got.shape == values.shape and np.allclose(got, values, rtol=1e-9, atol=1e-15):
            said.append(text)
    return " Or: ".join(said)


def _total_hint(got, expected, grads=(), max_norm=1.0):
    if got.size != 1:
        return "total is one number, the global norm √(Σ‖g_i‖²) over all the arrays."
    got = float(got.ravel()[0])
    after = expected * min(1.0, max_norm / (expected + 1e-6))
    slips = [
        (expected**2, "total is the norm √(Σ‖g‖²), not its square."),
        (
            sum(np.linalg.norm(g) for g in grads),
            "total is √(Σ‖g_i‖²), not the sum of the arrays' norms Σ‖g_i‖.",
        ),
        (after, "total is the norm before clipping (torch returns that one), not after."),
        (min(expected, max_norm), "total is the norm before clipping, not min(total, max_norm)."),
    ]
    for value, text in slips:
        if np.isclose(got, value, rtol=1e-9):
            return text
    return "total = √(Σ‖g_i‖²): the norm of all the arrays' entries together, before clipping."


def _flattened(fn):
    """fn(grads, max_norm), its clipped arrays flattened into one vector when they are a list
    of arrays shaped like grads; else a Described that says what they are."""

    def clip_grad_norm(grads, max_norm):
        shapes = [g.shape for g in grads]
        result = fn(grads, max_norm)
        if not (isinstance(result, tuple) and len(result) == 2):
            return result
        clipped, total = result
        hint = (
            f"clipped is a list with one array per gradient array, shaped like it ({shapes}): "
            "[g * factor for g in grads]."
        )
        if isinstance(clipped, np.ndarray):
            what = f"one array of shape {clipped.shape}, not a list of {len(shapes)} arrays"
            return Described(what, hint), total
        if not isinstance(clipped, (list, tuple)):
            return Described(f"a {type(clipped).__name__}, not a list of arrays", hint), total
        got = [np.shape(c) for c in clipped]
        if got != shapes:
            return Described(f"a list of arrays of shapes {got}", hint), total
        return np.concatenate([np.ravel(c) for c in clipped]).astype(float), total

    return clip_grad_norm


def clip_grad_norm_cases():
    """fn(grads, max_norm) → (clipped, total), on torch's four reference cases."""
    ref = load_references("deep")["clip_grad_norm"]
    cases = []
    for c in ref["cases"]:
        grads = [np.array(g["array"], dtype=float) for g in c["grads"]]
        expected = np.concatenate([np.ravel(g["array"]) for g in c["expected"]]).astype(float)
        cases.append(
            Case(
                f"{c['name']}, max_norm = {c['max_norm']:g}",
                (grads, c["max_norm"]),
                (expected, c["total"]),
                hint="return (a new list of arrays shaped like grads, each times "
                "min(1, max_norm / (total + 1e-6)); the global norm before clipping); the report "
                "shows the clipped arrays one after the other, flattened.",
                parts=("clipped", "total"),
                rtol=1e-10,
                atol=0.0,
                diagnose=(
                    partial(_clip_hint, grads=grads, max_norm=c["max_norm"]),
                    partial(_total_hint, grads=grads, max_norm=c["max_norm"]),
                ),
                source=ref["source"],
                inplace_hint="return new arrays, g * factor: `g *= factor` scales the "
                "caller's gradients in place (torch's clip_grad_norm_ does that; the exercise "
                "returns a new list and leaves grads as they were).",
            )
        )
    return cases


def evaluate_clip_grad_norm(fn):
    """Compare fn(grads, max_norm) → (clipped arrays, total norm) with clip_grad_norm_."""
    return evaluate_function(
        _flattened(fn),
        clip_grad_norm_cases(),
        name=name_of(fn),
        agree=": the clipped gradients and the norm agree with torch.nn.utils.clip_grad_norm_.",
    )


check_clip_grad_norm = printing(evaluate_clip_grad_norm)

# --- Exercise 7.3: the batch-norm backward pass ---------------------------------------------


def _bn_hint(got, expected, dout, out, inv_std):
    n = len(dout)
    slips = [
        (
            dout * inv_std,
            "the mean terms are missing: each output depends on the whole batch through its "
            "mean and variance, so dz = inv_std·(dout − mean(dout) − out·mean(dout ⊙ out)).",
        ),
        (
            inv_std * (dout - dout.mean(axis=0)),
            "the variance's term −out·mean(dout ⊙ out) is missing.",
        ),
        (
            inv_std * (dout - dout.mean(axis=0) + out * (dout * out).mean(axis=0)),
            "the variance's term is subtracted: − out·mean(dout ⊙ out).",
        ),
        (
            inv_std * (dout - out * (dout * out).mean(axis=0)),
            "the mean's term −mean(dout) is missing.",
        ),
        (
            inv_std * (dout - dout.sum(axis=0) - out * (dout * out).sum(axis=0)),
            f"the batch terms are means over the N = {n} examples (axis=0), not sums.",
        ),
        (
            dout - dout.mean(axis=0) - out * (dout * out).mean(axis=0),
            "the whole bracket is multiplied by inv_std = 1/√(var + ε).",
        ),
        (
            inv_std**2 * (dout - dout.mean(axis=0) - out * (dout * out).mean(axis=0)),
            "inv_std multiplies the bracket once, not twice.",
        ),
        (
            inv_std
            * (
                dout
                - dout.mean(axis=1, keepdims=True)
                - out * (dout * out).mean(axis=1, keepdims=True)
            ),
            "the means are over the batch, axis 0 (one per feature), not over the features "
            "(axis 1).",
        ),
        (
            inv_std * (dout - dout.mean() - out * (dout * out).mean()),
            "the means are per feature, over the batch (axis 0), not over the whole array.",
        ),
    ]
    for value, text in slips:
        if got.shape == value.shape and np.allclose(got, value, rtol=1e-7, atol=1e-10):
            return text
    if got.shape != expected.shape:
        return f"dz has the shape of z and dout, {expected.shape}; got {got.shape}."
    return ""


def _bn_case(name, z, dout, eps, expected, source):
    out, inv_std = batch_norm_forward(z, eps)
    return Case(
        name,
        (dout, out, inv_std),
        expected,
        hint="dz = inv_std·(dout − mean(dout) − out·mean(dout ⊙ out)), the means over the "
        "batch (axis 0), one per feature.",
        rtol=1e-7,
        atol=1e-10,
        diagnose=partial(_bn_hint, dout=dout, out=out, inv_std=inv_std),
        source=source,
    )


def batch_norm_backward_cases():
    """fn(dout, out, inv_std) → dz: torch's three cases and one by finite differences."""
    ref = load_references("deep")["batch_norm_backward"]
    cases = [
        _bn_case(
            c["name"],
            np.array(c["z"], dtype=float),
            np.array(c["dout"], dtype=float),
            c["eps"],
            np.array(c["expected"], dtype=float),
            ref["source"],
        )
        for c in ref["cases"]
    ]
    rng = np.random.default_rng(70)
    z, dout = 3 * rng.normal(size=(6, 2)) - 1, rng.normal(size=(6, 2))
    dz = numerical_gradient(lambda v: float(np.sum(dout * batch_norm_forward(v)[0])), z)
    return cases + [_bn_case("batch of 6, 2 features", z, dout, 1e-5, dz, "finite differences")]


def evaluate_batch_norm_backward(fn):
    """Compare fn(dout, out, inv_std) → dz with BatchNorm1d's backward and finite differences."""
    return evaluate_function(
        fn,
        batch_norm_backward_cases(),
        agree=": dz agrees with torch.nn.BatchNorm1d and with finite differences.",
    )


check_batch_norm_backward = printing(evaluate_batch_norm_backward)


# --- Exercise 7.5: diagnose four runs -------------------------------------------------------

CAUSES = (
    "vanishing gradients",
    "exploding gradients",
    "layer mismatch",
    "learning rate too small",
)

# The lesson's four runs, their cause, and what tells each apart from the others.
DIAGNOSES = {
    "A": (
        "layer mismatch",
        "A's loss falls, but at the start its first layers' gradients are far larger than its "
        "last's (tanh at a large gain): no one η suits every layer, a layer mismatch.",
    ),
    "B": (
        "learning rate too small",
        "B's gradients are of order one in every layer and its loss falls steadily, only "
        "slowly: the network is fine, its learning rate is too small.",
    ),
    "C": (
        "vanishing gradients",
        "C's loss does not leave log 10 and its gradients are tiny in every layer, thousands of "
        "times smaller than B's: vanishing gradients, which no η of the grid repaired.",
    ),
    "D": (
        "exploding gradients",
        "D's loss leaves the picture within a few updates and its gradients are large in every "
        "layer: exploding gradients.",
    ),
}


def evaluate_diagnosis(fn):
    """Check fn() → {run: cause} for the lesson's runs A–D, each cause one of CAUSES."""
    name = name_of(fn)
    title = "1/1 (the four runs)"
    answer, failed = call_student(fn, name, title)
    if failed is not None:
        return failed
    keys = sorted(DIAGNOSES)
    if not isinstance(answer, dict) or sorted(answer) != keys:
        got = sorted(answer) if isinstance(answer, dict) else type(answer).__name__
        return Report(
            name,
            False,
            [
                f"✘ {name}: case {title}: expected a dict with the keys {keys}; got {got}",
                f'  hint: return {{"A": cause, "B": cause, …}}, each cause one of {list(CAUSES)}.',
            ],
        )
    unknown = [k for k in keys if answer[k] not in CAUSES]
    if unknown:
        k = unknown[0]
        return Report(
            name,
            False,
            [
                f"✘ {name}: case {title}: run {k}: {answer[k]!r} is not one of the causes",
                f"  hint: spell it as in CAUSES: {list(CAUSES)}.",
            ],
        )
    wrong = [k for k in keys if answer[k] != DIAGNOSES[k][0]]
    if wrong:
        k = wrong[0]
        more = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
        return Report(
            name,
            False,
            [
                f"✘ {name}: case {title}: run {k} is not {answer[k]!r}{more}",
                f"  hint: {DIAGNOSES[k][1]}",
            ],
        )
    lines = [f"✔ {name}: every run diagnosed."]
    lines += [f"  · {k}: {cause}" for k, (cause, _) in DIAGNOSES.items()]
    return Report(name, True, lines)


check_diagnosis = printing(evaluate_diagnosis)
