"""The stored reference data regenerates from the real implementations, within the
tolerance that fits each quantity (make_reference.TOLERANCES)."""

import json

import numpy as np
import pytest

import make_reference

MODULES = {"torch": "torch", "adabelief-pytorch": "adabelief_pytorch", "scipy": "scipy"}


def differences(stored, fresh, path="$"):
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
            for d in differences(stored[k], fresh[k], f"{path}.{k}")
        ]
    if isinstance(stored, list) and stored and isinstance(stored[0], (dict, str)):
        if not isinstance(fresh, list) or len(stored) != len(fresh):
            return [f"{path}: lengths differ"]
        return [
            d
            for i, (a, b) in enumerate(zip(stored, fresh))
            for d in differences(a, b, f"{path}[{i}]")
        ]
    if isinstance(stored, (list, int, float)) and not isinstance(stored, bool):
        a, b = np.array(stored, dtype=float), np.array(fresh, dtype=float)
        if a.shape != b.shape:
            return [f"{path}: shape {b.shape}, stored {a.shape}"]
        tol = make_reference.tolerance(path.rsplit(".", 1)[-1].split("[")[0])
        bad = ~np.isclose(b, a, rtol=tol["rtol"], atol=tol["atol"])
        if bad.any():
            i = tuple(int(k) for k in np.unravel_index(np.argmax(bad), a.shape))
            at = f"[{', '.join(map(str, i))}]" if i else ""
            return [
                f"{path}{at}: regenerated {float(b[i])!r}, stored {float(a[i])!r} "
                f"(rtol={tol['rtol']:g}, atol={tol['atol']:g}; {int(bad.sum())} of "
                f"{bad.size} values differ)"
            ]
        return []
    return [] if stored == fresh else [f"{path}: regenerated {fresh!r}, stored {stored!r}"]


@pytest.mark.regenerate
@pytest.mark.parametrize("section", sorted(make_reference.SECTIONS))
def test_stored_references_regenerate(section):
    for name in make_reference.MADE_WITH[section]:
        pytest.importorskip(
            MODULES[name],
            reason=f"regenerating '{section}' needs {name} (pip install -e '.[maintainer]')",
        )
    stored = json.loads((make_reference.DATA / f"references_{section}.json").read_text())
    fresh = json.loads(json.dumps(make_reference.generate(section)))
    found = differences(stored, fresh)
    assert not found, (
        f"references_{section}.json does not regenerate: stored with "
        f"{stored.get('versions')}, regenerated with {fresh['versions']}:\n" + "\n".join(found[:10])
    )


def test_every_file_records_the_versions_that_made_it():
    for section in make_reference.SECTIONS:
        stored = json.loads((make_reference.DATA / f"references_{section}.json").read_text())
        assert set(stored["versions"]) == {"python", "numpy", *make_reference.MADE_WITH[section]}


def test_the_tolerance_rule_tells_a_rounding_change_from_a_real_one():
    base = {
        "versions": {},
        "minimize": {"fun": 2.535309e-15, "nit": 34, "x": [1.0, 1.0]},
        "cases": [{"name": "a", "expected": [[-5.0, -2.0], [-4.6, 1.2]]}],
    }
    rounding = json.loads(json.dumps(base))
    rounding["minimize"].update(fun=2.535306e-15, nit=35, x=[1.0 + 3e-9, 1.0])
    rounding["cases"][0]["expected"][1][0] = -4.6 * (1 + 1e-13)
    assert differences(base, rounding) == []
    for where, value in [("fun", 1e-8), ("nit", 40), ("x", [1.001, 1.0])]:
        wrong = json.loads(json.dumps(base))
        wrong["minimize"][where] = value
        assert [d for d in differences(base, wrong) if f".{where}" in d]
    wrong = json.loads(json.dumps(base))
    wrong["cases"][0]["expected"][1][0] = -4.6 * (1 + 1e-8)
    assert differences(base, wrong)[0].startswith("$.cases[0].expected[1, 0]: regenerated")
    wrong["cases"][0]["name"] = "b"
    assert any("'b'" in d for d in differences(base, wrong))
