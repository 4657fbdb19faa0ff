"""Set up the course in ./.venv, then open it or test it. Needs only Python ≥ 3.10.

    python3 tools/dev.py lab             # set up, then open the exercises in JupyterLab
    python3 tools/dev.py test            # set up, then run every test (unit tests, lint,
                                         # solutions through nbval, exercises, a real browser,
                                         # a Colab-like environment, reference regeneration)
    python3 tools/dev.py test --quick    # unit tests, checks and lint only (< 60 s): for the
                                         # edit-test loop; no notebook, browser, Colab or torch

Options: --no-torch skips torch and the AdaBelief package (the tests that
regenerate the reference data are then skipped, with the reason). Anything
after ``--`` goes to pytest or JupyterLab. Set-up is skipped when .venv is
already installed from the same pyproject.toml.
"""

import hashlib
import os
import pathlib
import subprocess
import sys
import venv

ROOT = pathlib.Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
QUICK = "not (notebook or browser or colab or regenerate)"  # test --quick leaves these out


def sh(*cmd):
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def set_up(extras):
    if sys.version_info < (3, 10):  # noqa: UP036 (this script may be started by an older python3)
        sys.exit(f"Python ≥ 3.10 is needed; this is {sys.version.split()[0]}.")
    spec = f".[{','.join(extras)}]"
    stamp = VENV / ".course-installed"
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + spec.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == key and PYTHON.exists():
        return
    if not PYTHON.exists():
        print(f"+ creating {VENV.relative_to(ROOT)}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    sh(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    sh(PYTHON, "-m", "pip", "install", "--quiet", "-e", spec)
    stamp.write_text(key)


def main(argv):
    if not argv or argv[0] not in ("lab", "test"):
        sys.exit(__doc__)
    command, rest = argv[0], argv[1:]
    passthrough = rest[rest.index("--") + 1 :] if "--" in rest else []
    options = rest[: rest.index("--")] if "--" in rest else rest
    if command == "lab":
        set_up(["lab"])
        os.execv(
            PYTHON, [str(PYTHON), "-m", "jupyter", "lab", str(ROOT / "notebooks"), *passthrough]
        )
    unknown = set(options) - {"--no-torch", "--quick"}
    if unknown:
        sys.exit(f"unknown option(s) {sorted(unknown)}\n\n{__doc__}")
    extras = ["lab", "test"] + ([] if "--no-torch" in options else ["maintainer"])
    set_up(extras)
    if "--quick" in options:
        # The markers are declared in pyproject.toml; nbval's notebooks live in solutions/.
        selection = ["tests", "-m", QUICK]
    else:
        selection = []
        # The real-browser test needs Debian's chromium: installed when root and missing,
        # otherwise the script says why and that test is skipped with the reason.
        if os.name != "nt":
            subprocess.run(["bash", str(ROOT / "tools" / "install_browser.sh")], cwd=ROOT)
    # MPLBACKEND: tests draw figures without a screen; notebooks use the inline backend anyway.
    env = {**os.environ, "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [str(PYTHON), "-m", "pytest", *selection, *passthrough], cwd=ROOT, env=env
    )
    sys.exit(result.returncode)


if __name__ == "__main__":
    main(sys.argv[1:])
