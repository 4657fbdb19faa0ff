"""course_lib's update rules against the stored reference trajectories, to 1e-10 of each
iterate and of its trajectory's scale; the contract every rule keeps."""

import re

import numpy as np
import pytest

from course_lib import optimizers
from course_lib.checks import load_references, problem_from_spec
from course_lib.contract import hyperparameters_of

REFS = load_references("steps")["rules"]


def step_for(rule):
    return optimizers.STEPS[rule.split("_")[0]]


@pytest.mark.parametrize("rule", sorted(REFS))
def test_rule_reproduces_reference_to_1e_10(rule):
    for case in REFS[rule]["cases"]:
        grad = problem_from_spec(case["problem"])
        expected = np.array(case["expected"])
        # an iterate near 0 is rounding noise of the trajectory's scale (as in TOLERANCES)
        atol = 1e-10 * np.abs(expected).max()
        x, state = expected[0].copy(), {}
        for k in range(1, len(expected)):
            x = step_for(rule)(x, grad, state, **case["hyperparameters"])
            np.testing.assert_allclose(
                x, expected[k], rtol=1e-10, atol=atol, err_msg=f"{rule}, {case['name']}, step {k}"
            )


def test_every_rule_has_references():
    assert set(optimizers.STEPS) <= set(REFS)


@pytest.mark.parametrize("name", sorted(optimizers.STEPS))
def test_contract_any_shape_no_mutation_state_in_dict(name):
    step = optimizers.STEPS[name]
    x = np.arange(24, dtype=float).reshape(2, 3, 4) / 10 - 1
    before = x.copy()
    state = {}
    y = step(x, lambda z: 2 * z, state)
    assert isinstance(y, np.ndarray) and y.shape == x.shape and y.dtype == float
    np.testing.assert_array_equal(x, before)
    y2 = step(y, lambda z: 2 * z, state)
    if name != "gd":
        assert state, f"{name} keeps no state"
    # Same inputs, fresh state: the same result (no globals).
    np.testing.assert_array_equal(step(x, lambda z: 2 * z, {}), y)
    assert not np.array_equal(y2, y)


@pytest.mark.parametrize("name", sorted(optimizers.STEPS))
def test_docstring_names_every_hyperparameter_and_the_state_it_keeps(name):
    step = optimizers.STEPS[name]
    doc = step.__doc__
    symbols = {
        "lr": "η",
        "gamma": "γ",
        "rho": "ρ",
        "beta1": "β1",
        "beta2": "β2",
        "eps": "ε",
        "weight_decay": "ω",
        "momentum_decay": "ψ",
    }
    for p in hyperparameters_of(step):
        assert p in doc or symbols[p] in doc, f"{name}: {p} ({symbols.get(p)}) undocumented"
    # What the step keeps between calls, after two steps (NAdam's schedule keeps one more).
    state, x = {}, np.array([1.0, -2.0])
    hp = {"momentum_decay": 0.004} if name == "nadam" else {}
    for _ in range(2):
        x = step(x, lambda z: np.array([0.2, 4.0]) * z, state, **hp)
    if not state:
        assert "State: none" in doc, name
        return
    assert set(state) == state_listed(doc), f"{name} keeps {sorted(state)}; its docstring: {doc}"


def state_listed(doc):
    """The names a docstring's "State: …." lists, whole words, without (comments)."""
    listed = re.sub(r"\([^)]*\)", "", doc.split("State:")[1].split(".")[0])
    return set(re.findall(r"\w+", listed)) - {"and", "when", "scheduled"}


def test_state_names_are_matched_whole():
    # "s" is not listed by "s_max" (a substring match would say it is)
    assert state_listed("State: t, m, s_max (the running max).") == {"t", "m", "s_max"}
    assert state_listed("State: s (mean g²), u (mean Δ²).") == {"s", "u"}
    assert "s" not in state_listed("State: s_max.")
