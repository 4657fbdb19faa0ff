"""check_step (lessons 01–04): a step function against its rule's reference trajectories,
recorded from torch.optim and the authors' code by tools/make_reference.py."""

import itertools

import numpy as np

from .. import optimizers
from ..contract import InputError, call_step, hyperparameters_of, name_of
from ..data import load_references
from ..problems import rosenbrock
from .engine import Report, evaluate_trajectories, fmt_any, printing


def problem_from_spec(spec):
    """Gradient callable of a reference case's problem (specs written by make_reference.py)."""
    if spec["kind"] == "quadratic":  # f = Σ ½ a x² − b x, elementwise, any shape
        a, b = np.array(spec["a"], dtype=float), np.array(spec["b"], dtype=float)
        return lambda x: a * x - b
    if spec["kind"] == "rosenbrock":
        return rosenbrock.grad
    raise ValueError(f"unknown problem kind {spec['kind']!r}")


def evaluate_step(fn, rule=None, section="steps"):
    """Run step function ``fn`` on every reference case of ``rule`` (by default fn's name)."""
    rules = load_references(section)["rules"]
    rule = rule or name_of(fn)
    if rule not in rules:
        raise InputError(
            f"no reference trajectories for a rule named {rule!r}: name your function like one "
            f"of {sorted(rules)}, or pass the rule, e.g. check_step(my_step, 'adam')"
        )
    ref = rules[rule]
    report = evaluate_trajectories(
        fn, ref, lambda spec: (problem_from_spec(spec), {}), identify=identify(rule)
    )
    if report and rule in ("momentum", "nesterov"):  # lesson 02 documents state["v"]
        slip = velocity_kept(fn, ref)
        return report if slip is None else slip
    return report


def velocity_kept(fn, ref):
    """None if fn keeps the course's velocity in state["v"], v_k = x_(k−1) − x_k, in every
    case (lesson 02 reads it); else a ✘ Report. The iterates are known to agree."""
    name = name_of(fn)
    for i, case in enumerate(ref["cases"], 1):
        grad, hp = problem_from_spec(case["problem"]), case["hyperparameters"]
        expected = np.array(case["expected"], dtype=float)
        x, state = expected[0].copy(), {}
        for k in range(1, len(expected)):
            x_new = call_step(fn, x, grad, state, k, dict(hp))
            v, want = state.get("v"), x - x_new
            same_shape = v is not None and np.shape(v) == np.shape(want)
            if same_shape and np.allclose(v, want, rtol=1e-9, atol=1e-12):
                x = x_new
                continue
            if same_shape and np.allclose(np.asarray(v) * hp["lr"], want, rtol=1e-9, atol=1e-12):
                hint = (
                    "that is PyTorch's buffer b = v/η: keep the course's velocity "
                    "v ← γv + η∇f, the step itself (x_new = x − v); the appendix of "
                    "lesson 02 maps one onto the other."
                )
            else:
                hint = 'state["v"] must hold the velocity, the step just taken: x_new = x − v.'
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {i}/{len(ref['cases'])} ({case['name']})",
                    f'  the iterates agree, but after step {k} state["v"] = '
                    + (fmt_any(v) if v is not None else "nothing (no key 'v')"),
                    f"  expected the velocity v_{k} = x_{k - 1} − x_{k} = {fmt_any(want)}",
                    f"  hint: {hint}",
                ],
            )
    return None


# --- the usual slips, told apart by replaying them --------------------------------------------
# Each slip is a step that makes one usual mistake. When a student's run disagrees, identify()
# replays the student's step and every slip of the rule over the whole case: the slip whose run
# is the student's names the mistake (the first step alone cannot tell some slips apart).


def _zeros(state, key, x):
    return state.get(key, np.zeros_like(x))


def _heavy_ball(look=None, coef="lr", apply="v", returns="x"):
    """Momentum (look=None) or Nesterov (gradient at x − look·v) with one slip: look = −γ or
    1 (the look-ahead x + γv or x − v), coef "ema" ((1 − γ) for η), apply "lr_v" (x − ηv)
    or "old" (x − the old v), returns "y" (the look-ahead point x − v − γv)."""

    def step(x, grad, state, lr=0.01, gamma=0.9):
        v_old = _zeros(state, "v", x)
        ahead = {None: 0.0, "gamma": gamma, "-gamma": -gamma, "one": 1.0}[look]
        v = state["v"] = gamma * v_old + (lr if coef == "lr" else 1 - gamma) * grad(
            x - ahead * v_old
        )
        x_new = x - {"v": v, "lr_v": lr * v, "old": v_old}[apply]
        return x_new - gamma * v if returns == "y" else x_new

    return step


def _scaled(s_rule, eps_at="inside"):
    """Adagrad ("sum") or RMSprop ("ema") with one slip: ε "outside" the root or "none";
    s averaged over t ("mean"), without (1 − ρ) ("no_one_minus"), ρ ↔ 1 − ρ ("swapped")."""

    def step(x, grad, state, lr=0.01, rho=0.99, eps=1e-8):
        g, s = grad(x), _zeros(state, "s", x)
        s = state["s"] = {
            "sum": s + g * g,
            "mean": s + g * g,
            "ema": rho * s + (1 - rho) * g * g,
            "no_one_minus": rho * s + g * g,
            "swapped": (1 - rho) * s + rho * g * g,
        }[s_rule]
        if s_rule == "mean":
            t = state["t"] = state.get("t", 0) + 1
            s = s / t
        root = {"inside": np.sqrt(s + eps), "outside": np.sqrt(s) + eps, "none": np.sqrt(s)}
        return x - lr * g / root[eps_at]

    return step


def _adadelta(new_u=False, lr_early=False, eps_s=True, eps_u=True, outside=False, **rhos):
    """Adadelta with one slip: Δx from the new u, η applied before u is updated, ε outside
    the roots or missing from one; rhos: rho_s or rho_u as a function of ρ."""

    def adadelta(x, grad, state, lr=1.0, rho=0.9, eps=1e-6):
        rho_s, rho_u = (rhos.get(k, lambda r: r)(rho) for k in ("rho_s", "rho_u"))
        g, u = grad(x), _zeros(state, "u", x)
        s = state["s"] = rho_s * _zeros(state, "s", x) + (1 - rho_s) * g * g
        es, eu = eps if eps_s else 0.0, eps if eps_u else 0.0

        def delta(u):
            if outside:
                return -(np.sqrt(u) + eu) / (np.sqrt(s) + es) * g
            return -np.sqrt(u + eu) / np.sqrt(s + es) * g

        d = lr * delta(u) if lr_early else delta(u)
        u = state["u"] = rho_u * u + (1 - rho_u) * d * d
        if new_u:
            d = delta(u)
        return x + (d if lr_early else lr * d)

    return adadelta


def _adam(correct="ms", t_shift=0, eps_at="outside"):
    """Adam with one slip: a bias correction missing (correct "" or "m"), t off by t_shift
    (−1: incremented after its use), or ε placed elsewhere: "inside" √(ŝ + ε), "before"
    √((s + ε)/(1 − β2^t)), "paper" η√(1 − β2^t)/(1 − β1^t) · m/(√s + ε)."""

    def adam(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        g = grad(x) + weight_decay * x
        t = state["t"] = state.get("t", 0) + 1
        t += t_shift
        m = state["m"] = beta1 * _zeros(state, "m", x) + (1 - beta1) * g
        s = state["s"] = beta2 * _zeros(state, "s", x) + (1 - beta2) * g * g
        c1 = 1 - beta1**t if "m" in correct else 1.0
        c2 = 1 - beta2**t if "s" in correct else 1.0
        if eps_at == "paper":
            return x - lr * np.sqrt(c2) / c1 * m / (np.sqrt(s) + eps)
        root = {
            "outside": np.sqrt(s / c2) + eps,
            "inside": np.sqrt(s / c2 + eps),
            "before": np.sqrt((s + eps) / c2),
        }[eps_at]
        return x - lr * m / c1 / root

    return adam


def _amsgrad(of="s", paper=False):
    """AMSGrad with one slip: the maximum of ŝ ("s_hat") or of g² ("g2"), or the paper's form."""

    def amsgrad(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        g = grad(x)
        t = state["t"] = state.get("t", 0) + 1
        m = state["m"] = beta1 * _zeros(state, "m", x) + (1 - beta1) * g
        s = state["s"] = beta2 * _zeros(state, "s", x) + (1 - beta2) * g * g
        c2 = 1 - beta2**t
        new = {"s": s, "s_hat": s / c2, "g2": g * g}[of]
        s_max = state["s_max"] = np.maximum(_zeros(state, "s_max", x), new)
        if paper:
            return x - lr * m / (np.sqrt(s_max) + eps)
        root = np.sqrt(s_max) + eps if of == "s_hat" else np.sqrt(s_max) / np.sqrt(c2) + eps
        return x - lr * m / (1 - beta1**t) / root

    return amsgrad


def _adamax(kind):
    """AdaMax with one slip: "squares" (an ℓ2 max), "eps_outside" (ε added to s_∞, not inside
    the max), "s_inf_corrected" (s_∞ bias-corrected like s)."""

    def adamax(x, grad, state, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        g = grad(x)
        t = state["t"] = state.get("t", 0) + 1
        m = state["m"] = beta1 * _zeros(state, "m", x) + (1 - beta1) * g
        s_inf_old = _zeros(state, "s_inf", x)
        if kind == "squares":
            s_inf = np.sqrt(np.maximum(beta2 * s_inf_old**2, g * g + eps))
        elif kind == "eps_outside":
            s_inf = np.maximum(beta2 * s_inf_old, np.abs(g))
        else:
            s_inf = np.maximum(beta2 * s_inf_old, np.abs(g) + eps)
        state["s_inf"] = s_inf
        denominator = {"eps_outside": s_inf + eps, "s_inf_corrected": s_inf / (1 - beta2**t)}.get(
            kind, s_inf
        )
        return x - lr / (1 - beta1**t) * m / denominator

    return adamax


def _nadam(next_power=1, current_power=0):
    """Nadam with the bias corrections 1 − β1^(t + next_power) on the momentum term and
    1 − β1^(t + current_power) on the gradient term (right: 1 and 0)."""

    def nadam(x, grad, state, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        g = grad(x)
        t = state["t"] = state.get("t", 0) + 1
        m = state["m"] = beta1 * _zeros(state, "m", x) + (1 - beta1) * g
        s = state["s"] = beta2 * _zeros(state, "s", x) + (1 - beta2) * g * g
        mixed = beta1 * m / (1 - beta1 ** (t + next_power)) + (1 - beta1) * g / (
            1 - beta1 ** (t + current_power)
        )
        return x - lr * mixed / (np.sqrt(s / (1 - beta2**t)) + eps)

    return nadam


def _adabelief(belief="new_m", eps_in_s=True):
    """AdaBelief with one slip: s from g − (the old m) or from g² (Adam's s), or without ε in s."""

    def adabelief(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-16):
        g = grad(x)
        t = state["t"] = state.get("t", 0) + 1
        m_old = _zeros(state, "m", x)
        m = state["m"] = beta1 * m_old + (1 - beta1) * g
        d = {"new_m": g - m, "old_m": g - m_old, "g": g}[belief]
        s = beta2 * _zeros(state, "s", x) + (1 - beta2) * d * d
        s = state["s"] = s + eps if eps_in_s else s
        return x - lr * m / (1 - beta1**t) / (np.sqrt(s / (1 - beta2**t)) + eps)

    return adabelief


def _adamw(at_decayed=False, eta_in_decay=True, after=False):
    """AdamW with one slip: the gradient at the decayed x, a decay without η, or the decay
    applied to x after the Adam step."""

    def adamw(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
        shrink = 1 - (lr if eta_in_decay else 1.0) * weight_decay
        at = x * shrink if at_decayed else x  # where the gradient is taken
        moved = optimizers.adam(at, grad, state, lr, beta1, beta2, eps)
        return moved * shrink if after else x * shrink + (moved - at)

    return adamw


def _eps_inside(rule, before_correction=False):
    """Adam, AMSGrad, Nadam or AdamW with ε inside the root, lesson 03's convention:
    √(ŝ + ε), or before the bias correction √((s + ε)/(1 − β2^t))."""
    decay = 1e-2 if rule == "adamw" else 0.0

    def step(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=decay):
        g = grad(x)
        t = state["t"] = state.get("t", 0) + 1
        m = state["m"] = beta1 * _zeros(state, "m", x) + (1 - beta1) * g
        s = state["s"] = beta2 * _zeros(state, "s", x) + (1 - beta2) * g * g
        if rule == "amsgrad":
            s = state["s_max"] = np.maximum(_zeros(state, "s_max", x), s)
        c2 = 1 - beta2**t
        root = np.sqrt((s + eps) / c2) if before_correction else np.sqrt(s / c2 + eps)
        if rule == "nadam":
            direction = beta1 * m / (1 - beta1 ** (t + 1)) + (1 - beta1) * g / (1 - beta1**t)
        else:
            direction = m / (1 - beta1**t)
        decayed = x * (1 - lr * weight_decay) if rule == "adamw" else x
        return decayed - lr * direction / root

    return step


def _eps_slips(rule):
    """The two ε-inside-the-root slips of an Adam-like rule, with what to say."""
    right = "√s_max/√(1 − β2^t) + ε" if rule == "amsgrad" else "√ŝ + ε"
    return [
        (
            _eps_inside(rule),
            None,
            f"ε goes outside the root, after the bias correction: {right}, not √(ŝ + ε) "
            "(lesson 03's convention is not Adam's).",
        ),
        (
            _eps_inside(rule, before_correction=True),
            None,
            f"ε goes outside the root, after the bias correction: {right}, not "
            "√((s + ε)/(1 − β2^t)) (lesson 03's convention is not Adam's).",
        ),
    ]


def _swap(hp):
    return {**hp, "beta1": hp["beta2"], "beta2": hp["beta1"]}


def _without(*names):
    return lambda hp: {k: v for k, v in hp.items() if k not in names}


SWAPPED = "β1 and β2 are swapped: β1 belongs to m (the mean of g), β2 to s (the mean of g²)."
EPS_IN_COURSE = (
    "in this course ε goes inside the root, η g / √(s + ε); √s + ε is PyTorch's form "
    "(Exercise 3.4)."
)
EPS_TORCH = "that is the course's √(s + ε): PyTorch puts ε outside the root, η g / (√s + ε)."
S_AVERAGED = (
    "s is the sum of all g² so far, s ← s + g², not their average (that is RMSprop's idea)."
)
RMS = {  # RMSprop's slips, in the course's form (ε inside) or PyTorch's (ε outside)
    "ε": "ε is missing: it keeps the division finite where s = 0.",
    "sum": "that is Adagrad's sum: RMSprop's s is a moving average, s ← ρs + (1 − ρ)g².",
    "no_one_minus": "(1 − ρ) is missing: s ← ρs + (1 − ρ)g², not ρs + g² (which grows to "
    "about g²/(1 − ρ)).",
    "swapped": "ρ and 1 − ρ are swapped: ρ multiplies the old s, s ← ρs + (1 − ρ)g².",
}


def _rmsprop_slips(eps_at):
    other = "outside" if eps_at == "inside" else "inside"
    return [
        (_scaled("ema", other), None, EPS_IN_COURSE if eps_at == "inside" else EPS_TORCH),
        (_scaled("ema", "none"), None, RMS["ε"]),
        *((_scaled(kind, eps_at), None, RMS[kind]) for kind in ("sum", "no_one_minus", "swapped")),
    ]


def _adagrad_slips(eps_at):
    other = "outside" if eps_at == "inside" else "inside"
    return [
        (_scaled("sum", other), None, EPS_IN_COURSE if eps_at == "inside" else EPS_TORCH),
        (_scaled("sum", "none"), None, "ε is missing: it keeps the division finite where s = 0."),
        (_scaled("mean", eps_at), None, S_AVERAGED),
    ]


SLIPS = {  # rule → [(step that makes the slip, change of hyperparameters, what to say)]
    "gd": [
        (
            optimizers.gd,
            lambda hp: {**hp, "lr": 1.0},
            "η is missing: the step is x − η∇f(x), not x − ∇f(x).",
        ),
    ],
    "momentum": [
        (
            _heavy_ball(coef="ema"),
            None,
            "(1 − γ) multiplies ∇f instead of η: that is an average of the gradients, without "
            "η. The course's velocity is v ← γv + η∇f(x).",
        ),
        (
            _heavy_ball(coef="ema", apply="lr_v"),
            None,
            "that is η times an average of the gradients, v ← γv + (1 − γ)∇f, x ← x − ηv: "
            "the course's v ← γv + η∇f(x) sums them, x ← x − v.",
        ),
        (
            _heavy_ball(apply="lr_v"),
            None,
            "η is applied twice: v ← γv + η∇f(x) has it already, so x ← x − v (not x − ηv).",
        ),
        (
            _heavy_ball(apply="old"),
            None,
            "x moves by the old velocity: update v first, v ← γv + η∇f(x), then x ← x − v "
            "with the new v.",
        ),
    ],
    "nesterov": [
        (
            optimizers.momentum,
            None,
            "that is plain momentum: Nesterov takes the gradient at "
            "the look-ahead point x − γv (with the old v), not at x.",
        ),
        (
            _heavy_ball(look="-gamma"),
            None,
            "the look-ahead point is x − γv (where the momentum is taking x), not x + γv.",
        ),
        (
            _heavy_ball(look="one"),
            None,
            "the look-ahead point is x − γv, with γ: the momentum carries x by γv, not by v.",
        ),
        (
            _heavy_ball(look="gamma", coef="ema"),
            None,
            "(1 − γ) multiplies the gradient instead of η: v ← γv + η∇f(x − γv).",
        ),
        (
            _heavy_ball(look="gamma", returns="y"),
            None,
            "that returns the look-ahead point x − v − γv (PyTorch's parameter): the course's "
            "Nesterov returns x_new = x − v; the look-ahead is only where the gradient is taken.",
        ),
    ],
    "adagrad": _adagrad_slips("inside"),
    "adagrad_eps_outside": _adagrad_slips("outside"),
    "rmsprop": _rmsprop_slips("inside"),
    "rmsprop_eps_outside": _rmsprop_slips("outside"),
    "adadelta": [
        (
            _adadelta(new_u=True),
            None,
            "Δx is computed with the new u: Δx = −√(u + ε)/√(s + ε)·g uses the old u, the "
            "only one known before Δx; update u with Δx² afterwards.",
        ),
        (
            _adadelta(lr_early=True),
            None,
            "η scales Δx only when it is applied, x ← x + ηΔx: u accumulates the unscaled Δx².",
        ),
        (
            _adadelta(outside=True),
            None,
            "ε goes inside both roots: √(u + ε)/√(s + ε), not (√u + ε)/(√s + ε).",
        ),
        (
            _adadelta(eps_s=False),
            None,
            "ε is missing from √(s + ε): it keeps the division finite where s = 0.",
        ),
        (
            _adadelta(eps_u=False),
            None,
            "ε is missing from √(u + ε): u starts at 0, so without it every Δx is 0 and x "
            "never moves.",
        ),
        (
            _adadelta(rho_u=lambda rho: 0.0),
            None,
            "u is a moving average too, u ← ρu + (1 − ρ)Δx², not the last Δx².",
        ),
        (
            _adadelta(rho_s=lambda rho: 1 - rho, rho_u=lambda rho: 1 - rho),
            None,
            "ρ and 1 − ρ are swapped: ρ multiplies the old average, s ← ρs + (1 − ρ)g² and "
            "u ← ρu + (1 − ρ)Δx².",
        ),
    ],
    "adam": [
        *_eps_slips("adam"),
        (
            _adam(correct=""),
            None,
            "the bias corrections are missing: m̂ = m/(1 − β1^t), ŝ = s/(1 − β2^t).",
        ),
        (
            _adam(correct="m"),
            None,
            "only m is bias-corrected: s needs it too, ŝ = s/(1 − β2^t).",
        ),
        (
            _adam(t_shift=-1),
            None,
            "t is incremented after its use: at the first step t = 1 (with t = 0, 1 − β^t = 0).",
        ),
        (
            _adam(t_shift=1),
            None,
            "t is one ahead (incremented twice, or started at 1): at the first step t = 1, "
            "so 1 − β1^t = 1 − β1 and m̂ = g exactly.",
        ),
        (
            _adam(eps_at="paper"),
            None,
            "that is the paper's 'efficient' form, η√(1 − β2^t)/(1 − β1^t) · m/(√s + ε): it "
            "adds ε to √s before the correction. torch adds it after: m̂/(√ŝ + ε).",
        ),
        (optimizers.adam, _swap, SWAPPED),
    ],
    "adam_l2": [
        (
            optimizers.adamw,
            None,
            "that is AdamW's decoupled decay: Adam's weight_decay is an L2 term, "
            "g ← ∇f(x) + ωx, which goes through m and s.",
        ),
        (
            optimizers.adam,
            _without("weight_decay"),
            "the L2 term is missing: g ← ∇f(x) + ωx before m and s.",
        ),
    ],
    "amsgrad": [
        *_eps_slips("amsgrad"),
        (
            _amsgrad(of="s_hat"),
            None,
            "the maximum is over the raw s, not ŝ: s_max ← max(s_max, s), then divide by "
            "√s_max/√(1 − β2^t).",
        ),
        (
            _amsgrad(of="g2"),
            None,
            "the maximum is over s, the moving average of g², not over g² itself.",
        ),
        (
            _amsgrad(paper=True),
            None,
            "that is the paper's form, without bias correction: PyTorch's AMSGrad corrects "
            "m̂ = m/(1 − β1^t) and divides by √s_max/√(1 − β2^t) + ε.",
        ),
        (
            optimizers.adam,
            None,
            "that is Adam: keep s_max ← max(s_max, s) in state and divide by its root.",
        ),
        (optimizers.amsgrad, _swap, SWAPPED),
    ],
    "adamax": [
        (
            _adamax("squares"),
            None,
            "AdaMax has no squares and no root: s_∞ ← max(β2·s_∞, |g| + ε), the infinity norm.",
        ),
        (
            _adamax("eps_outside"),
            None,
            "ε goes inside the max, s_∞ ← max(β2·s_∞, |g| + ε), and nowhere else (not m/(s_∞ + ε)).",
        ),
        (
            _adamax("s_inf_corrected"),
            None,
            "only m is bias-corrected: s_∞ has no bias towards zero, so divide by s_∞ itself.",
        ),
        (optimizers.adamax, _swap, SWAPPED),
    ],
    "nadam": [
        *_eps_slips("nadam"),
        (
            _nadam(next_power=0),
            None,
            "the momentum term uses the next step's correction: β1 m/(1 − β1^(t+1)), not 1 − β1^t.",
        ),
        (
            _nadam(current_power=1),
            None,
            "the gradient term uses this step's correction: (1 − β1) g/(1 − β1^t), not "
            "1 − β1^(t+1).",
        ),
        (
            optimizers.adam,
            None,
            "that is Adam: Nadam mixes the momentum of the next step with the gradient, "
            "β1 m/(1 − β1^(t+1)) + (1 − β1) g/(1 − β1^t).",
        ),
        (optimizers.nadam, _swap, SWAPPED),
    ],
    "nadam_schedule": [
        (
            optimizers.nadam,
            _without("momentum_decay"),
            "that is Dozat's Nadam without torch's momentum schedule: with momentum_decay ψ, "
            "β1 becomes β1,t = β1(1 − ½·0.96^(tψ)) and products of the β1,t replace the "
            "powers of β1.",
        ),
    ],
    "adabelief": [
        (
            _adabelief(belief="old_m"),
            None,
            "update m first: s uses g − m with the new m of this step.",
        ),
        (
            _adabelief(belief="g"),
            None,
            "that is Adam's s, the mean of g²: AdaBelief averages (g − m)², the surprise.",
        ),
        (
            _adabelief(eps_in_s=False),
            None,
            "ε is also added to s at every step: s ← β2 s + (1 − β2)(g − m)² + ε.",
        ),
        (optimizers.adabelief, _swap, SWAPPED),
    ],
    "adamw": [
        *_eps_slips("adamw"),
        (
            optimizers.adam,
            _without("weight_decay"),
            "the decay is missing: AdamW also shrinks x, x ← x(1 − ηω) − η m̂/(√ŝ + ε).",
        ),
        (
            optimizers.adam,
            None,
            "that is Adam with an L2 term, g + ωx: AdamW decays x itself, "
            "x ← x − ηωx, and Adam sees the plain gradient.",
        ),
        (
            _adamw(at_decayed=True),
            None,
            "the gradient is taken at the decayed x: take "
            "g = ∇f(x) at the current x; the decay and the Adam step both start from x.",
        ),
        (
            _adamw(after=True),
            None,
            "the decay is applied after the Adam step: both terms use the old x, "
            "x(1 − ηω) − η m̂/(√ŝ + ε).",
        ),
        (
            _adamw(eta_in_decay=False),
            None,
            "the decay is multiplied by η: x(1 − ηω), not x(1 − ω).",
        ),
        (optimizers.adamw, _swap, SWAPPED),
    ],
}

# The rule itself, for the slips every rule can make: a hyperparameter hard-coded, the
# state not carried from one call to the next.
BASE = {
    **optimizers.STEPS,
    "adagrad_eps_outside": _scaled("sum", "outside"),
    "rmsprop_eps_outside": _scaled("ema", "outside"),
    "adam_l2": optimizers.adam,
    "nadam_schedule": optimizers.nadam,
}
COMMON = {"gamma": (0.9,), "rho": (0.9, 0.99), "beta1": (0.9,), "beta2": (0.999, 0.99)}
SYMBOLS = {"lr": "η", "gamma": "γ", "rho": "ρ", "beta1": "β1", "beta2": "β2", "eps": "ε"}
STATE_LOST = (
    "nothing is carried from one call to the next: keep the buffers (and t) in the `state` "
    "dict the step is given, and read them back at the next call (state.get(…)); a local "
    "variable or a new dict starts over at every step."
)


def _fixed(name, value):
    def change(hp):
        return {**hp, name: value} if name in hp else hp

    def text(hp):
        symbol = SYMBOLS.get(name, name)
        return (
            f"{symbol} = {hp[name]:g} in this case: use the argument {name}, not a fixed {value:g}."
        )

    return change, text


def _defaults(names, defaults):
    def change(hp):
        return {**hp, **{k: defaults[k] for k in names if k in hp}}

    def text(hp):
        given = ", ".join(f"{SYMBOLS.get(k, k)} = {hp[k]:g}" for k in names if k in hp)
        return (
            f"the step ignores the hyperparameters it is given ({given} in this case): use "
            "the arguments, not fixed numbers."
        )

    return change, text


def _generic_slips(rule):
    """A hyperparameter (or all of them) hard-coded at a usual value; the state not carried."""
    base = BASE.get(rule)
    if base is None:
        return []
    defaults = {
        k: v for k, v in hyperparameters_of(base).items() if isinstance(v, float) and k != "eps"
    }
    slips = []
    for name, default in defaults.items():
        for value in dict.fromkeys((default, *COMMON.get(name, ()))):
            change, text = _fixed(name, value)
            slips.append((base, change, text))
    for size in range(2, len(defaults) + 1):  # several at once, at their defaults
        for names in itertools.combinations(defaults, size):
            change, text = _defaults(names, defaults)
            slips.append((base, change, text))
    if rule != "gd":

        def forgetful(x, grad, state, **hp):
            return base(x, grad, {}, **hp)

        slips.append((forgetful, None, STATE_LOST))
    return slips


def _run(step, x0, steps, grad, kwargs):
    """The iterates x_1 … x_steps of step from x0 and an empty state, or None if it raised."""
    x, state, xs = x0.copy(), {}, []
    try:
        with np.errstate(all="ignore"):
            for _ in range(steps):
                x = np.asarray(step(x, grad, state, **kwargs), dtype=float)
                xs.append(x)
    except (KeyboardInterrupt, NotImplementedError):
        raise
    except Exception:
        return None
    return np.array(xs)


def _alike(a, b):
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-7, atol=1e-10, equal_nan=True)


def identify(rule):
    """For evaluate_trajectories: the slip of rule whose runs are the student's, on every
    case (one case alone cannot tell some slips apart: η = 1 − γ = 0.1, say)."""
    return recognise(SLIPS.get(rule, []) + _generic_slips(rule))


def recognise(slips):
    """An identify for evaluate_trajectories from a list of slips: (step that makes the slip,
    change of hyperparameters or None, what to say, or a function of the case's
    hyperparameters that says it)."""

    def known(fn, runs, i, k, x_new):
        """runs: (x0, steps, grad, kwargs) of every case; the student's x_k of case i
        (counted from 0) was x_new."""
        mine = [_run(fn, *run) for run in runs]
        if mine[i] is not None and not _alike(mine[i][k - 1], x_new):
            mine = [None] * len(runs)  # not reproducible: judge by x_k of case i alone
        for step, change, text in slips:
            kwargs = runs[i][3]
            if change and change(kwargs) == kwargs:  # no difference in this case
                continue
            matched = True
            for j, ((x0, steps, grad, hp), student) in enumerate(zip(runs, mine)):
                if student is None and j != i:
                    continue  # the student's step raised here: nothing to compare
                slip = _run(step, x0, steps, grad, change(hp) if change else hp)
                if student is None:
                    matched = slip is not None and _alike(slip[k - 1], x_new)
                else:
                    matched = slip is not None and _alike(slip, student)
                if not matched:
                    break
            if matched:
                return text(kwargs) if callable(text) else text
        return ""

    return known


check_step = printing(evaluate_step)
