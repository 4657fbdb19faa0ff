"""Generate the reference data behind the checks from real implementations.

    python tools/make_reference.py            # every section
    python tools/make_reference.py steps      # one section

Writes course_lib/data/references_<section>.json, each with the versions of the
libraries that made it. Maintainer-only: needs the pinned torch (CPU build),
adabelief-pytorch, scipy, lion-pytorch, pytorch-optimizer and schedulefree of the
``maintainer`` extra (``pip install -e ".[maintainer]"``). Nothing in these files is typed in by hand;
tests/test_references.py regenerates them and compares, within the tolerances
written down once in ``TOLERANCES`` below.

Section "steps": for every update rule, a few cases (problem, start,
hyperparameters) and the trajectory x_0 … x_T in the course's convention
(the one each rule's docstring in course_lib/optimizers.py states), computed by
torch.optim through the mappings given there. Each case is chosen to expose one
usual mistake, which its hint names.
"""

import itertools
import json
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "course_lib" / "data"

# --- problems, in a form both numpy (course_lib.checks) and torch can build ---------
QUAD2 = {"kind": "quadratic", "a": [0.2, 4.0], "b": [0.0, 0.0]}  # the course quadratic
QUAD23 = {
    "kind": "quadratic",  # x of shape (2, 3)
    "a": [[1.0, 0.5, 3.0], [0.1, 2.0, 0.7]],
    # No coordinate of ∇f(x0) = a·x0 − b is exactly 0: an adaptive rule (ε ≪ |g|) would scale
    # an exact zero's rounding into a visible step, on a machine that rounds differently.
    "b": [[0.5, -0.8, 0.2], [0.0, 0.3, -0.4]],
}
QUAD32 = {
    "kind": "quadratic",  # x of shape (3, 2): a first axis longer than 2
    "a": [[2.0, 0.3], [0.5, 1.5], [1.0, 4.0]],
    "b": [[0.1, -0.2], [0.0, 0.4], [-0.3, 0.0]],
}
ROSEN = {"kind": "rosenbrock"}
X_QUAD2 = [-5.0, -2.0]
X_QUAD23 = [[1.0, -2.0, 0.5], [3.0, 0.2, -1.0]]
X_QUAD32 = [[1.5, -1.0], [-0.5, 2.0], [0.8, -1.2]]
X_ROSEN = [-1.2, 1.0]

# --- a rounding-level perturbation, to test the tolerances (tests/test_references.py) ---
# Another CPU or BLAS changes a section's results by rounding only. The tests reproduce that
# here: with ROUNDING = r ≠ 0, every floating-point input a section reads (problems, starts,
# matrices, data, hyperparameters) passes through ``given``, which multiplies it by 1 + r
# (r = 2⁻⁵²: one unit in the last place). Integers (counts, sizes, seeds) are left alone.
ROUNDING = 0.0


def given(value):
    """A float input as the generators read it: unchanged, or times (1 + ROUNDING)."""
    if not ROUNDING or isinstance(value, (bool, int, str, np.integer)):
        return value
    if isinstance(value, dict):
        return {k: given(v) for k, v in value.items()}
    if isinstance(value, list):
        return [given(v) for v in value]
    return value * (1 + ROUNDING)  # a float or a float array


def tall_case(first):
    """The first case's hyperparameters on an x of shape (3, 2): a step written for two
    coordinates (x[0], x[1]) passes cases of shape (2,) and (2, 3), and fails this one."""
    return case(
        "x of shape (3, 2)",
        QUAD32,
        X_QUAD32,
        5,
        "x can have any shape, with a first axis longer than 2 here: compute on the whole "
        "array x (x - lr * g), not on x[0] and x[1].",
        **first["hyperparameters"],
    )


def case(name, problem, x0, steps, hint="", **hyperparameters):
    return {
        "name": name,
        "problem": given(problem),
        "x0": given(x0),
        "steps": steps,
        "hyperparameters": given(hyperparameters),
        "hint": hint,
    }


def torch_loss(torch, spec, p):
    if spec["kind"] == "quadratic":
        a = torch.tensor(spec["a"], dtype=torch.float64)
        b = torch.tensor(spec["b"], dtype=torch.float64)
        return (0.5 * a * p * p - b * p).sum()
    if spec["kind"] == "rosenbrock":
        return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2
    raise ValueError(spec["kind"])


def trajectory(torch, c, make_optimizer, to_course=None):
    """x_0 … x_T from a torch optimiser; to_course maps torch's parameter to the course's x."""
    p = torch.tensor(c["x0"], dtype=torch.float64, requires_grad=True)
    opt = make_optimizer([p], **c["hyperparameters"])
    xs = [p.detach().clone().numpy()]
    for _ in range(c["steps"]):
        opt.zero_grad()
        torch_loss(torch, c["problem"], p).backward()
        opt.step()
        x = p.detach().clone()
        if to_course is not None:
            x = to_course(x, opt.state[p], c["hyperparameters"])
        xs.append(x.numpy())
    return np.array(xs).tolist()


def rmsprop_eps_inside(torch, c):
    """The course's RMSprop, √(s + ε), in torch tensor ops: torch.optim.RMSprop has ε outside."""
    hp = c["hyperparameters"]
    p = torch.tensor(c["x0"], dtype=torch.float64, requires_grad=True)
    s = torch.zeros_like(p)
    xs = [p.detach().clone().numpy()]
    for _ in range(c["steps"]):
        p.grad = None
        torch_loss(torch, c["problem"], p).backward()
        with torch.no_grad():
            s.mul_(hp["rho"]).addcmul_(p.grad, p.grad, value=1 - hp["rho"])
            p.sub_(hp["lr"] * p.grad / torch.sqrt(s + hp["eps"]))
        xs.append(p.detach().clone().numpy())
    return np.array(xs).tolist()


def make_steps():
    import torch
    from adabelief_pytorch import AdaBelief

    # Optimisers keep scalar state (step counts, NAdam's product of β1,t) in the default dtype:
    # float32 would cost the references seven digits.
    torch.set_default_dtype(torch.float64)
    o = torch.optim
    adam_hints = {
        "betas": "β1 belongs to m (the mean of g), β2 to s (the mean of g²): are they swapped, "
        "or is a default hard-coded instead of the argument?",
        "eps": "ε = 0.1 is large here on purpose: it goes outside the square root, after the "
        "bias correction: √ŝ + ε.",
        "first": "at t = 1 the bias-corrected m̂ is exactly g and ŝ exactly g²: is t incremented "
        "before use (1 − β^t with t = 1 at the first step)?",
    }
    R = {}

    def rule(name, source, make, cases, to_course=None, custom=None):
        cases = [*cases, tall_case(cases[0])]
        for c in cases:
            c["expected"] = custom(torch, c) if custom else trajectory(torch, c, make, to_course)
        R[name] = {"source": source, "cases": cases}

    rule(
        "gd",
        "torch.optim.SGD(lr=η)",
        lambda p, lr: o.SGD(p, lr=lr),
        [
            case(
                "course quadratic, η = 0.4",
                QUAD2,
                X_QUAD2,
                6,
                "x ← x − η ∇f(x): call grad(x) and step against it.",
                lr=0.4,
            ),
            case(
                "x of shape (2, 3), η = 0.3",
                QUAD23,
                X_QUAD23,
                5,
                "x can have any shape: use array arithmetic, not x[0], x[1].",
                lr=0.3,
            ),
            case("Rosenbrock, η = 0.001", ROSEN, X_ROSEN, 5, "", lr=1e-3),
        ],
    )

    def sgd_momentum(nesterov):
        return lambda p, lr, gamma: o.SGD(p, lr=lr, momentum=gamma, nesterov=nesterov)

    rule(
        "momentum",
        "torch.optim.SGD(momentum=γ) (same iterates, v = η·b)",
        sgd_momentum(False),
        [
            case(
                "course quadratic, η = 0.1, γ = 0.9",
                QUAD2,
                X_QUAD2,
                8,
                "v ← γv + η∇f(x), then x ← x − v, with v starting at 0 and kept in state.",
                lr=0.1,
                gamma=0.9,
            ),
            case(
                "x of shape (2, 3), η = 0.05, γ = 0.5",
                QUAD23,
                X_QUAD23,
                6,
                "γ = 0.5 here: use the argument gamma, not 0.9; and η multiplies ∇f, not (1 − γ).",
                lr=0.05,
                gamma=0.5,
            ),
            case("Rosenbrock, η = 0.001, γ = 0.8", ROSEN, X_ROSEN, 6, "", lr=1e-3, gamma=0.8),
        ],
    )

    def nesterov_x(y, st, hp):
        # torch keeps y = x − γv as its parameter and b = v/η as its buffer.
        return y + hp["gamma"] * hp["lr"] * st["momentum_buffer"]

    look = (
        "the gradient is taken at the look-ahead point x − γv (with the old v), not at x; "
        "step 1 cannot tell the two apart because v starts at 0."
    )
    rule(
        "nesterov",
        "torch.optim.SGD(nesterov=True), its look-ahead iterates y_t mapped to x_t = y_t + γ·η·b_t",
        sgd_momentum(True),
        [
            case("course quadratic, η = 0.1, γ = 0.9", QUAD2, X_QUAD2, 8, look, lr=0.1, gamma=0.9),
            case(
                "x of shape (2, 3), η = 0.05, γ = 0.5",
                QUAD23,
                X_QUAD23,
                6,
                "γ = 0.5 here: use the argument gamma. " + look,
                lr=0.05,
                gamma=0.5,
            ),
            case("Rosenbrock, η = 0.001, γ = 0.8", ROSEN, X_ROSEN, 6, look, lr=1e-3, gamma=0.8),
        ],
        to_course=nesterov_x,
    )

    # torch.optim.Adagrad has ε outside the root; with eps = 0 and the accumulator starting
    # at ε, it computes η g / √(ε + Σg²): the course's form, exactly.
    rule(
        "adagrad",
        "torch.optim.Adagrad(eps=0, initial_accumulator_value=ε) (= ε inside the root)",
        lambda p, lr, eps: o.Adagrad(p, lr=lr, eps=0.0, initial_accumulator_value=eps),
        [
            case(
                "course quadratic, η = 0.5, ε = 1e-10",
                QUAD2,
                X_QUAD2,
                8,
                "s ← s + g² (a sum, not an average), x ← x − η g / √(s + ε).",
                lr=0.5,
                eps=1e-10,
            ),
            case(
                "x of shape (2, 3), η = 0.3, ε = 0.5",
                QUAD23,
                X_QUAD23,
                6,
                "ε = 0.5 is large on purpose: in this course it goes inside the root, √(s + ε).",
                lr=0.3,
                eps=0.5,
            ),
            case("Rosenbrock, η = 0.1, ε = 1e-3", ROSEN, X_ROSEN, 6, "", lr=0.1, eps=1e-3),
        ],
    )

    rms = "s ← ρs + (1 − ρ)g² (ρ multiplies the old s), x ← x − η g / √(s + ε)."
    rule(
        "rmsprop",
        "torch.optim.RMSprop(alpha=ρ) where ε is negligible (1e-14); the large-ε case "
        "follows the course's √(s + ε) in torch tensor ops",
        lambda p, lr, rho, eps: o.RMSprop(p, lr=lr, alpha=rho, eps=eps),
        [
            case(
                "course quadratic, η = 0.1, ρ = 0.9",
                QUAD2,
                X_QUAD2,
                8,
                rms,
                lr=0.1,
                rho=0.9,
                eps=1e-14,
            ),
            case(
                "x of shape (2, 3), η = 0.05, ρ = 0.5",
                QUAD23,
                X_QUAD23,
                6,
                "ρ = 0.5 here: use the argument rho. " + rms,
                lr=0.05,
                rho=0.5,
                eps=1e-14,
            ),
            case(
                "Rosenbrock, η = 0.01, ρ = 0.99",
                ROSEN,
                X_ROSEN,
                6,
                rms,
                lr=0.01,
                rho=0.99,
                eps=1e-14,
            ),
        ],
    )
    R["rmsprop"]["cases"].append(
        dict(
            case(
                "course quadratic, η = 0.1, ρ = 0.9, ε = 0.5",
                QUAD2,
                X_QUAD2,
                6,
                "ε = 0.5 is large on purpose: in this course it goes inside the root, √(s + ε) "
                "(PyTorch puts it outside).",
                lr=0.1,
                rho=0.9,
                eps=0.5,
            )
        )
    )
    R["rmsprop"]["cases"][-1]["expected"] = rmsprop_eps_inside(torch, R["rmsprop"]["cases"][-1])
    # The tensor-op form must itself agree with torch.optim.RMSprop where ε is negligible.
    for c in R["rmsprop"]["cases"][:3]:
        assert np.allclose(rmsprop_eps_inside(torch, c), c["expected"], rtol=1e-11, atol=0)

    rule(
        "adadelta",
        "torch.optim.Adadelta",
        lambda p, lr, rho, eps: o.Adadelta(p, lr=lr, rho=rho, eps=eps),
        [
            case(
                "course quadratic, defaults (η = 1, ρ = 0.9, ε = 1e-6)",
                QUAD2,
                X_QUAD2,
                8,
                "Δx = −√(u + ε)/√(s + ε)·g uses the old u; update u with Δx² afterwards.",
                lr=1.0,
                rho=0.9,
                eps=1e-6,
            ),
            case(
                "x of shape (2, 3), η = 0.5, ρ = 0.8, ε = 1e-2",
                QUAD23,
                X_QUAD23,
                6,
                "η scales Δx only when it is applied: u accumulates the unscaled Δx².",
                lr=0.5,
                rho=0.8,
                eps=1e-2,
            ),
            case(
                "Rosenbrock, η = 1, ρ = 0.95, ε = 1e-4",
                ROSEN,
                X_ROSEN,
                6,
                "",
                lr=1.0,
                rho=0.95,
                eps=1e-4,
            ),
        ],
    )

    def adam_like(**fixed):
        return lambda p, lr, beta1, beta2, eps, **kw: o.Adam(
            p, lr=lr, betas=(beta1, beta2), eps=eps, **fixed, **kw
        )

    def family(name, source, make, first_lr, first_hint, extra_hint="", **extra):
        rule(
            name,
            source,
            make,
            [
                case(
                    f"course quadratic, η = {first_lr}, default β's",
                    QUAD2,
                    X_QUAD2,
                    8,
                    first_hint,
                    lr=first_lr,
                    beta1=0.9,
                    beta2=0.999,
                    eps=1e-8,
                    **extra,
                ),
                case(
                    "x of shape (2, 3), β1 = 0.5, β2 = 0.9",
                    QUAD23,
                    X_QUAD23,
                    8,
                    adam_hints["betas"] + extra_hint,
                    lr=0.1,
                    beta1=0.5,
                    beta2=0.9,
                    eps=1e-8,
                    **extra,
                ),
                case(
                    "Rosenbrock, ε = 0.1 (large on purpose)",
                    ROSEN,
                    X_ROSEN,
                    6,
                    adam_hints["eps"],
                    lr=0.05,
                    beta1=0.9,
                    beta2=0.99,
                    eps=0.1,
                    **extra,
                ),
            ],
        )

    family("adam", "torch.optim.Adam", adam_like(), 0.5, adam_hints["first"])
    rule(
        "adam_l2",
        "torch.optim.Adam(weight_decay=ω): an L2 term, g ← g + ωx",
        adam_like(),
        [
            case(
                "x of shape (2, 3), ω = 0.5",
                QUAD23,
                X_QUAD23,
                6,
                "g ← ∇f(x) + ωx, then Adam.",
                lr=0.1,
                beta1=0.9,
                beta2=0.999,
                eps=1e-8,
                weight_decay=0.5,
            )
        ],
    )
    family(
        "amsgrad",
        "torch.optim.Adam(amsgrad=True)",
        adam_like(amsgrad=True),
        0.5,
        adam_hints["first"] + " s_max ← max(s_max, s) keeps the raw s (not ŝ); the root of "
        "s_max is then divided by √(1 − β2^t).",
        " The maximum is over s, not over g² nor ŝ.",
    )
    family(
        "adamax",
        "torch.optim.Adamax (ε inside the max)",
        lambda p, lr, beta1, beta2, eps: o.Adamax(p, lr=lr, betas=(beta1, beta2), eps=eps),
        0.5,
        "s_∞ ← max(β2·s_∞, |g| + ε): the infinity norm, no square and no √; only m is "
        "bias-corrected, η/(1 − β1^t).",
        " s_∞ is a max of β2·s_∞ and |g| + ε, not of squares.",
    )
    family(
        "nadam",
        "torch.optim.NAdam(momentum_decay=1e9), i.e. without the β1,t schedule",
        lambda p, lr, beta1, beta2, eps: o.NAdam(
            p, lr=lr, betas=(beta1, beta2), eps=eps, momentum_decay=1e9
        ),
        0.5,
        "x ← x − η/(√ŝ + ε)·(β1 m/(1 − β1^(t+1)) + (1 − β1) g/(1 − β1^t)): the momentum "
        "term uses the *next* bias correction.",
    )
    rule(
        "nadam_schedule",
        "torch.optim.NAdam (default momentum_decay ψ = 0.004)",
        lambda p, lr, beta1, beta2, eps, momentum_decay: o.NAdam(
            p, lr=lr, betas=(beta1, beta2), eps=eps, momentum_decay=momentum_decay
        ),
        [
            case(
                "x of shape (2, 3), ψ = 0.004",
                QUAD23,
                X_QUAD23,
                8,
                "",
                lr=0.1,
                beta1=0.9,
                beta2=0.999,
                eps=1e-8,
                momentum_decay=0.004,
            )
        ],
    )
    family(
        "adabelief",
        "the authors' adabelief-pytorch (rectify=False, weight_decouple=False)",
        lambda p, lr, beta1, beta2, eps: AdaBelief(
            p,
            lr=lr,
            betas=(beta1, beta2),
            eps=eps,
            weight_decay=0.0,
            amsgrad=False,
            weight_decouple=False,
            fixed_decay=False,
            rectify=False,
            print_change_log=False,
        ),
        0.5,
        "s ← β2 s + (1 − β2)(g − m)² + ε with m already updated at this step; "
        "then x ← x − η m̂ / (√ŝ + ε).",
        " The belief is the spread of g around the *new* m: (g − m)², not g².",
    )
    R["adabelief"]["cases"][2]["hint"] = (
        "ε = 0.1 is large on purpose: it is added to s at "
        "every step *and* to √ŝ in the denominator."
    )
    R["adamax"]["cases"][2]["hint"] = (
        "ε = 0.1 is large on purpose: AdaMax has it inside the "
        "max, s_∞ ← max(β2·s_∞, |g| + ε), and nowhere else."
    )
    R["amsgrad"]["cases"][2]["hint"] = (
        "ε = 0.1 is large on purpose: it goes outside the root, "
        "after the bias correction: √s_max/√(1 − β2^t) + ε."
    )
    rule(
        "adamw",
        "torch.optim.AdamW",
        lambda p, lr, beta1, beta2, eps, weight_decay: o.AdamW(
            p, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay
        ),
        [
            case(
                "course quadratic, η = 0.5, ω = 0.1",
                QUAD2,
                X_QUAD2,
                8,
                "decoupled decay: x ← x − ηωx, then the Adam step with the plain gradient "
                "(not g + ωx).",
                lr=0.5,
                beta1=0.9,
                beta2=0.999,
                eps=1e-8,
                weight_decay=0.1,
            ),
            case(
                "x of shape (2, 3), β1 = 0.5, β2 = 0.9, ω = 0.5",
                QUAD23,
                X_QUAD23,
                8,
                adam_hints["betas"] + " The decay is multiplied by η: x(1 − ηω).",
                lr=0.1,
                beta1=0.5,
                beta2=0.9,
                eps=1e-8,
                weight_decay=0.5,
            ),
            case(
                "Rosenbrock, ε = 0.1, ω = 0.01",
                ROSEN,
                X_ROSEN,
                6,
                adam_hints["eps"],
                lr=0.05,
                beta1=0.9,
                beta2=0.99,
                eps=0.1,
                weight_decay=0.01,
            ),
        ],
    )
    for c in (c for r in R.values() for c in r["cases"]):
        del c["x0"], c["steps"]  # the trajectory holds both: x_0 first, then T steps
    return {"rules": R}


# --- section "sgd" (lesson 02, torch.optim.SGD's own parameter and buffer) ---


def make_sgd():
    """torch.optim.SGD(momentum=γ[, nesterov=True]) as torch stores it: its parameter p_t and its
    momentum buffer b_t at every step, untranslated, so that lesson 02 can map the course's
    (x_t, v_t) onto them (b = v/η; with Nesterov p = x − γv) without importing torch."""
    import torch

    torch.set_default_dtype(torch.float64)
    runs, problem = {}, given(QUAD2)
    for name, nesterov in (("momentum", False), ("nesterov", True)):
        hp = given({"lr": 0.1, "gamma": 0.9})
        p = torch.tensor(given(X_QUAD2), requires_grad=True)
        opt = torch.optim.SGD([p], lr=hp["lr"], momentum=hp["gamma"], nesterov=nesterov)
        params, buffers = [p.detach().clone().numpy()], [np.zeros(2)]
        for _ in range(8):
            opt.zero_grad()
            torch_loss(torch, problem, p).backward()
            opt.step()
            params.append(p.detach().clone().numpy())
            buffers.append(opt.state[p]["momentum_buffer"].clone().numpy())
        runs[name] = {
            "source": f"torch.optim.SGD(lr=η, momentum=γ, nesterov={nesterov})",
            "problem": problem,
            "hyperparameters": hp,
            "params": np.array(params).tolist(),
            "buffers": np.array(buffers).tolist(),
        }
    return {"runs": runs}


# --- section "adaptive" (lesson 03, torch.optim's own convention: ε outside the root) ---
TINY2 = {"kind": "quadratic", "a": [2e-7, 4e-6], "b": [0.0, 0.0]}  # course quadratic × 1e-6


def make_adaptive():
    """torch.optim.Adagrad and RMSprop as PyTorch runs them, x ← x − η g / (√s + ε), untranslated:
    lesson 03 checks its few-line "ε outside" variants against them, where ε is large (0.5)
    and where the gradients are tiny (~1e-6, below √ε), the two cases where the placement shows."""
    import torch

    torch.set_default_dtype(torch.float64)
    o = torch.optim
    hint = "PyTorch puts ε outside the root, η g / (√s + ε), and starts s at 0."
    R = {}
    for name, source, make, cases in [
        (
            "adagrad",
            "torch.optim.Adagrad (ε outside the root, s starting at 0)",
            lambda p, lr, eps: o.Adagrad(p, lr=lr, eps=eps),
            [
                case(
                    "course quadratic, η = 0.5, ε = 0.5", QUAD2, X_QUAD2, 8, hint, lr=0.5, eps=0.5
                ),
                case(
                    "x of shape (2, 3), η = 0.3, ε = 0.1",
                    QUAD23,
                    X_QUAD23,
                    6,
                    hint,
                    lr=0.3,
                    eps=0.1,
                ),
                case(
                    "course quadratic × 1e-6, η = 0.5, ε = 1e-10",
                    TINY2,
                    X_QUAD2,
                    8,
                    hint,
                    lr=0.5,
                    eps=1e-10,
                ),
            ],
        ),
        (
            "rmsprop",
            "torch.optim.RMSprop(alpha=ρ) (ε outside the root)",
            lambda p, lr, rho, eps: o.RMSprop(p, lr=lr, alpha=rho, eps=eps),
            [
                case(
                    "course quadratic, η = 0.1, ρ = 0.9, ε = 0.5",
                    QUAD2,
                    X_QUAD2,
                    8,
                    hint,
                    lr=0.1,
                    rho=0.9,
                    eps=0.5,
                ),
                case(
                    "x of shape (2, 3), η = 0.05, ρ = 0.5, ε = 0.1",
                    QUAD23,
                    X_QUAD23,
                    6,
                    hint,
                    lr=0.05,
                    rho=0.5,
                    eps=0.1,
                ),
                case(
                    "course quadratic × 1e-6, η = 0.1, ρ = 0.99, ε = 1e-8",
                    TINY2,
                    X_QUAD2,
                    8,
                    hint,
                    lr=0.1,
                    rho=0.99,
                    eps=1e-8,
                ),
            ],
        ),
    ]:
        cases = [*cases, tall_case(cases[0])]
        for c in cases:
            c["expected"] = trajectory(torch, c, make)
            del c["x0"], c["steps"]
        R[name + "_eps_outside"] = {"source": source, "cases": cases}
    return {"rules": R}


# --- section "second_order" (lesson 05, from scipy.optimize / numpy.linalg) ---
# Section "second_order": Newton trajectories (numpy.linalg.solve with scipy's Rosenbrock
# Hessian), inverse-BFGS updates (scipy.optimize.BFGS), and the results of
# scipy.optimize.minimize (BFGS, L-BFGS-B, dogleg) on Rosenbrock for the lesson's table.
X_ROSEN3 = [-1.2, 1.0, 0.8]


def newton_trajectory(spec, x0, steps, lr):
    """x_0 … x_T of x ← x − η H⁻¹∇f(x), with numpy.linalg.solve and scipy's derivatives."""
    from scipy.optimize import rosen_der, rosen_hess

    if spec["kind"] == "rosenbrock":
        grad, hess = rosen_der, rosen_hess
    else:  # quadratic_matrix: ½xᵀAx − bᵀx
        A, b = np.array(spec["A"]), np.array(spec["b"])
        grad, hess = (lambda x: A @ x - b), (lambda x: A)
    xs = [np.array(x0, dtype=float)]
    for _ in range(steps):
        xs.append(xs[-1] - lr * np.linalg.solve(hess(xs[-1]), grad(xs[-1])))
    return np.array(xs).tolist()


def bfgs_cases(x0, updates):
    """(s, y) pairs along scipy's BFGS run on Rosenbrock and the inverse-Hessian
    approximations scipy.optimize.BFGS(init_scale=1) makes of them, starting from I."""
    from scipy.optimize import BFGS, minimize, rosen, rosen_der

    x0 = given(x0)
    xs = [np.array(x0, dtype=float)]
    minimize(
        rosen,
        x0,
        jac=rosen_der,
        method="BFGS",
        options={"maxiter": updates},
        callback=lambda xk: xs.append(np.copy(xk)),
    )
    strategy = BFGS(init_scale=1.0)
    strategy.initialize(len(x0), "inv_hess")
    cases, H = [], np.eye(len(x0))
    for a, b in itertools.pairwise(xs):
        s, y = b - a, rosen_der(b) - rosen_der(a)
        strategy.update(s, y)
        cases.append(
            {
                "H": H.tolist(),
                "s": s.tolist(),
                "y": y.tolist(),
                "expected": strategy.get_matrix().tolist(),
            }
        )
        H = strategy.get_matrix()
    return cases


def make_second_order():
    from scipy.optimize import minimize, rosen, rosen_der, rosen_hess

    # A 3-D quadratic with off-diagonal entries, so that H⁻¹g differs from g / diag(H).
    Q, _ = np.linalg.qr(np.random.default_rng(5).standard_normal((3, 3)))
    A = (Q * [0.5, 2.0, 8.0]) @ Q.T
    quad3 = {"kind": "quadratic_matrix", "A": (0.5 * (A + A.T)).tolist(), "b": [1.0, -2.0, 0.5]}
    quad2 = {"kind": "quadratic_matrix", "A": [[0.2, 0.0], [0.0, 4.0]], "b": [0.0, 0.0]}
    newton_cases = [
        case(
            "course quadratic, η = 1: one step lands on the minimum",
            quad2,
            X_QUAD2,
            2,
            "x ← x − η H⁻¹∇f(x): solve H p = ∇f(x) (np.linalg.solve), then step against p.",
            lr=1.0,
        ),
        case(
            "3-D quadratic with off-diagonal Hessian, η = 1",
            quad3,
            [1.0, 1.0, 1.0],
            2,
            "multiply by the inverse of H (np.linalg.solve(H, g)), not by H, and not "
            "g / diag(H): H has off-diagonal entries here.",
            lr=1.0,
        ),
        case(
            "Rosenbrock, η = 1",
            ROSEN,
            X_ROSEN,
            5,
            "call hess(x) at the current x at every step.",
            lr=1.0,
        ),
        case(
            "Rosenbrock, η = 0.5",
            ROSEN,
            X_ROSEN,
            4,
            "η = 0.5 here: use the argument lr to scale the Newton step.",
            lr=0.5,
        ),
    ]
    for c in newton_cases:
        c["expected"] = newton_trajectory(
            c["problem"], c["x0"], c["steps"], c["hyperparameters"]["lr"]
        )
        del c["x0"], c["steps"]

    def run(method, x0, **options):
        x0 = given(x0)
        xs = [np.array(x0, dtype=float)]
        r = minimize(
            rosen,
            x0,
            jac=rosen_der,
            method=method,
            options=options,
            hess=rosen_hess if method == "dogleg" else None,
            callback=lambda xk: xs.append(np.copy(xk)),
        )
        out = {
            "method": method,
            "options": options,
            "x0": x0,
            "nit": int(r.nit),
            "nfev": int(r.nfev),
            "njev": int(r.njev),
            "x": r.x.tolist(),
            "fun": float(r.fun),
            "success": bool(r.success),
        }
        if method == "dogleg":
            out["nhev"] = int(r.nhev)
            out["xs"] = np.array(xs).tolist()  # every iteration; rejected steps repeat x
        return out

    return {
        "newton": {
            "source": "numpy.linalg.solve with scipy.optimize.rosen_der / rosen_hess",
            "cases": newton_cases,
        },
        "bfgs_update": {
            "source": "scipy.optimize.BFGS(init_scale=1.0), inverse-Hessian form",
            "cases": [
                dict(c, name=f"Rosenbrock 2-D, update {k}")
                for k, c in enumerate(bfgs_cases(X_ROSEN, 3), 1)
            ]
            + [
                dict(c, name=f"Rosenbrock 3-D, update {k}")
                for k, c in enumerate(bfgs_cases(X_ROSEN3, 2), 1)
            ],
        },
        "minimize": {
            "source": "scipy.optimize.minimize on scipy.optimize.rosen",
            "BFGS": run("BFGS", X_ROSEN, gtol=1e-5),
            "L-BFGS-B": run("L-BFGS-B", X_ROSEN, gtol=1e-5, ftol=1e-12),
            "dogleg": run(
                "dogleg",
                X_ROSEN,
                initial_trust_radius=1.0,
                max_trust_radius=1000.0,
                eta=0.15,
                gtol=1e-4,
            ),
        },
    }


# --- section "schedules" (lesson 06, from torch.optim.lr_scheduler) ---


def schedule_case(name, steps, hint="", **hyperparameters):
    return {"name": name, "steps": steps, "hyperparameters": given(hyperparameters), "hint": hint}


def torch_learning_rates(torch, make_scheduler, lr, steps):
    """lr_0 … lr_T: the rate of update t is the one set after t calls of scheduler.step()."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    scheduler = make_scheduler(opt)
    rates = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        opt.step()  # (no gradient: nothing moves) then the scheduler, in torch's order
        scheduler.step()
        rates.append(opt.param_groups[0]["lr"])
    return [float(r) for r in rates]


def make_schedules():
    """Per schedule of course_lib.schedules: cases (hyperparameters, T) and lr_0 … lr_T from torch."""
    import torch

    torch.set_default_dtype(torch.float64)
    S = torch.optim.lr_scheduler
    # course_lib name → (torch class, how its keyword arguments map onto torch's)
    makers = {
        "step_lr": ("StepLR", lambda o, lr, step_size, gamma: S.StepLR(o, step_size, gamma)),
        "exponential_lr": ("ExponentialLR", lambda o, lr, gamma: S.ExponentialLR(o, gamma)),
        "cosine_annealing_lr": (
            "CosineAnnealingLR",
            lambda o, lr, T_max, eta_min: S.CosineAnnealingLR(o, T_max, eta_min),
        ),
        "linear_lr": (
            "LinearLR",
            lambda o, lr, start_factor, end_factor, total_iters: S.LinearLR(
                o, start_factor, end_factor, total_iters
            ),
        ),
        # the momentum cycle needs an optimiser with momentum; a schedule(t) → lr has none
        "one_cycle_lr": (
            "OneCycleLR(cycle_momentum=False)",
            lambda o, lr, **kw: S.OneCycleLR(o, cycle_momentum=False, **kw),
        ),
    }
    cosine = "η_t = η_min + ½(η − η_min)(1 + cos(π t / T_max)), with t = 0 at the first update."
    warm = (
        "factor = s + (e − s)·min(t, T)/T: start_factor s at t = 0, end_factor e from "
        "t = total_iters = T on."
    )
    cases = {
        "step_lr": [
            schedule_case("η = 0.1, step_size = 3, γ = 0.5", 10, lr=0.1, step_size=3, gamma=0.5),
            schedule_case("η = 1, step_size = 4, γ = 0.1", 12, lr=1.0, step_size=4, gamma=0.1),
        ],
        "exponential_lr": [schedule_case("η = 0.1, γ = 0.9", 10, lr=0.1, gamma=0.9)],
        "cosine_annealing_lr": [
            schedule_case(
                "η = 0.1, T_max = 10, η_min = 0", 10, cosine, lr=0.1, T_max=10, eta_min=0.0
            ),
            schedule_case(
                "η = 0.5, T_max = 8, η_min = 0.02",
                8,
                "η_min is the floor *and* comes off the amplitude: "
                "η_min + ½(η − η_min)(…), not η_min + ½η(…) nor ½η(…).",
                lr=0.5,
                T_max=8,
                eta_min=0.02,
            ),
            schedule_case(
                "η = 0.2, T_max = 5, η_min = 0.05, t up to 12",
                12,
                "past T_max the cosine climbs again, exactly as torch's does "
                "(period 2·T_max): no clipping, no max(…).",
                lr=0.2,
                T_max=5,
                eta_min=0.05,
            ),
        ],
        "linear_lr": [
            schedule_case(
                "η = 0.1, torch's defaults s = 1/3, e = 1, T = 5",
                8,
                warm,
                lr=0.1,
                start_factor=1.0 / 3,
                end_factor=1.0,
                total_iters=5,
            ),
            schedule_case(
                "warm-up η = 0.3 from s = 0.01 over T = 10 updates",
                14,
                "after total_iters updates the factor stays at end_factor: min(t, total_iters).",
                lr=0.3,
                start_factor=0.01,
                end_factor=1.0,
                total_iters=10,
            ),
            schedule_case(
                "decay η = 1 from s = 1 to e = 0.1 over T = 4",
                6,
                "end_factor need not be 1: the same line decays when e < s.",
                lr=1.0,
                start_factor=1.0,
                end_factor=0.1,
                total_iters=4,
            ),
        ],
        "one_cycle_lr": [
            schedule_case(
                "max_lr = 0.5, total_steps = 20, torch's defaults",
                20,
                lr=0.5,
                max_lr=0.5,
                total_steps=20,
                pct_start=0.3,
                anneal_strategy="cos",
                div_factor=25.0,
                final_div_factor=1e4,
                three_phase=False,
            ),
            schedule_case(
                "max_lr = 1, total_steps = 30, pct_start = 0.25, linear, three phases",
                30,
                lr=1.0,
                max_lr=1.0,
                total_steps=30,
                pct_start=0.25,
                anneal_strategy="linear",
                div_factor=10.0,
                final_div_factor=100.0,
                three_phase=True,
            ),
        ],
    }
    out = {}
    for name, (source, make) in makers.items():
        for c in cases[name]:
            hp = c["hyperparameters"]
            c["expected"] = torch_learning_rates(
                torch, lambda o: make(o, **hp), hp["lr"], c["steps"]
            )
            if name == "one_cycle_lr":
                del hp["lr"]  # the optimiser's lr is ignored: max_lr sets the cycle
        out[name] = {"source": f"torch.optim.lr_scheduler.{source}", "cases": cases[name]}

    # sequential_lr: torch's SequentialLR over the schedulers above. A case names each part by
    # its course_lib schedule and that schedule's hyperparameters (lr: the optimiser's).
    def chain(o, lr, schedules, milestones):
        parts = [makers[part["name"]][1](o, **part["hyperparameters"]) for part in schedules]
        return S.SequentialLR(o, parts, milestones=milestones)

    def part(name, **hyperparameters):
        return {"name": name, "hyperparameters": hyperparameters}

    out["sequential_lr"] = {
        "source": "torch.optim.lr_scheduler.SequentialLR",
        "cases": [
            schedule_case(
                "warm-up (s = 0.05, 20 updates), then cosine (T_max = 30)",
                50,
                lr=0.1,
                schedules=[
                    part("linear_lr", lr=0.1, start_factor=0.05, end_factor=1.0, total_iters=20),
                    part("cosine_annealing_lr", lr=0.1, T_max=30, eta_min=0.0),
                ],
                milestones=[20],
            ),
            schedule_case(
                "three parts: warm-up, exponential, steps; milestones 5 and 12",
                20,
                lr=0.5,
                schedules=[
                    part("linear_lr", lr=0.5, start_factor=0.1, end_factor=1.0, total_iters=5),
                    part("exponential_lr", lr=0.5, gamma=0.8),
                    part("step_lr", lr=0.5, step_size=3, gamma=0.5),
                ],
                milestones=[5, 12],
            ),
        ],
    }
    for c in out["sequential_lr"]["cases"]:
        hp = c["hyperparameters"]
        c["expected"] = torch_learning_rates(torch, lambda o: chain(o, **hp), hp["lr"], c["steps"])

    # optimizers.sgd_momentum: torch.optim.SGD(momentum=γ) stepped by a scheduler, where the
    # course's momentum (v ← γv + η_t∇f) departs from it: η_t scales torch's whole buffer.
    def momentum_run(c):
        p = torch.tensor(c["x0"], requires_grad=True)
        sched = c["schedule"]
        gamma = c["hyperparameters"]["gamma"]
        opt = torch.optim.SGD([p], lr=sched["hyperparameters"]["lr"], momentum=gamma)
        scheduler = makers[sched["name"]][1](opt, **sched["hyperparameters"])
        xs = [p.detach().clone().numpy()]
        for _ in range(c["steps"]):
            opt.zero_grad()
            torch_loss(torch, c["problem"], p).backward()
            opt.step()
            scheduler.step()
            xs.append(p.detach().clone().numpy())
        return np.array(xs).tolist()

    momentum_cases = [
        dict(
            case(
                "x of shape (2, 3), γ = 0.9, step decay every 7 updates",
                QUAD23,
                X_QUAD23,
                20,
                gamma=0.9,
            ),
            schedule=part("step_lr", **given({"lr": 0.05, "step_size": 7, "gamma": 0.1})),
        ),
        dict(
            case("Rosenbrock, γ = 0.8, cosine over 12 updates", ROSEN, X_ROSEN, 12, gamma=0.8),
            schedule=part(
                "cosine_annealing_lr", **given({"lr": 1e-3, "T_max": 12, "eta_min": 0.0})
            ),
        ),
    ]
    for c in momentum_cases:
        c["expected"] = momentum_run(c)
        del c["x0"], c["steps"], c["hint"]  # the trajectory holds x_0 and T
    return {
        "schedules": out,
        "sgd_momentum": {
            "source": "torch.optim.SGD(lr=η_0, momentum=γ) with a torch.optim.lr_scheduler "
            "stepped after every update",
            "cases": momentum_cases,
        },
    }


# --- section "hessian_free" (lesson 05b: torch's Hessian-vector products, scipy's solvers) ---

HF_NET = {"sizes": [64, 8, 10], "weight_decay": 1e-3, "examples": 40, "seed": 3}


def hf_network_case():
    """A small tanh network on the first digits of lesson 06's split: its data, w and v.

    The flat parameter vector holds, layer by layer, W (d_in × d_out, row-major) then b:
    the layout of course_lib.mlp.MLP. w and v are seeded normal vectors (scale 0.3 and 1).
    """
    from course_lib.data import load_digits
    from course_lib.mlp import split_train_validation

    X, y = load_digits()
    X_train, y_train, _, _ = split_train_validation(X, y, validation=0.2, seed=0)
    n, sizes = HF_NET["examples"], HF_NET["sizes"]
    dim = sum(a * b + b for a, b in itertools.pairwise(sizes))
    rng = np.random.default_rng(HF_NET["seed"])
    w, v = 0.3 * rng.standard_normal(dim), rng.standard_normal(dim)
    return given(X_train[:n]), y_train[:n], given(w), given(v)


def torch_mlp_logits(torch, w, X, sizes):
    """Logits of the tanh MLP whose flat parameters are w (course_lib.mlp's layout)."""
    a, offset = X, 0
    for k, (d_in, d_out) in enumerate(itertools.pairwise(sizes)):
        W = w[offset : offset + d_in * d_out].reshape(d_in, d_out)
        b = w[offset + d_in * d_out : offset + d_in * d_out + d_out]
        offset += d_in * d_out + d_out
        a = a @ W + b
        if k < len(sizes) - 2:
            a = torch.tanh(a)
    return a


def make_cg():
    """Linear CG: scipy's iterates (its callback) and the true residual norms ‖b − A x_k‖.

    numpy and scipy only (no torch): tests/test_references.py also runs it under other
    BLAS kernels."""
    from scipy.sparse.linalg import cg

    def spd(eigenvalues, seed):
        Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(eigenvalues),) * 2))
        A = (Q * np.asarray(eigenvalues, dtype=float)) @ Q.T
        return 0.5 * (A + A.T)

    cg_cases = []
    for name, eigenvalues, seed, rtol, hint in [
        (
            "6×6, eigenvalues 1 … 50: exact after n = 6 steps",
            [1.0, 2.0, 5.0, 10.0, 20.0, 50.0],
            1,
            1e-10,
            "",
        ),
        (
            "8×8 with 3 distinct eigenvalues: done in 3 steps",
            [1.0, 1.0, 1.0, 4.0, 4.0, 4.0, 9.0, 9.0],
            2,
            1e-10,
            "CG converges in as many steps as A has distinct eigenvalues: "
            "keep r, p and rᵀr consistent from one step to the next.",
        ),
        (
            "5×5, rtol = 0.3: stop early",
            [0.5, 1.0, 3.0, 7.0, 12.0],
            3,
            0.3,
            "stop as soon as ‖r‖ < rtol·‖b‖, checked before each step (as scipy does).",
        ),
    ]:
        A = given(spd(eigenvalues, seed))
        b = given(np.random.default_rng(seed + 10).standard_normal(len(A)))
        xs = [np.zeros(len(b))]
        cg(A, b, rtol=rtol, atol=0.0, callback=lambda xk: xs.append(np.copy(xk)))
        cg_cases.append(
            {
                "name": name,
                "A": A.tolist(),
                "b": b.tolist(),
                "rtol": rtol,
                "hint": hint,
                "expected": np.array(xs).tolist(),
                "residual_norms": [float(np.linalg.norm(b - A @ x)) for x in xs],
            }
        )
    return {"source": "scipy.sparse.linalg.cg (atol = 0), callback iterates", "cases": cg_cases}


def make_hessian_free():
    import torch
    from scipy.optimize import least_squares, minimize

    from course_lib.data import load_diabetes

    # 1. The network's Hessian- and Gauss–Newton-vector products, by torch.autograd (linear CG:
    # make_cg).
    X, y, w, v = hf_network_case()
    sizes, lam = HF_NET["sizes"], HF_NET["weight_decay"]
    Xt, yt = torch.tensor(X), torch.tensor(y)
    wt, vt = torch.tensor(w), torch.tensor(v)

    def penalty(p):
        total, offset = 0.0, 0
        for d_in, d_out in itertools.pairwise(sizes):
            W = p[offset : offset + d_in * d_out]
            total = total + 0.5 * lam * (W * W).sum()
            offset += d_in * d_out + d_out
        return total

    def loss(p):
        return torch.nn.functional.cross_entropy(
            torch_mlp_logits(torch, p, Xt, sizes), yt
        ) + penalty(p)

    _, hvp = torch.autograd.functional.hvp(loss, wt, vt)
    logits_of = lambda p: torch_mlp_logits(torch, p, Xt, sizes)
    z, jv = torch.autograd.functional.jvp(logits_of, wt, vt)
    ce = lambda logits: torch.nn.functional.cross_entropy(logits, yt)
    _, hjv = torch.autograd.functional.hvp(ce, z, jv)  # H_L (J v): the loss Hessian in the logits
    _, ggn = torch.autograd.functional.vjp(logits_of, wt, hjv)
    _, pen = torch.autograd.functional.hvp(penalty, wt, vt)
    network = {
        "source": "torch.autograd.functional.hvp, jvp and vjp (float64)",
        **HF_NET,
        "hvp": hvp.tolist(),
        "gauss_newton_vp": (ggn + pen).tolist(),
        "loss_gauss_newton_vp": ggn.tolist(),  # Jᵀ H_L J v alone, without the penalty's λv
    }

    # 2. scipy's nonlinear CG (Polak–Ribière+) on the course's problems.
    problems = {
        "Rosenbrock": ([-1.2, 1.0], lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2),
        "Beale": (
            [1.0, 1.4],
            lambda x: sum(
                (c - x[0] + x[0] * x[1] ** i) ** 2 for i, c in ((1, 1.5), (2, 2.25), (3, 2.625))
            ),
        ),
        "Himmelblau": (
            [0.0, 0.0],
            lambda x: (x[0] ** 2 + x[1] - 11) ** 2 + (x[0] + x[1] ** 2 - 7) ** 2,
        ),
    }
    nonlinear = {"source": 'scipy.optimize.minimize(method="CG", gtol=1e-5), torch gradients'}
    for name, (x0, fn) in problems.items():
        x0 = given(x0)

        def grad(x, fn=fn):
            t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
            fn(t).backward()
            return t.grad.numpy().copy()

        r = minimize(
            lambda x, fn=fn: float(fn(x)), x0, jac=grad, method="CG", options={"gtol": 1e-5}
        )
        nonlinear[name] = {
            "x0": x0,
            "nit": int(r.nit),
            "nfev": int(r.nfev),
            "njev": int(r.njev),
            "x": r.x.tolist(),
            "fun": float(r.fun),
            "success": bool(r.success),
        }

    # 3. Exponential regression on the diabetes data, by MINPACK's Levenberg–Marquardt.
    Xd, yd = load_diabetes(standardize=False)
    A = given(np.hstack([(Xd - Xd.mean(0)) / Xd.std(0), np.ones((len(Xd), 1))]))
    target = given(yd / 100)
    r = least_squares(
        lambda t: np.exp(A @ t) - target,
        np.zeros(A.shape[1]),
        jac=lambda t: np.exp(A @ t)[:, None] * A,
        method="lm",
    )
    lm = {
        "source": 'scipy.optimize.least_squares(method="lm"), MINPACK',
        "model": "r_i(θ) = exp(a_iᵀθ) − y_i/100, a_i = (standardised features, 1), θ_0 = 0",
        "nfev": int(r.nfev),
        "njev": int(r.njev),
        "x": r.x.tolist(),
        "fun": float(r.cost),
        "success": bool(r.success),
    }
    return {
        "network": network,
        "cg": make_cg(),
        "nonlinear_cg": nonlinear,
        "least_squares": lm,
    }


# --- section "deep" (lesson 07: torch.nn.init, clip_grad_norm_, BatchNorm1d) ---


def torch_init_std(torch, scheme, fan_in, fan_out, nonlinearity):
    """(gain, std) of torch.nn.init's normal initialisation of a (fan_out, fan_in) weight.

    The std is read off torch's own draw: with the same seed, xavier_normal_ / kaiming_normal_
    fill the tensor with std · (the standard normal draw of normal_(0, 1)).
    """
    gain = torch.nn.init.calculate_gain(nonlinearity)
    W = torch.empty(fan_out, fan_in)
    torch.manual_seed(0)
    if scheme == "xavier":
        torch.nn.init.xavier_normal_(W, gain=gain)
    else:
        torch.nn.init.kaiming_normal_(W, mode="fan_in", nonlinearity=nonlinearity)
    torch.manual_seed(0)
    ratio = (W / torch.empty(fan_out, fan_in).normal_(0.0, 1.0)).numpy()
    assert np.allclose(ratio, ratio.flat[0], rtol=1e-12, atol=0), "not one std"
    return float(gain), float(np.median(ratio))


def make_deep():
    """Lesson 07: initialisation stds, clipping by global norm, batch-norm backward, from torch."""
    import torch

    torch.set_default_dtype(torch.float64)
    init = [
        (
            "xavier",
            64,
            32,
            "tanh",
            "Xavier: std = gain·√(2/(fan_in + fan_out)), gain 5/3 for tanh.",
        ),
        ("xavier", 100, 10, "linear", "fan_in ≠ fan_out here: Xavier uses both."),
        ("he", 32, 32, "relu", "He: std = gain/√fan_in with gain √2 for ReLU."),
        ("he", 50, 200, "tanh", "He uses fan_in (torch's default mode), with tanh's gain 5/3."),
        ("xavier", 20, 80, "relu", "torch's gains: linear 1, tanh 5/3, ReLU √2."),
    ]
    init_cases = []
    for scheme, fan_in, fan_out, nonlinearity, hint in init:
        gain, std = torch_init_std(torch, scheme, fan_in, fan_out, nonlinearity)
        init_cases.append(
            {
                "name": f"{scheme}, fan_in = {fan_in}, fan_out = {fan_out}, {nonlinearity}",
                "args": [scheme, fan_in, fan_out, nonlinearity],
                "gain": gain,
                "expected": std,
                "hint": hint,
            }
        )

    rng = np.random.default_rng(7)
    clip = [
        (
            "one array dominates, total > max_norm",
            [(3, 4), (4,), (4, 2), (2,)],
            [3, 0.1, 0.2, 0.1],
            1.0,
        ),
        (
            "every array below max_norm, the total above",
            [(2, 3), (3,), (3, 2), (2,)],
            [0.4] * 4,
            1.0,
        ),
        ("total below max_norm: unchanged", [(3, 2), (2,)], [0.2, 0.1], 5.0),
        ("tiny gradients (total ≈ 1e-5): the 1e-6 shows", [(4, 3), (3,)], [4e-6, 1e-6], 1e-6),
    ]
    clip_cases = []
    for name, shapes, scales, max_norm in clip:
        grads = [given(scale * rng.normal(size=shape)) for shape, scale in zip(shapes, scales)]
        max_norm = given(max_norm)
        params = [torch.zeros(shape, requires_grad=True) for shape in shapes]
        for p_, g in zip(params, grads):
            p_.grad = torch.tensor(g)
        total = torch.nn.utils.clip_grad_norm_(params, max_norm)
        clip_cases.append(
            {
                "name": name,
                # one dict per array: the arrays have different shapes
                "grads": [{"array": g.tolist()} for g in grads],
                "max_norm": max_norm,
                "expected": [{"array": p_.grad.numpy().tolist()} for p_ in params],
                "total": float(total),
            }
        )

    bn_cases = []
    for name, shape, eps, offset in [
        ("batch of 8, 3 features", (8, 3), 1e-5, 0.0),
        ("batch of 4, 5 features, ε = 0.1, far from 0", (4, 5), 0.1, 20.0),
        ("batch of 2, 4 features", (2, 4), 1e-5, 0.0),
    ]:
        z = given(offset + rng.normal(size=shape) * rng.uniform(0.5, 3.0, size=shape[1]))
        dout = given(rng.normal(size=shape))
        bn = torch.nn.BatchNorm1d(shape[1], eps=eps, affine=False).train()
        zt = torch.tensor(z, requires_grad=True)
        out = bn(zt)
        out.backward(torch.tensor(dout))
        bn_cases.append(
            {
                "name": name,
                "z": z.tolist(),
                "dout": dout.tolist(),
                "eps": eps,
                "out": out.detach().numpy().tolist(),
                "expected": zt.grad.numpy().tolist(),
            }
        )
    return {
        "init_std": {
            "source": "torch.nn.init.xavier_normal_ / kaiming_normal_ with calculate_gain",
            "cases": init_cases,
        },
        "clip_grad_norm": {"source": "torch.nn.utils.clip_grad_norm_", "cases": clip_cases},
        "batch_norm_backward": {
            "source": "torch.nn.BatchNorm1d(affine=False), training mode",
            "cases": bn_cases,
        },
    }


# --- section "after_adam" (lessons 08 and 08b: Lion, Muon, Shampoo, SOAP, Adafactor,
# schedule-free, SAM, from lion-pytorch, torch.optim, pytorch-optimizer and schedulefree) ---


def quadratic_spec(shape, seed):
    """An elementwise quadratic Σ ½ a x² − b x on an x of ``shape`` (a generic gradient matrix),
    with a in [0.5, 4] and b in [−1, 1], and a start x0 of entries in [−2, 2]; seeded."""
    rng = np.random.default_rng(seed)
    spec = {
        "kind": "quadratic",
        "a": rng.uniform(0.5, 4.0, size=shape).round(3).tolist(),
        "b": rng.uniform(-1.0, 1.0, size=shape).round(3).tolist(),
    }
    return spec, rng.uniform(-2.0, 2.0, size=shape).round(3).tolist()


def network_spec(sizes=(5, 4, 3), examples=12, seed=0):
    """A small tanh network on seeded normal data: the spec (data, sizes) and a start w0
    (course_lib.mlp's layout: per layer W (d_in × d_out, row-major), then b)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(examples, sizes[0])).round(3)
    y = rng.integers(0, sizes[-1], size=examples)
    dim = sum(a * b + b for a, b in itertools.pairwise(sizes))
    w0 = (0.7 * rng.normal(size=dim)).round(3)
    spec = {"kind": "network", "sizes": list(sizes), "X": X.tolist(), "y": y.tolist()}
    return spec, w0.tolist()


def network_shapes(sizes):
    return [s for a, b in itertools.pairwise(sizes) for s in ((a, b), (b,))]


def torch_model(torch, c, transpose=False):
    """(leaf tensors, loss()) of a case: one tensor x, or a network's W's and b's. transpose:
    each matrix is held as its transpose, torch.nn.Linear's (fan_out, fan_in) layout."""
    spec, x0 = c["problem"], np.array(c["x0"], dtype=float)
    if spec["kind"] == "network":
        shapes, start, params = network_shapes(spec["sizes"]), 0, []
        for shape in shapes:
            size = int(np.prod(shape))
            block = x0[start : start + size].reshape(shape)
            start += size
            params.append(torch.tensor(block.T if transpose and len(shape) == 2 else block))
        X, y = torch.tensor(spec["X"]), torch.tensor(spec["y"])

        def loss():
            a = X
            for k in range(0, len(params), 2):
                W = params[k].T if transpose else params[k]
                a = a @ W + params[k + 1]
                if k + 2 < len(params):
                    a = torch.tanh(a)
            return torch.nn.functional.cross_entropy(a, y)

    else:
        params = [torch.tensor(x0.T if transpose and x0.ndim == 2 else x0)]

        def loss():
            return torch_loss(torch, spec, params[0].T if transpose else params[0])

    for p in params:
        p.requires_grad_(True)
    return params, loss


def course_vector(params, transpose=False, flat=True):
    """The course's x from torch's tensors: one array, or the flat vector of a network."""
    arrays = [p.detach().clone().numpy() for p in params]
    arrays = [a.T if transpose and a.ndim == 2 else a for a in arrays]
    return np.concatenate([a.reshape(-1) for a in arrays]) if flat else arrays[0]


def torch_trajectory(torch, c, make, transpose=False, read=None, closure_step=False):
    """x_0 … x_T of a case under the optimisers make(params) returns (a list); read(opts) is
    called before reading x (schedule-free: eval()); closure_step: step(closure) (SAM)."""
    params, loss = torch_model(torch, c, transpose)
    opts = make(params, **c["hyperparameters"])
    flat = c["problem"]["kind"] == "network"
    xs = [course_vector(params, transpose, flat)]
    for _ in range(c["steps"]):
        for o in opts:
            o.zero_grad()
        loss().backward()
        if closure_step:

            def closure():
                for o in opts:
                    o.zero_grad()
                loss().backward()

            for o in opts:
                o.step(closure)
        else:
            for o in opts:
                o.step()
        if read is not None:
            read(opts, "eval")
        xs.append(course_vector(params, transpose, flat))
        if read is not None:
            read(opts, "train")
    return np.array(xs).tolist()


def patched(function, old, new):
    """``function`` recompiled from its own source with ``old`` replaced by ``new`` (once):
    the library's code, with one precision choice changed, in the library's namespace."""
    import inspect
    import textwrap

    function = inspect.unwrap(function)  # past a decorator such as torch.no_grad()
    source = textwrap.dedent(inspect.getsource(function))
    assert source.count(old) == 1, f"{function.__qualname__}: {old!r} not found once"
    namespace = dict(function.__globals__)
    exec(compile(source.replace(old, new), inspect.getsourcefile(function), "exec"), namespace)
    return namespace[function.__name__]


def after_adam_case(name, problem_x0, steps, hint="", **hyperparameters):
    problem, x0 = problem_x0
    return case(name, problem, x0, steps, hint, **hyperparameters)


def make_after_adam():
    import lion_pytorch
    import pytorch_optimizer
    import schedulefree
    import torch
    import torch.optim._muon as torch_muon
    from pytorch_optimizer.optimizer import sam as po_sam
    from pytorch_optimizer.optimizer import soap as po_soap

    torch.set_default_dtype(torch.float64)
    o = torch.optim
    net = network_spec()
    R = {}

    def rule(name, source, make, cases, **options):
        for c in cases:
            c["expected"] = torch_trajectory(torch, c, make, **options)
        R[name] = {"source": source, "cases": cases}

    # Lion, as lion-pytorch's Lion (the sign of β1 m + (1 − β1) g, then m ← β2 m + (1 − β2) g).
    rule(
        "lion",
        "lion_pytorch.Lion(lr=η, betas=(β1, β2), weight_decay=ω)",
        lambda p, lr, beta1=0.9, beta2=0.99, weight_decay=0.0: [
            lion_pytorch.Lion(p, lr=lr, betas=(beta1, beta2), weight_decay=weight_decay)
        ],
        [
            case(
                "course quadratic, η = 0.3, β1 = 0.9, β2 = 0.99",
                QUAD2,
                X_QUAD2,
                12,
                "the step is η sign(c) with c = β1 m + (1 − β1) g, m the *old* average; only "
                "after the step m ← β2 m + (1 − β2) g.",
                lr=0.3,
            ),
            case(
                "x of shape (2, 3), η = 0.2, β1 = 0.5, β2 = 0.9",
                QUAD23,
                X_QUAD23,
                12,
                "β1 mixes m and g for the sign, β2 is m's own decay: swapped, or hard-coded?",
                lr=0.2,
                beta1=0.5,
                beta2=0.9,
            ),
            case(
                "η = 0.3, β1 = 0.9, β2 = 0.3: m forgets fast",
                QUAD23,
                X_QUAD23,
                12,
                "c = β1 m + (1 − β1) g with the m of the previous step; then m ← β2 m + (1 − β2) g.",
                lr=0.3,
                beta1=0.9,
                beta2=0.3,
            ),
            case(
                "weight decay ω = 0.5, η = 0.1",
                QUAD32,
                X_QUAD32,
                8,
                "decoupled, as AdamW: x ← x(1 − ηω) − η sign(c); ω is not added to the gradient.",
                lr=0.1,
                weight_decay=0.5,
            ),
        ],
    )

    # Muon: torch.optim.Muon on the matrices (held transposed, as nn.Linear does), with its
    # Newton–Schulz iteration in float64 (the same code without .bfloat16()), AdamW for the rest.
    ns64 = patched(torch_muon._zeropower_via_newtonschulz, "grad.bfloat16()", "grad.clone()")

    def make_muon(
        params,
        lr,
        gamma=0.95,
        nesterov=True,
        weight_decay=0.1,
        adjust_lr="match_rms_adamw",
        ns_steps=5,
        ns_eps=1e-7,
        beta1=0.9,
        beta2=0.999,
        eps=1e-8,
    ):
        matrices = [p for p in params if p.ndim == 2]
        rest = [p for p in params if p.ndim != 2]
        opts = [
            o.Muon(
                matrices,
                lr=lr,
                momentum=gamma,
                nesterov=nesterov,
                weight_decay=weight_decay,
                adjust_lr_fn=adjust_lr,
                ns_steps=ns_steps,
                eps=ns_eps,
            )
        ]
        if rest:
            opts.append(
                o.AdamW(rest, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay)
            )
        return opts

    original = torch_muon._zeropower_via_newtonschulz
    torch_muon._zeropower_via_newtonschulz = ns64
    try:
        rule(
            "muon",
            "torch.optim.Muon (Newton–Schulz in float64) on each matrix, AdamW on the rest",
            make_muon,
            [
                after_adam_case(
                    "a 3×5 matrix, η = 0.05",
                    quadratic_spec((3, 5), 1),
                    6,
                    "m ← γ m + (1 − γ) g, Nesterov's u = (1 − γ) g + γ m, then newton_schulz(u), "
                    "scaled by 0.2·√max(d_in, d_out), and the decay x(1 − ηω).",
                    lr=0.05,
                ),
                after_adam_case(
                    "a 5×3 matrix, Jordan's scale, no Nesterov, ω = 0",
                    quadratic_spec((5, 3), 2),
                    6,
                    'adjust_lr="original": √max(1, fan_out/fan_in) with the matrix (fan_in, '
                    "fan_out); without Nesterov, u = m.",
                    lr=0.02,
                    nesterov=False,
                    adjust_lr="original",
                    weight_decay=0.0,
                ),
                after_adam_case(
                    "network 5-4-3: W's by Muon, b's by AdamW, η = 0.02",
                    net,
                    5,
                    "the biases (vectors) take AdamW's step, with the same η and ω.",
                    lr=0.02,
                ),
            ],
            transpose=True,
        )
        rng = np.random.default_rng(8)
        spread = np.linalg.qr(rng.normal(size=(4, 4)))[0] @ np.diag([1.0, 0.3, 0.05, 1e-3])
        ns_cases = []
        for name, g, steps, hint in [
            ("a wide 3×5 matrix, 5 steps", rng.normal(size=(3, 5)), 5, ""),
            (
                "a tall 6×4 matrix, 5 steps",
                rng.normal(size=(6, 4)),
                5,
                "a tall matrix works too: O Oᵀ or its transpose, the result is the same.",
            ),
            (
                "singular values 1, 0.3, 0.05, 0.001, 5 steps",
                spread @ np.linalg.qr(rng.normal(size=(4, 4)))[0],
                5,
                "first divide by the Frobenius norm ‖g‖_F (not by the largest entry or σ_max).",
            ),
            (
                "one step on a 2×3 matrix",
                rng.normal(size=(2, 3)),
                1,
                "use the argument `steps`.",
            ),
            (
                "the zero matrix",
                np.zeros((2, 2)),
                5,
                "divide by max(‖g‖_F, eps), as torch clamps the norm: 0/0 otherwise.",
            ),
        ]:
            coefficients = (torch_muon.DEFAULT_A, torch_muon.DEFAULT_B, torch_muon.DEFAULT_C)
            out = ns64(torch.tensor(g), coefficients, steps, torch_muon.EPS)
            ns_cases.append(
                {
                    "name": name,
                    "g": g.tolist(),
                    "steps": steps,
                    "expected": out.numpy().tolist(),
                    "hint": hint,
                }
            )
        R["newton_schulz"] = {
            "source": "torch.optim.Muon's _zeropower_via_newtonschulz, in float64",
            "cases": ns_cases,
        }
    finally:
        torch_muon._zeropower_via_newtonschulz = original

    # Shampoo, as pytorch-optimizer's Shampoo.
    rule(
        "shampoo",
        "pytorch_optimizer.Shampoo(lr=η, momentum=γ, weight_decay=ω, "
        "preconditioning_compute_steps=k, matrix_eps=ε)",
        lambda p, lr, gamma=0.0, weight_decay=0.0, update_every=1, eps=1e-6: [
            pytorch_optimizer.Shampoo(
                p,
                lr=lr,
                momentum=gamma,
                weight_decay=weight_decay,
                preconditioning_compute_steps=update_every,
                matrix_eps=eps,
            )
        ],
        [
            after_adam_case(
                "a 3×4 matrix, η = 0.1",
                quadratic_spec((3, 4), 3),
                5,
                "S_row^(−1/4) g S_col^(−1/4), S_row = εI + Σ g gᵀ, S_col = εI + Σ gᵀ g.",
                lr=0.1,
            ),
            after_adam_case(
                "network 5-4-3, roots every 3 steps, γ = 0.5, ε = 0.01, η = 0.02",
                net,
                7,
                "roots at steps 3, 6, …: before step 3 they are 0; a vector: S^(−1/2) g.",
                lr=0.02,
                gamma=0.5,
                update_every=3,
                eps=0.01,
            ),
            after_adam_case(
                "a vector of 4, ω = 0.1, η = 0.2",
                quadratic_spec((4,), 4),
                5,
                "L2 decay: g ← g + ωx before the statistics.",
                lr=0.2,
                weight_decay=0.1,
                eps=1e-3,
            ),
        ],
    )

    # SOAP, as pytorch-optimizer's SOAP, its QR decomposition in float64 (the same code
    # without .to(torch.float32)).
    class SOAP64(pytorch_optimizer.SOAP):
        get_orthogonal_matrix_qr = patched(
            po_soap.SOAP.get_orthogonal_matrix_qr, "power_iter.to(torch.float32)", "power_iter"
        )

    rule(
        "soap",
        "pytorch_optimizer.SOAP(lr=η, betas=(β1, β2), weight_decay=ω, precondition_frequency=k, "
        "eps=ε), its QR in float64",
        lambda p, lr, beta1=0.95, beta2=0.95, weight_decay=0.01, update_every=10, eps=1e-8: [
            SOAP64(
                p,
                lr=lr,
                betas=(beta1, beta2),
                weight_decay=weight_decay,
                precondition_frequency=update_every,
                eps=eps,
            )
        ],
        [
            after_adam_case(
                "a 3×3 matrix, basis refreshed every 2 steps, ε = 1e-4, η = 0.05",
                quadratic_spec((3, 3), 5),
                8,
                "the first call only gathers S; t counts the calls after it.",
                lr=0.05,
                update_every=2,
                eps=1e-4,
            ),
            after_adam_case(
                "a 3×4 matrix, β1 = 0.9, β2 = 0.99, ω = 0.1, every 3 steps, ε = 1e-3",
                quadratic_spec((3, 4), 6),
                8,
                "",
                lr=0.05,
                beta1=0.9,
                beta2=0.99,
                weight_decay=0.1,
                update_every=3,
                eps=1e-3,
            ),
        ],
    )

    # Adafactor, as torch.optim.Adafactor.
    rule(
        "adafactor",
        "torch.optim.Adafactor(lr=η, beta2_decay, eps=(ε, ε2), d=clip_threshold, weight_decay=ω)",
        lambda p, lr, beta2_decay=-0.8, eps=None, eps2=1e-3, clip_threshold=1.0, weight_decay=0.0: [
            o.Adafactor(
                p,
                lr=lr,
                beta2_decay=beta2_decay,
                eps=(eps, eps2),
                d=clip_threshold,
                weight_decay=weight_decay,
                foreach=False,
            )
        ],
        [
            after_adam_case("a 3×4 matrix, η = 0.1", quadratic_spec((3, 4), 7), 6, "", lr=0.1),
            after_adam_case(
                "network 5-4-3, η = 0.05, ω = 0.2, clip_threshold 1.5, β̂2 = 1 − t^−0.5",
                net,
                6,
                "",
                lr=0.05,
                weight_decay=0.2,
                clip_threshold=1.5,
                beta2_decay=-0.5,
            ),
            after_adam_case(
                "a 4×2 matrix of tiny entries: ε2 = 1e-3 sets the step",
                (quadratic_spec((4, 2), 8)[0], (1e-5 * np.ones((4, 2))).tolist()),
                4,
                "",
                lr=0.5,
            ),
        ],
    )

    # Schedule-free SGD and AdamW, as schedulefree's; x read in eval() mode.
    def read(opts, mode):
        for opt in opts:
            getattr(opt, mode)()

    def sf_sgd(p, lr, beta=0.9, weight_decay=0.0, warmup_steps=0):
        opt = schedulefree.SGDScheduleFree(
            p,
            lr=lr,
            momentum=beta,
            weight_decay=weight_decay,
            warmup_steps=warmup_steps,
            foreach=False,
        )
        opt.train()
        return [opt]

    def sf_adamw(p, lr, beta=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, warmup_steps=0):
        opt = schedulefree.AdamWScheduleFree(
            p,
            lr=lr,
            betas=(beta, beta2),
            eps=eps,
            weight_decay=weight_decay,
            warmup_steps=warmup_steps,
            foreach=False,
        )
        opt.train()
        return [opt]

    rule(
        "schedule_free_sgd",
        "schedulefree.SGDScheduleFree(lr=η, momentum=β, weight_decay=ω, warmup_steps), "
        "x read in eval() mode",
        sf_sgd,
        [
            case("course quadratic, η = 0.4", QUAD2, X_QUAD2, 10, "", lr=0.4),
            case(
                "x of shape (2, 3), η = 0.3, β = 0.5, ω = 0.1, 4 warm-up steps",
                QUAD23,
                X_QUAD23,
                10,
                "",
                lr=0.3,
                beta=0.5,
                weight_decay=0.1,
                warmup_steps=4,
            ),
        ],
        read=read,
    )
    rule(
        "schedule_free_adamw",
        "schedulefree.AdamWScheduleFree(lr=η, betas=(β, β2), eps, weight_decay=ω, warmup_steps), "
        "x read in eval() mode",
        sf_adamw,
        [
            case("course quadratic, η = 0.5", QUAD2, X_QUAD2, 10, "", lr=0.5),
            after_adam_case(
                "network 5-4-3, η = 0.05, β2 = 0.99, ω = 0.01, 3 warm-up steps",
                net,
                8,
                "",
                lr=0.05,
                beta2=0.99,
                weight_decay=0.01,
                warmup_steps=3,
            ),
        ],
        read=read,
    )

    # SAM around AdamW, as pytorch-optimizer's SAM, ‖g‖ in float64 (its code without .float()).
    norm64 = patched(po_sam.get_global_gradient_norm, ".float().square_()", ".square_()")

    def make_sam(p, lr, radius=0.05, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
        return [
            pytorch_optimizer.SAM(
                p,
                base_optimizer=o.AdamW,
                rho=radius,
                adaptive=False,
                lr=lr,
                betas=(beta1, beta2),
                eps=eps,
                weight_decay=weight_decay,
                foreach=False,
            )
        ]

    original_norm = po_sam.get_global_gradient_norm
    po_sam.get_global_gradient_norm = norm64
    try:
        rule(
            "sam",
            "pytorch_optimizer.SAM(base_optimizer=torch.optim.AdamW, rho=τ), ‖g‖ in float64",
            make_sam,
            [
                case(
                    "Rosenbrock, AdamW's η = 0.02, τ = 0.05",
                    ROSEN,
                    X_ROSEN,
                    8,
                    "g at x, then the gradient at x + τ g/‖g‖ replaces g in AdamW's step from x.",
                    lr=0.02,
                    radius=0.05,
                ),
                case(
                    "course quadratic, AdamW's η = 0.1, τ = 0.5",
                    QUAD2,
                    X_QUAD2,
                    8,
                    "the gradient at x + τ g/‖g‖ (‖g‖ over all of x) replaces g in AdamW's step, "
                    "which starts from x itself.",
                    lr=0.1,
                    radius=0.5,
                ),
                case(
                    "x of shape (2, 3), τ = 0.2, β1 = 0.5, ω = 0",
                    QUAD23,
                    X_QUAD23,
                    8,
                    "the base step gets every hyperparameter but τ.",
                    lr=0.05,
                    radius=0.2,
                    beta1=0.5,
                    weight_decay=0.0,
                ),
                after_adam_case(
                    "network 5-4-3, η = 0.01, τ = 0.1", net, 6, "", lr=0.01, radius=0.1
                ),
            ],
            closure_step=True,
        )
    finally:
        po_sam.get_global_gradient_norm = original_norm
    return {"rules": R}


SECTIONS = {
    "steps": make_steps,
    "sgd": make_sgd,
    "adaptive": make_adaptive,
    "second_order": make_second_order,
    "schedules": make_schedules,
    "hessian_free": make_hessian_free,
    "deep": make_deep,
    "after_adam": make_after_adam,
}
# The libraries whose results each section stores (numpy and Python are recorded for all).
MADE_WITH = {
    "steps": ["torch", "adabelief-pytorch"],
    "sgd": ["torch"],
    "adaptive": ["torch"],
    "second_order": ["scipy"],
    "schedules": ["torch"],
    "hessian_free": ["torch", "scipy"],
    "deep": ["torch"],
    "after_adam": ["torch", "lion-pytorch", "pytorch-optimizer", "schedulefree"],
}

# --- how a regenerated value must agree with the stored one (tests/test_references.py) ---
# One rule for every file. A stored number v, in the list s that holds it (a trajectory, a
# sequence of residual norms, a matrix, a vector; a lone number is its own list), kept under
# the key k, is reproduced when the regenerated number differs from v by at most
#
#     rtol·|v| + floor·max|s| + atol        (rtol, floor and atol of the key k, below)
#
# - Every key not named below (iterates, residual norms, learning rates, products, the
#   problems' own data): rtol = floor = 1e-10. Each number is a few float64 operations on
#   O(1) inputs, so 1e-10 of itself leaves room for a libm or BLAS that rounds differently.
#   But a number can fall far below its sequence's scale: a residual or gradient norm, an
#   iterate or a loss that has converged, a difference of nearly equal numbers. What is left
#   of it is rounding noise of the size of the numbers it came from (~1e-16·max|s|, times
#   the problem's conditioning), and that noise depends on the CPU and the BLAS kernels
#   (CG's residual after convergence: 2.2e-12, 3.8e-12 or 4.4e-12 of ‖b‖ = 2.4, by the
#   OpenBLAS kernel). floor·max|s| admits that noise, 1e-10 of the sequence's own scale, and
#   nothing a real change makes: a wrong step, factor or sign moves some number of the
#   sequence by far more than 1e-10 of its scale (tests/test_references.py proves both).
#   A list that is all zeros must stay all zeros.
# - A converged result of an iterative solver is only as good as its stopping tolerance
#   (gtol = 1e-5 here): its point "x" is compared to 1e-6; its value "fun" to 1e-10 of
#   itself, or 1e-10 absolute where f(x*) ≈ 1e-15 is rounding noise.
# - Counts (iterations, evaluations) are shown in lesson 05's table: a solver's rounding may
#   add or save an iteration, not more. The number of CG iterates is a list's length and must
#   be equal: every stored stopping test is met or missed by a margin of 5 % or more, which
#   rounding cannot bridge (tests/test_references.py checks it).
# - Text and flags (names, hints, "success") must be equal.
TOLERANCES = {
    "*": {"rtol": 1e-10, "floor": 1e-10, "atol": 0.0},
    "x": {"rtol": 0.0, "floor": 0.0, "atol": 1e-6},
    "fun": {"rtol": 1e-10, "floor": 0.0, "atol": 1e-10},
    **{count: {"rtol": 0.0, "floor": 0.0, "atol": 2} for count in ("nit", "nfev", "njev", "nhev")},
}


def tolerance(key, stored, rule=None):
    """How far each number of ``stored`` (the list under ``key``) may move (see TOLERANCES)."""
    rule = rule or TOLERANCES
    tol = rule.get(key, rule["*"])
    a = np.abs(np.asarray(stored, dtype=float))
    scale = a.max() if a.size else 0.0
    return tol["rtol"] * a + tol["floor"] * scale + tol["atol"]


def versions(section):
    """The versions of what made a section: Python, numpy and the section's libraries."""
    import platform
    from importlib.metadata import version

    return {
        "python": platform.python_version(),
        "numpy": version("numpy"),
        **{name: version(name) for name in MADE_WITH[section]},
    }


def generate(section):
    """The reference dict of one section, freshly computed, with the versions that made it."""
    return {
        "generated_by": "tools/make_reference.py",
        "versions": versions(section),
        **SECTIONS[section](),
    }


def write(section, data):
    path = DATA / f"references_{section}.json"
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return path


def main(argv):
    for section in argv or list(SECTIONS):
        if section not in SECTIONS:
            sys.exit(f"unknown section {section!r}; choose from {sorted(SECTIONS)}")
        print("wrote", write(section, generate(section)).relative_to(ROOT))


if __name__ == "__main__":
    main(sys.argv[1:])
