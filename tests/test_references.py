"""The stored reference data regenerates identically from the real implementations."""
import importlib.util
import json
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("make_reference", ROOT / "tools" / "make_reference.py")
make_reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_reference)

NEEDS = {"steps": ["torch", "adabelief_pytorch"], "schedules": ["torch"], "sgd": ["torch"],
         "adaptive": ["torch"],
         "second_order": ["scipy"]}


def same(a, b, path="$"):
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys differ"
        for k in a:
            same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and a and not isinstance(a[0], (int, float, list)):
        assert isinstance(b, list) and len(a) == len(b), f"{path}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{path}[{i}]")
    elif isinstance(a, (list, int, float)) and not isinstance(a, bool):
        np.testing.assert_allclose(np.array(a, dtype=float), np.array(b, dtype=float),
                                   rtol=1e-12, atol=1e-300, err_msg=path)
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.mark.parametrize("section", sorted(make_reference.SECTIONS))
def test_stored_references_regenerate(section):
    for module in NEEDS.get(section, ["torch", "scipy"]):
        pytest.importorskip(module, reason=f"regenerating '{section}' needs {module} "
                                           "(pip install -e '.[maintainer]')")
    stored = json.loads((make_reference.DATA / f"references_{section}.json").read_text())
    same(json.loads(json.dumps(make_reference.generate(section))), stored)
