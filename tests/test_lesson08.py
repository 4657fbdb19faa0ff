"""Lessons 08 and 08b (after Adam): every new rule agrees with its reference implementation to
1e-10; the rules train K networks in lockstep as they train one; the memory they keep is what
lesson 08's table says; and each exercise's check passes the right answers and rejects the
usual wrong ones with a hint that names the mistake."""

import numpy as np
import pytest
from lessons import Exercise, exercise_tests

from course_lib import checks, data, optimizers
from course_lib.checks import lesson08, lesson08b
from course_lib.contract import InputError
from course_lib.matrix_optimizers import (
    MATRIX_STEPS,
    adafactor,
    muon,
    newton_schulz,
    shampoo,
    soap,
    state_size,
    tensors,
)
from course_lib.mlp import MLP, split_train_validation, train_lockstep, tune_lockstep
from course_lib.runners import train_minibatch
from course_lib.sharpness import largest_eigenvalue, sam

RULES = {
    "lion": optimizers.lion,
    "schedule_free_sgd": optimizers.schedule_free_sgd,
    "schedule_free_adamw": optimizers.schedule_free_adamw,
    "sam": sam,
    **MATRIX_STEPS,
}
REFS = data.load_references("after_adam")["rules"]


# --- agreement with the real implementations ------------------------------------------------


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_agrees_with_its_reference_to_1e_10(rule):
    step = RULES[rule]
    for case in REFS[rule]["cases"]:
        grad, extras = lesson08.after_adam_problem(case["problem"], step)
        expected = np.array(case["expected"])
        x, state = expected[0].copy(), {}
        for k in range(1, len(expected)):
            x = step(x, grad, state, **extras, **case["hyperparameters"])
            assert np.allclose(x, expected[k], rtol=1e-10, atol=1e-12), (case["name"], k)
        assert not np.allclose(expected[-1], expected[0]), case["name"]  # the case moves


def test_every_reference_rule_has_a_course_rule():
    assert set(REFS) == set(RULES) | {"newton_schulz"}


def test_newton_schulz_agrees_with_torchs_iteration_run_in_float64():
    for case in REFS["newton_schulz"]["cases"]:
        got = newton_schulz(np.array(case["g"]), case["steps"])
        assert np.allclose(got, case["expected"], rtol=1e-10, atol=1e-13), case["name"]


@pytest.mark.regenerate
def test_torchs_bfloat16_iteration_is_a_percent_from_float64():
    # The lesson's sentence: torch.optim.Muon runs Newton–Schulz in bfloat16, whose singular
    # values differ from float64's by about a percent: close for Muon, far from 1e-10.
    torch = pytest.importorskip("torch")
    from torch.optim._muon import _zeropower_via_newtonschulz as torch_ns

    rng = np.random.default_rng(0)
    for shape in [(32, 10), (64, 32), (10, 32)]:
        g = rng.normal(size=shape)
        ours = newton_schulz(g)
        theirs = torch_ns(torch.tensor(g), (3.4445, -4.7750, 2.0315), 5, 1e-7).double().numpy()
        worst = np.abs(ours - theirs).max() / np.abs(ours).max()
        assert 1e-4 < worst < 5e-2, (shape, worst)


# --- the layout: one network or K in lockstep -------------------------------------------------


@pytest.fixture(scope="module")
def net():
    X, y = data.load_digits()
    X_train, y_train, _, _ = split_train_validation(X, y, validation=0.2, seed=0)
    return MLP(X_train[:200], y_train[:200], sizes=(64, 8, 10), activation="tanh", seed=0)


LOCKSTEP = {
    "lion": (optimizers.lion, [1e-3, 3e-3]),
    "muon": (muon, [1e-3, 1e-2]),
    "shampoo": (shampoo, [1e-3, 3e-3]),
    "soap": (soap, [1e-3, 3e-3]),
    "adafactor": (adafactor, [1e-2, 3e-2]),
    "schedule_free_adamw": (optimizers.schedule_free_adamw, [1e-3, 3e-3]),
    "sam": (sam, [1e-3, 3e-3]),
}


@pytest.mark.parametrize("rule", sorted(LOCKSTEP))
def test_lockstep_runs_equal_runs_one_at_a_time(rule, net):
    step, lrs = LOCKSTEP[rule]
    hp = {"update_every": 3} if rule in ("shampoo", "soap") else {}
    x0s = np.array([net.init_params(s) for s in (0, 1)])
    runs = train_lockstep(step, net, x0=x0s, seed=[0, 1], lr=lrs, epochs=2, batch_size=50, **hp)
    for k, r in enumerate(runs):
        one = train_minibatch(
            step, net, x0=x0s[k], seed=k, lr=lrs[k], epochs=2, batch_size=50, **hp
        )
        assert np.allclose(r.losses, one.losses, rtol=1e-9, atol=1e-12), (rule, k)
        assert r.losses[-1] < r.losses[0], (rule, k)


def test_param_shapes_that_do_not_fit_x_say_so():
    with pytest.raises(InputError, match=r"param_shapes .* hold 6 numbers, but x has 7"):
        tensors(np.zeros(7), [(2, 2), (2,)])


def test_a_matrix_rule_on_one_matrix_needs_no_param_shapes():
    g = np.arange(6.0).reshape(2, 3)
    x = muon(np.zeros((2, 3)), lambda x: g, {}, lr=0.1, weight_decay=0.0)
    assert x.shape == (2, 3)
    assert np.allclose(x, -0.1 * 0.2 * np.sqrt(3) * newton_schulz(0.05 * g + 0.95 * 0.05 * g))


def test_state_sizes_are_the_memory_table_of_lesson_08(net):
    # 64-8-10: W1 64×8, b1 8, W2 8×10, b2 10; d = 618 parameters.
    d, m = net.dim, [(64, 8), (8, 10)]
    matrices, vectors = sum(a * b for a, b in m), 8 + 10

    def size(step, **hp):
        state = {}
        step(
            net.x0, lambda w: net.grad(w, np.arange(20)), state, param_shapes=net.param_shapes, **hp
        )
        return state_size(state)

    assert state_size({"m": np.zeros(d), "s": np.zeros(d), "t": 3}) == 2 * d
    assert size(muon) == matrices + 2 * vectors
    assert size(adafactor) == sum(a + b for a, b in m) + vectors
    assert size(shampoo) == 2 * (sum(a * a + b * b for a, b in m) + 8 * 8 + 10 * 10)
    assert size(soap) == 2 * d + 2 * sum(a * a + b * b for a, b in m)
    assert size(sam, base=adafactor) == size(adafactor)


def test_largest_eigenvalue_finds_lambda_max_of_a_known_spectrum():
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    H = Q @ np.diag([5.0, 2.0, 1.0, 0.5, 0.1, 0.0]) @ Q.T
    assert largest_eigenvalue(lambda v: H @ v, rng.normal(size=6), iters=60) == pytest.approx(5.0)
    with pytest.raises(InputError, match="nonzero"):
        largest_eigenvalue(lambda v: H @ v, np.zeros(6))


def test_sharpness_of_a_network_agrees_with_its_dense_hessian(net):
    # At a random w the eigenvalue of largest magnitude is negative: power iteration finds it
    # (the lesson applies it at minima, where it is λ_max).
    small = MLP(net.X[:30], net.y[:30], sizes=(64, 3, 10), activation="tanh", seed=0)
    w = small.x0
    H = np.array([small.hvp(w, e) for e in np.eye(small.dim)])
    top = np.linalg.eigvalsh((H + H.T) / 2)
    lam = largest_eigenvalue(lambda v: small.hvp(w, v), np.ones(small.dim), iters=500)
    assert lam == pytest.approx(top[np.argmax(np.abs(top))], rel=1e-6)


# --- Exercise 8.1: the steepest step -----------------------------------------------------------


def _named(fn, name):
    fn.__name__ = name
    return fn


def steepest_right(g, norm):
    return lesson08.steepest_step(g, norm)


def steepest_ties_to_minus_one(g, norm):  # a zero gradient's coordinate may take any value
    d = lesson08.steepest_step(g, norm)
    return np.where((g == 0) & (norm == "linf"), -1.0, d)


def _steepest(fix):
    def steepest_step(g, norm):
        return fix(g, norm) if fix(g, norm) is not None else lesson08.steepest_step(g, norm)

    return steepest_step


def _one_hot_argmax(g):
    d = np.zeros_like(g)
    d[np.unravel_index(np.argmax(g), g.shape)] = -1.0
    return d


def steepest_zeroes_g(g, norm):
    d = lesson08.steepest_step(g, norm)
    g[...] = 0.0  # writes into the caller's array
    return d


STEEPEST_WRONG = {
    "g changed in place": (steepest_zeroes_g, "leave the arguments as they were"),
    "ℓ2 everywhere": (_steepest(lambda g, n: -g / np.linalg.norm(g)), "that is the ℓ2 answer"),
    "−sign(g) for ℓ1": (
        _steepest(lambda g, n: -np.sign(g) if n == "l1" else None),
        "that is the ℓ∞ answer",
    ),
    "−g/‖g‖∞ for ℓ∞": (
        _steepest(lambda g, n: -g / np.abs(g).max() if n == "linf" else None),
        "but not at its lowest point",
    ),
    "−g/‖g‖₁ for ℓ1": (
        _steepest(lambda g, n: -g / np.abs(g).sum() if n == "l1" else None),
        "spreads the unit",
    ),
    "argmax of g, not |g|": (
        _steepest(lambda g, n: _one_hot_argmax(g) if n == "l1" else None),
        "the largest |gᵢ| counts",
    ),
    "uphill": (_steepest(lambda g, n: -lesson08.steepest_step(g, n)), "goes uphill"),
    "flattened": (
        _steepest(lambda g, n: lesson08.steepest_step(g, n).ravel() if g.ndim > 1 else None),
        "returned shape",
    ),
}

# --- Exercise 8.2: Lion -----------------------------------------------------------------------


def lion_right(x, grad, state, lr=1e-4, beta1=0.9, beta2=0.99, weight_decay=0.0):
    g = grad(x)
    m = state.get("m", np.zeros_like(x))
    x_new = x - lr * weight_decay * x - lr * np.sign(beta1 * m + (1 - beta1) * g)
    state["m"] = beta2 * m + (1 - beta2) * g
    return x_new


def lion_state_not_carried(x, grad, state, lr=1e-4, beta1=0.9, beta2=0.99, weight_decay=0.0):
    return optimizers.lion(x, grad, {}, lr, beta1, beta2, weight_decay)


LION_WRONG = {
    "m updated first": (lesson08._lion("m first"), "m is updated before the sign"),
    "sign of m": (lesson08._lion("sign of m"), "the sign is of m itself"),
    "betas swapped": (lesson08._lion("swap"), "β1 and β2 are swapped"),
    "L2 decay": (lesson08._lion("l2"), "that is an L2 term"),
    "decay without η": (lesson08._lion("decay without lr"), "x(1 − ηω), not x(1 − ω)"),
    "no sign": (lesson08._lion("no sign"), "not η c"),
    "AdamW": (
        lambda x, grad, state, lr=1e-4, beta1=0.9, beta2=0.99, weight_decay=0.0: optimizers.adamw(
            x, grad, state, lr=lr, weight_decay=weight_decay
        ),
        "that is AdamW",
    ),
    "state not carried": (lion_state_not_carried, "look at what is kept in `state`"),
}

# --- Exercise 8.3: Newton–Schulz --------------------------------------------------------------


def ns_right(g, steps=5, eps=1e-7):
    a, b, c = 3.4445, -4.7750, 2.0315
    o = g / max(np.linalg.norm(g), eps)
    for _ in range(steps):  # no transpose for a tall g: the same result, a larger Gram matrix
        A = o @ o.T
        o = a * o + b * A @ o + c * A @ A @ o
    return o


def ns_no_clamp(g, steps=5, eps=1e-7):
    return lesson08._ns_variant()(g / np.linalg.norm(g) * max(np.linalg.norm(g), eps), steps, eps)


NS_WRONG = {
    "spectral norm": (lesson08._ns_variant(normalise="spectral"), "Frobenius norm"),
    "no normalisation": (lesson08._ns_variant(normalise=None), "start from g / max"),
    "cubic": (lesson08._ns_variant(coefficients=(1.5, -0.5, 0.0)), "the cubic Newton–Schulz"),
    "b and c swapped": (
        lesson08._ns_variant(coefficients=(3.4445, 2.0315, -4.7750)),
        "b and c are swapped",
    ),
    "five steps always": (lesson08._ns_variant(fixed_steps=5), "use the argument `steps`"),
    "an SVD": (lesson08._svd_orthogonal, "that is U Vᵀ exactly"),
    "no clamp of the norm": (ns_no_clamp, "divide by max(‖g‖_F, eps)"),
}

# --- Exercise 8.4: the singular values it makes ------------------------------------------------


def sv_right(sigma, steps=5):
    s = np.asarray(sigma) / np.linalg.norm(sigma)
    for _ in range(steps):
        s = 3.4445 * s - 4.7750 * s**3 + 2.0315 * s**5
    return np.sort(s)[::-1]


def _sv(normalise=np.linalg.norm, steps=None, sort=True):
    def ns_singular_values(sigma, steps_=5):
        s = np.asarray(sigma, dtype=float) / normalise(np.asarray(sigma, dtype=float))
        for _ in range(steps or steps_):
            s = 3.4445 * s - 4.7750 * s**3 + 2.0315 * s**5
        return np.sort(s)[::-1] if sort else s

    return ns_singular_values


SV_WRONG = {
    "all ones": (lambda sigma, steps=5: np.ones(len(sigma)), "does not make every σ exactly 1"),
    "divided by σ_max": (_sv(normalise=np.max), "not from g/σ_max"),
    "not divided": (_sv(normalise=lambda s: 1.0), "first divide every σ"),
    "unsorted": (_sv(sort=False), "sort them, largest first"),
    "one step": (_sv(steps=1), "iterate `steps` times"),
}

# --- Exercise 8.5: Shampoo's direction ----------------------------------------------------------


def _root(S, p):
    w, Q = np.linalg.eigh(S)
    return Q @ np.diag(w**p) @ Q.T


def shampoo_right(g, S_row, S_col):
    return _root(S_row, -0.25) @ g @ _root(S_col, -0.25)


SHAMPOO_WRONG = {
    "−1/2 roots": (
        lambda g, S_row, S_col: _root(S_row, -0.5) @ g @ _root(S_col, -0.5),
        "counts the curvature twice",
    ),
    "positive roots": (
        lambda g, S_row, S_col: _root(S_row, 0.25) @ g @ _root(S_col, 0.25),
        "the roots are inverse",
    ),
    "one side": (lambda g, S_row, S_col: _root(S_row, -0.25) @ g, "both sides"),
    "elementwise power": (
        lambda g, S_row, S_col: S_row**-0.25 @ g @ S_col**-0.25,
        "is an elementwise power",
    ),
    "sides swapped": (
        lambda g, S_row, S_col: _root(S_col, -0.25) @ g @ _root(S_row, -0.25),
        "each root from np.linalg.eigh",
    ),
}

# --- Exercise 8b.1: Adafactor's estimate --------------------------------------------------------


def factored_right(V):
    R, C = V.sum(axis=1), V.sum(axis=0)
    return np.outer(R, C) / R.sum()


FACTORED_WRONG = {
    "no normalisation": (lambda V: np.outer(V.mean(1), V.mean(0)), "r cᵀ alone"),
    "sums, not normalised": (lambda V: np.outer(V.sum(1), V.sum(0)), "carries the total twice"),
    "means over their sum": (
        lambda V: np.outer(V.mean(1), V.mean(0)) / V.mean(1).sum(),
        "not by its sum",
    ),
    "sums over their mean": (
        lambda V: np.outer(V.sum(1), V.sum(0)) / V.sum(1).mean(),
        "not by the mean of R",
    ),
    "a sum, not a product": (
        lambda V: (V.mean(1)[:, None] + V.mean(0)[None, :]) / 2,
        "a product",
    ),
    "a square root": (lambda V: np.sqrt(np.outer(V.mean(1), V.mean(0))), "no square root"),
    "transposed": (lambda V: (np.outer(V.mean(1), V.mean(0)) / V.mean()).T, "transposed"),
}

# --- Exercise 8b.2: the design of SAM's experiment -------------------------------------------------

GOOD_DESIGN = {
    "radii": [0.0, 0.05, 0.2],
    "lr": "same for all",
    "seeds": 3,
    "sharpness_on": "training set",
}


def _design(**changes):
    return lambda: {**GOOD_DESIGN, **changes}


DESIGN_WRONG = {
    "no control": (_design(radii=[0.05, 0.2]), "τ = 0 is AdamW itself"),
    "one radius": (_design(radii=[0.0, 0.1]), "a difference, not a trend"),
    "η tuned per radius": (_design(lr="tuned per radius"), "changes two things at once"),
    "one seed": (_design(seeds=1), "at least 3 seeds"),
    "on a mini-batch": (_design(sharpness_on="one mini-batch"), "one mini-batch's Hessian"),
    "a radius ≥ 1": (_design(radii=[0.0, 0.1, 2.0]), "each in [0, 1)"),
    "a key missing": (lambda: {"radii": [0.0, 0.1, 0.3], "lr": "same for all"}, "has no seeds"),
}

# --- Exercise 8b.3: SAM -----------------------------------------------------------------------------


def sam_right(
    x, grad, state, lr=1e-3, radius=0.05, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2
):
    g = grad(x)
    g_sam = grad(x + radius * g / (np.linalg.norm(g) + 1e-12))
    base = state.setdefault("adamw", {})
    hp = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay)
    return optimizers.adamw(x, lambda _: g_sam, base, **hp)


SAM_WRONG = {
    "descent perturbation": (lesson08b._sam("descent"), "the perturbation climbs"),
    "not normalised": (lesson08b._sam("not normalised"), "normalise"),
    "‖g‖²": (lesson08b._sam("squared norm"), "not ‖g‖²"),
    "plain AdamW": (lesson08b._sam("plain"), "that is AdamW alone"),
    "step from x + e": (lesson08b._sam("from perturbed"), "starts from x itself"),
    "fresh AdamW state": (lesson08b._sam("fresh state"), "must persist between calls"),
}


def _name_all(table, name):
    for entry in table.values():
        _named(entry[0] if isinstance(entry, tuple) else entry, name)
    return table


EXERCISES = {
    "steepest_step": Exercise(
        checks.evaluate_steepest_step,
        right=[
            _named(steepest_right, "steepest_step"),
            _named(steepest_ties_to_minus_one, "steepest_step"),
        ],
        wrong=_name_all(STEEPEST_WRONG, "steepest_step"),
    ),
    "lion": Exercise(
        checks.evaluate_lion,
        right=[_named(lion_right, "lion")],
        wrong=_name_all(LION_WRONG, "lion"),
    ),
    "newton_schulz": Exercise(
        checks.evaluate_newton_schulz,
        right=[_named(ns_right, "newton_schulz"), newton_schulz],
        wrong=_name_all(NS_WRONG, "newton_schulz"),
    ),
    "ns_singular_values": Exercise(
        checks.evaluate_ns_singular_values,
        right=[_named(sv_right, "ns_singular_values")],
        wrong=_name_all(SV_WRONG, "ns_singular_values"),
    ),
    "shampoo_direction": Exercise(
        checks.evaluate_shampoo_direction,
        right=[_named(shampoo_right, "shampoo_direction")],
        wrong=_name_all(SHAMPOO_WRONG, "shampoo_direction"),
    ),
    "factored_estimate": Exercise(
        checks.evaluate_factored_estimate,
        right=[_named(factored_right, "factored_estimate")],
        wrong=_name_all(FACTORED_WRONG, "factored_estimate"),
    ),
    "sam_design": Exercise(
        checks.evaluate_sam_design,
        right=[
            _named(_design(), "sam_design"),
            _named(_design(radii=(0, 0.02, 0.1, 0.3), seeds=5), "sam_design"),
        ],
        wrong=_name_all(DESIGN_WRONG, "sam_design"),
    ),
    "sam": Exercise(
        checks.evaluate_sam, right=[_named(sam_right, "sam")], wrong=_name_all(SAM_WRONG, "sam")
    ),
}

test_right_passes, test_mistake_fails, test_unfinished = exercise_tests(EXERCISES)


def test_the_ns_singular_values_check_measures_the_iteration_itself():
    # Expected values come from an SVD of newton_schulz's output, not from the formula.
    for case in lesson08.ns_singular_values_cases():
        sigma, steps = case.args
        assert np.allclose(lesson08.ns_singular_values(sigma, steps), case.expected, rtol=1e-9)
        assert not np.allclose(case.expected, 1.0, atol=1e-3)  # never exactly orthogonal


# --- lesson 08's race, rerun with other seeds and twice the epochs ------------------------------


def test_the_race_verdict_holds_with_other_seeds_and_twice_the_epochs():
    # The notebook's verdict (seeds 0–2, 6 epochs): SOAP reaches the lowest mean training loss,
    # no method ends above AdamW's validation accuracy beyond the seeds' spread, and Lion's mean
    # accuracy is below AdamW's. Here with seeds 3–5 and 12 epochs, each η tuned again on a
    # grid of three around its best for this longer run (plain Shampoo, far behind in the
    # notebook, is left out for time).
    X, y = data.load_digits()
    X_train, y_train, X_val, y_val = split_train_validation(X, y, validation=0.2, seed=0)
    net = MLP(X_train, y_train, sizes=(64, 32, 10), activation="tanh", seed=0)
    val = net.on(X_val, y_val)
    race = {  # label → (step, the middle of its grid, hyperparameters)
        "AdamW": (optimizers.adamw, 0.03, {"weight_decay": 0.0}),
        "Lion": (optimizers.lion, 0.003, {}),
        "Muon": (muon, 0.01, {"weight_decay": 0.0}),
        "SOAP": (soap, 0.03, {"weight_decay": 0.0}),
    }
    loss, acc = {}, {}
    for label, (step, middle, hp) in race.items():
        tuned = tune_lockstep(
            step, net, middle * np.array([10**-0.5, 1, 10**0.5]), seeds=(3, 4, 5), epochs=12,
            batch_size=64, metrics={"val_acc": val.accuracy}, label=label, **hp,
        )  # fmt: skip
        assert not tuned.at_edge, label
        loss[label] = tuned.best_mean
        acc[label] = np.array([r.metrics["val_acc"][-1] for r in tuned.best_runs])
    assert min(loss, key=loss.get) == "SOAP", loss
    top = acc["AdamW"].mean() + acc["AdamW"].std(ddof=1)
    assert all(a.mean() - a.std(ddof=1) <= top for a in acc.values()), acc
    assert acc["Lion"].mean() < acc["AdamW"].mean(), acc


# --- the lessons' own solutions and claims ----------------------------------------------------


def test_lesson_08s_solutions_pass_their_checks():
    from lessons import solution_functions

    from course_lib import matrix_optimizers

    ns = solution_functions("08-after-adam.ipynb")
    ns["mo"] = matrix_optimizers  # the notebook's import, used when the functions run
    assert checks.evaluate_steepest_step(ns["steepest_step"])
    assert checks.evaluate_lion(ns["lion"])
    assert checks.evaluate_newton_schulz(ns["newton_schulz"])
    assert checks.evaluate_ns_singular_values(ns["ns_singular_values"])
    assert checks.evaluate_shampoo_direction(ns["shampoo_direction"])


def test_adam_with_its_averages_off_is_sign_descent():
    from course_lib import course_quadratic, run

    adam = run(optimizers.adam, course_quadratic, steps=40, lr=0.3, beta1=0.0, beta2=0.0, eps=0.0)
    sign = run(optimizers.lion, course_quadratic, steps=40, lr=0.3, beta1=0.0)
    assert np.allclose(adam.xs, sign.xs, rtol=1e-12, atol=1e-12)
    assert np.abs(np.diff(sign.xs, axis=0)).max() == pytest.approx(0.3)  # every move is η


def test_lesson_08bs_solutions_pass_their_checks():
    from lessons import solution_functions

    ns = solution_functions("08b-memory-schedules-sharpness.ipynb")
    ns["optimizers"] = optimizers  # the notebook's import, used when sam_step runs
    assert checks.evaluate_factored_estimate(ns["factored_estimate"])
    assert checks.evaluate_sam(ns["sam_step"])
    assert checks.evaluate_sam_design(ns["sam_design"])


def test_schedule_free_ends_lowest_with_other_seeds_and_twice_the_epochs():
    # Lesson 08b's race (seeds 0–2, 8 epochs): schedule-free AdamW reaches the lowest mean
    # training loss, and neither schedule beats a constant η beyond the seeds' spread. Here
    # with seeds 3–5 and 16 epochs, each η tuned again on three values around its best.
    X, y = data.load_digits()
    X_train, y_train, _, _ = split_train_validation(X, y, validation=0.2, seed=0)
    net = MLP(X_train, y_train, sizes=(64, 32, 10), activation="tanh", weight_decay=1e-3, seed=0)
    U = 16 * int(np.ceil(net.n / 64))
    warm, t = U // 20, np.arange(U)
    cosine = np.where(t < warm, (t + 1) / warm, 0.5 * (1 + np.cos(np.pi * (t - warm) / (U - warm))))
    wsd = np.interp(t, [0, warm, 0.8 * U, U], [1 / warm, 1, 1, 0])
    race = {  # label → (step, the middle of its grid, hyperparameters, the factor on η)
        "constant": (optimizers.adamw, 0.01, {"weight_decay": 0.0}, None),
        "cosine": (optimizers.adamw, 0.03, {"weight_decay": 0.0}, cosine),
        "WSD": (optimizers.adamw, 0.03, {"weight_decay": 0.0}, wsd),
        "schedule-free": (optimizers.schedule_free_adamw, 0.1, {"warmup_steps": warm}, None),
        "Adafactor": (adafactor, 0.3, {}, None),
    }
    mean, sd = {}, {}
    for label, (step, middle, hp, factor) in race.items():
        tuned = tune_lockstep(
            step, net, middle * np.array([10**-0.5, 1, 10**0.5]), seeds=(3, 4, 5), epochs=16,
            batch_size=64, label=label, shape=None if factor is None else (lambda k, f=factor: f[k]),
            **hp,
        )  # fmt: skip
        assert not tuned.at_edge, label
        mean[label], sd[label] = tuned.best_mean, tuned.best_sd
    assert min(mean, key=mean.get) == "schedule-free", mean
    for schedule in ("cosine", "WSD"):
        assert mean[schedule] + sd[schedule] >= mean["constant"] - sd["constant"], (schedule, mean)


def test_sam_flattens_the_minimum_in_every_seed():
    # Lesson 08b's design, [0, 0.1, 0.3] at AdamW's η = 0.01, 12 epochs: λ_max falls as τ
    # grows in each of the seeds, also when the power iteration runs twice as long.
    X, y = data.load_digits()
    X_train, y_train, _, _ = split_train_validation(X, y, validation=0.2, seed=0)
    net = MLP(X_train, y_train, sizes=(64, 32, 10), activation="tanh", weight_decay=1e-3, seed=0)
    radii, seeds = np.array([0.0, 0.1, 0.3]), np.arange(3)
    R, S = np.repeat(radii, 3), np.tile(seeds, 3)
    runs = train_lockstep(
        sam, net, x0=np.array([net.init_params(s) for s in S]), seed=S, lr=0.01, radius=R,
        weight_decay=0.0, epochs=12, batch_size=64, every_epoch=False, keep_iterates=True,
    )  # fmt: skip
    # net.hvp over blocks of examples, weighted: the same product (to 1e-15), and many times
    # faster where a multithreaded BLAS meets large products on a busy machine
    blocks = [np.arange(k, min(k + 128, net.n)) for k in range(0, net.n, 128)]
    hvp = lambda w: lambda v: sum(len(b) * net.hvp(w, v, b) for b in blocks) / net.n
    start = np.random.default_rng(0).normal(size=net.dim)
    lam = np.array([largest_eigenvalue(hvp(r.x), start, iters=30) for r in runs]).reshape(3, 3)
    assert np.all(np.diff(lam, axis=0) < 0), lam
