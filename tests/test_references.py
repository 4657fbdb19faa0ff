"""The stored reference data regenerates from the real implementations within one rule,
make_reference.TOLERANCES, which is tolerant to rounding and strict to real changes:

- a regeneration from inputs one unit in the last place away, or under other BLAS kernels,
  is accepted, although it moves numbers by more than a scale-blind rule allows (the failure
  of CG's converged residual on another CPU);
- a wrong step, a missing factor or term, a rate one update late is rejected."""

import functools
import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

import make_reference

MODULES = {
    "torch": "torch",
    "adabelief-pytorch": "adabelief_pytorch",
    "scipy": "scipy",
    "lion-pytorch": "lion_pytorch",
    "pytorch-optimizer": "pytorch_optimizer",
    "schedulefree": "schedulefree",
}
SECTIONS = sorted(make_reference.SECTIONS)
# Inputs × (1 − 2⁻⁵²): one unit in the last place. (1 + 2⁻⁵² would push LinearLR's
# end_factor = 1 past 1, which torch refuses.)
ULP = -(2.0**-52)
# A rule blind to the sequence's scale (the one before): converged values compared at 1e-13.
SCALE_BLIND = {**make_reference.TOLERANCES, "*": {"rtol": 1e-10, "floor": 0.0, "atol": 1e-13}}
EXACT = {"*": {"rtol": 0.0, "floor": 0.0, "atol": 0.0}}  # which numbers moved at all


def differences(stored, fresh, path="$", rule=None):
    """Every place where ``fresh`` disagrees with ``stored`` beyond its tolerance, as text."""
    if isinstance(stored, dict):
        if not isinstance(fresh, dict) or set(stored) != set(fresh):
            return [
                f"{path}: keys differ ({sorted(stored)} vs "
                f"{sorted(fresh) if isinstance(fresh, dict) else type(fresh).__name__})"
            ]
        return [
            d
            for k in stored
            if k != "versions"
            for d in differences(stored[k], fresh[k], f"{path}.{k}", rule)
        ]
    if isinstance(stored, list) and stored and isinstance(stored[0], (dict, str)):
        if not isinstance(fresh, list) or len(stored) != len(fresh):
            return [f"{path}: lengths differ"]
        return [
            d
            for i, (a, b) in enumerate(zip(stored, fresh))
            for d in differences(a, b, f"{path}[{i}]", rule)
        ]
    if isinstance(stored, (list, int, float)) and not isinstance(stored, bool):
        try:
            a, b = np.array(stored, dtype=float), np.array(fresh, dtype=float)
        except (TypeError, ValueError):  # ragged: a list of another length inside
            return [f"{path}: shapes differ"]
        if a.shape != b.shape:
            return [f"{path}: shape {b.shape}, stored {a.shape}"]
        key = path.rsplit(".", 1)[-1].split("[")[0]
        allowed = make_reference.tolerance(key, a, rule)
        bad = ~((b == a) | (np.abs(b - a) <= allowed))
        if bad.any():
            i = tuple(int(k) for k in np.unravel_index(np.argmax(bad), a.shape))
            at = f"[{', '.join(map(str, i))}]" if i else ""
            return [
                f"{path}{at}: regenerated {float(b[i])!r}, stored {float(a[i])!r}, allowed "
                f"±{float(np.broadcast_to(allowed, a.shape)[i]):.3g} ({int(bad.sum())} of "
                f"{bad.size} values differ)"
            ]
        return []
    return [] if stored == fresh else [f"{path}: regenerated {fresh!r}, stored {stored!r}"]


def stored(section):
    return json.loads((make_reference.DATA / f"references_{section}.json").read_text())


def needs(section):
    for name in make_reference.MADE_WITH[section]:
        pytest.importorskip(
            MODULES[name],
            reason=f"regenerating '{section}' needs {name} (pip install -e '.[maintainer]')",
        )


def generate(make, rounding=0.0):
    """make() with every float input × (1 + rounding), as JSON would store it."""
    make_reference.ROUNDING = rounding
    try:
        return json.loads(json.dumps(make()))
    finally:
        make_reference.ROUNDING = 0.0


@functools.cache
def regenerated(section, rounding=0.0):
    return generate(functools.partial(make_reference.generate, section), rounding)


@pytest.mark.regenerate
@pytest.mark.parametrize("section", SECTIONS)
def test_stored_references_regenerate(section):
    needs(section)
    old, fresh = stored(section), regenerated(section)
    found = differences(old, fresh)
    assert not found, (
        f"references_{section}.json does not regenerate: stored with "
        f"{old.get('versions')}, regenerated with {fresh['versions']}:\n" + "\n".join(found[:10])
    )


# --- tolerant to rounding ---------------------------------------------------------------------


@pytest.mark.regenerate
@pytest.mark.parametrize("section", SECTIONS)
def test_a_regeneration_from_inputs_one_ulp_away_is_accepted(section):
    needs(section)
    old, fresh = stored(section), regenerated(section, ULP)
    assert differences(old, fresh, rule=EXACT), "no number moved: the test would prove nothing"
    found = differences(old, fresh)
    assert not found, (
        f"references_{section}.json: inputs × (1 − 2⁻⁵²) move numbers beyond the rule:\n"
        + "\n".join(found[:10])
    )


@pytest.mark.regenerate
def test_the_perturbation_makes_the_failure_a_scale_blind_rule_cannot_take():
    """The ULP perturbation is strong enough: a rule blind to the sequence's scale rejects what
    it does to CG's converged residual, the failure seen on another CPU, which ours accepts."""
    pytest.importorskip("scipy")
    old = stored("hessian_free")["cg"]
    blind = []
    for rounding in (ULP, -ULP, 2 * ULP, -2 * ULP):
        fresh = generate(make_reference.make_cg, rounding)
        assert not differences(old, fresh, "$.cg"), rounding
        blind += differences(old, fresh, "$.cg", rule=SCALE_BLIND)
    assert any(d.startswith("$.cg.cases[0].residual_norms[6]") for d in blind), blind


def openblas_kernels():
    """OpenBLAS kernels to force with OPENBLAS_CORETYPE on this machine, or skip."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    except Exception:  # an older numpy: no dict to read
        blas = ""
    if "openblas" not in blas.lower() or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip(f"numpy's BLAS is {blas or 'unknown'} on {platform.machine()}: no OpenBLAS")
    flags = ""
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    # Prescott (SSE3) runs on every x86-64; Haswell's kernels (what an AMD EPYC uses) need AVX2.
    return ["Prescott"] + (["Haswell"] if " avx2" in flags else [])


@pytest.mark.regenerate
def test_other_blas_kernels_are_accepted():
    """CG's cases regenerated under other OpenBLAS kernels (Haswell's reproduces the failure
    seen on an AMD EPYC exactly) agree with the stored ones within the rule."""
    pytest.importorskip("scipy")
    old = stored("hessian_free")["cg"]
    script = "import json, make_reference; print(json.dumps(make_reference.make_cg()))"
    runs = {}
    for kernel in openblas_kernels():
        env = {**os.environ, "OPENBLAS_CORETYPE": kernel}
        out = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            cwd=make_reference.ROOT / "tools",
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        runs[kernel] = json.loads(out.stdout)
        found = differences(old, runs[kernel], "$.cg")
        assert not found, f"OpenBLAS {kernel} kernels: " + "\n".join(found)
    if len(runs) == 2:  # and they do differ: the residual at 2.2e-12 with one, 4.4e-12 the other
        assert differences(runs["Prescott"], runs["Haswell"], "$.cg", rule=EXACT)


# --- strict to real changes ------------------------------------------------------------------


def half_dropped(loss):
    """torch_loss with the quadratic's ½ dropped: ∇f = 2ax − b instead of ax − b."""

    def wrong(torch, spec, p):
        if spec["kind"] != "quadratic":
            return loss(torch, spec, p)
        a = torch.tensor(spec["a"], dtype=torch.float64)
        return (a * p * p - torch.tensor(spec["b"], dtype=torch.float64) * p).sum()

    return wrong


def newton_step_too_long(trajectory):
    """Newton's step 1e-7 too long: a real change a lax rule (1e-6) would accept."""
    return lambda spec, x0, steps, lr: trajectory(spec, x0, steps, lr * (1 + 1e-7))


def one_update_late(rates):
    """The rate of update t read before the scheduler has stepped t times (an off-by-one)."""

    def wrong(*args):
        r = rates(*args)
        return [r[0], *r[:-1]]

    return wrong


def cg_step_too_long(A, b, rtol, atol, callback, maxiter=None):
    """Linear CG whose every step is 1e-6 too long (α(1 + 1e-6)), with scipy.sparse.linalg.cg's
    stopping test."""
    x, r = np.zeros_like(b), b.copy()
    p, rr = r.copy(), r @ r
    for _ in range(maxiter or 10 * len(b)):
        if np.sqrt(rr) < max(rtol * np.linalg.norm(b), atol):
            break
        Ap = A @ p
        alpha = (1 + 1e-6) * rr / (p @ Ap)
        x, r = x + alpha * p, r - alpha * Ap
        rr, rr_old = r @ r, rr
        p = r + rr / rr_old * p
        callback(x)
    return x, 0


def clip_without_its_epsilon(parameters, max_norm):
    """clip_grad_norm_ with the coefficient max_norm / total (torch: max_norm / (total + 1e-6))."""
    import torch

    total = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in parameters]))
    for p in parameters:
        p.grad.mul_(torch.clamp(max_norm / total, max=1.0))
    return total


# name → (section, the module and the name of what is replaced, how); where it must show
MUTATIONS = {
    "steps: the quadratic's ½ dropped": ("steps", "make_reference", "torch_loss", half_dropped),
    "sgd: the quadratic's ½ dropped": ("sgd", "make_reference", "torch_loss", half_dropped),
    "adaptive: the quadratic's ½ dropped": (
        "adaptive",
        "make_reference",
        "torch_loss",
        half_dropped,
    ),
    "second_order: Newton's step 1e-7 too long": (
        "second_order",
        "make_reference",
        "newton_trajectory",
        newton_step_too_long,
    ),
    "schedules: each rate one update late": (
        "schedules",
        "make_reference",
        "torch_learning_rates",
        one_update_late,
    ),
    "hessian_free: CG's steps 1e-6 too long": (
        "hessian_free",
        "scipy.sparse.linalg",
        "cg",
        lambda cg: cg_step_too_long,
    ),
    "deep: clip_grad_norm_ without its 1e-6": (
        "deep",
        "torch.nn.utils",
        "clip_grad_norm_",
        lambda clip: clip_without_its_epsilon,
    ),
}
MUST_SHOW = {  # every rule, run, schedule or case the mutation touches
    "steps": lambda ref: [f"$.rules.{r}." for r in ref["rules"]],
    "sgd": lambda ref: [f"$.runs.{r}." for r in ref["runs"]],
    "adaptive": lambda ref: [f"$.rules.{r}." for r in ref["rules"]],
    "second_order": lambda ref: [
        f"$.newton.cases[{i}].expected" for i in range(len(ref["newton"]["cases"]))
    ],
    "schedules": lambda ref: [f"$.schedules.{s}." for s in ref["schedules"]],
    "hessian_free": lambda ref: [f"$.cg.cases[{i}]" for i in range(len(ref["cg"]["cases"]))],
    "deep": lambda ref: [  # (a total below max_norm is not clipped: unchanged)
        f"$.clip_grad_norm.cases[{i}].expected"
        for i, c in enumerate(ref["clip_grad_norm"]["cases"])
        if c["total"] > c["max_norm"]
    ],
}


@pytest.mark.regenerate
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_real_change_is_rejected(mutation, monkeypatch):
    section, module, name, wrong = MUTATIONS[mutation]
    needs(section)
    module = pytest.importorskip(module)
    monkeypatch.setattr(module, name, wrong(getattr(module, name)))
    old = stored(section)
    if section == "hessian_free":  # only its CG is mutated: regenerate that part alone
        found = differences(old["cg"], generate(make_reference.make_cg), "$.cg")
    else:
        found = differences(old, generate(functools.partial(make_reference.generate, section)))
    missed = [p for p in MUST_SHOW[section](old) if not any(d.startswith(p) for d in found)]
    assert not missed, f"{mutation}: accepted at {missed}"


# --- the rule itself, and the margins it relies on (no regeneration) --------------------------


def test_every_file_records_the_versions_that_made_it():
    for section in make_reference.SECTIONS:
        assert set(stored(section)["versions"]) == {
            "python",
            "numpy",
            *make_reference.MADE_WITH[section],
        }


def test_the_tolerance_rule_tells_a_rounding_change_from_a_real_one():
    # CG's residual norms on two CPUs (the numbers of the failure), and x_k of a trajectory
    base = {
        "versions": {},
        "minimize": {"fun": 2.535309e-15, "nit": 34, "x": [1.0, 1.0]},
        "cases": [
            {
                "name": "a",
                "expected": [[-5.0, -2.0], [-4.6, 1.2], [1e-16, 0.0]],
                "residual_norms": [2.36, 1.2, 0.07, 3.779152231413005e-12],
                "b": [0.0, 0.0],
            }
        ],
    }
    rounding = json.loads(json.dumps(base))
    rounding["minimize"].update(fun=2.535306e-15, nit=35, x=[1.0 + 3e-9, 1.0])
    rounding["cases"][0]["expected"][1][0] = -4.6 * (1 + 1e-13)
    rounding["cases"][0]["expected"][2][0] = 4e-16  # an iterate at 0, to rounding
    rounding["cases"][0]["residual_norms"][3] = 2.163204374689876e-12
    assert differences(base, rounding) == []
    assert differences(base, rounding, rule=SCALE_BLIND)  # which a scale-blind rule rejects
    for where, value in [("fun", 1e-8), ("nit", 40), ("x", [1.001, 1.0])]:
        wrong = json.loads(json.dumps(base))
        wrong["minimize"][where] = value
        assert [d for d in differences(base, wrong) if f".{where}" in d]
    for key, i, value in [
        ("expected", (1, 0), -4.6 * (1 + 1e-8)),  # 1e-8 of itself
        ("expected", (2, 0), 1e-9),  # an iterate at 0 moved by 2e-10 of the scale
        ("residual_norms", (0,), 2.36 * (1 + 1e-9)),  # the first residual, 1e-9 of itself
        ("residual_norms", (3,), 1e-9),  # the converged one, 4e-10 of the scale
        ("b", (1,), 1e-300),  # a list of zeros stays zeros
    ]:
        wrong = json.loads(json.dumps(base))
        target = wrong["cases"][0][key]
        for j in i[:-1]:
            target = target[j]
        target[i[-1]] = value
        found = differences(base, wrong)
        assert len(found) == 1 and found[0].startswith(f"$.cases[0].{key}["), (key, found)
    wrong = json.loads(json.dumps(base))
    wrong["cases"][0]["name"] = "b"
    assert any("'b'" in d for d in differences(base, wrong))


def test_every_stopping_test_is_met_or_missed_by_a_margin():
    """A count that rides on a stopping test is compared exactly (a list's length) or to ±2:
    rounding must not be able to flip the test, so each is met or missed by 5 % or more."""
    from course_lib import rosenbrock

    for c in stored("hessian_free")["cg"]["cases"]:
        threshold = c["rtol"] * np.linalg.norm(c["b"])  # scipy: stop when ‖r‖ < rtol·‖b‖
        norms = np.array(c["residual_norms"])
        assert norms[-1] < threshold / 1.05 and np.all(norms[:-1] > 1.05 * threshold), c["name"]
    dogleg = stored("second_order")["minimize"]["dogleg"]
    g = np.array([np.linalg.norm(rosenbrock.grad(np.array(x))) for x in dogleg["xs"]])
    gtol = dogleg["options"]["gtol"]  # scipy's trust region: stop when ‖∇f‖ < gtol
    assert g[-1] < gtol / 1.05 and np.all(g[:-1] > 1.05 * gtol)
