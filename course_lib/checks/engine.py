"""The engine behind every check: a Report, a Case, the evaluators that call a student's
function and compare what it returns, and ``printing``, which makes a ``check_*`` out of an
``evaluate_*``."""

import functools
import inspect
import os
import sysconfig
import traceback
from dataclasses import dataclass, field

import numpy as np

from ..contract import ExerciseNotDone, StepError, call_step, name_of, not_done

RTOL, ATOL = 1e-7, 1e-10
# course_lib's own files: a report points at the student's line, past these.
PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
TUPLES = {2: "a pair", 3: "a triple"}


@dataclass
class Report:
    """The outcome of a check: truthy when it passed; str() is what the student sees."""

    name: str
    passed: bool
    lines: list = field(default_factory=list)

    def __bool__(self):
        return self.passed

    def __str__(self):
        return "\n".join(self.lines)

    __repr__ = __str__


def fmt(a):
    """A number or array as reports print it: 8 significant digits, a long array elided."""
    return np.array2string(
        np.asarray(a, dtype=float),
        precision=8,
        separator=", ",
        max_line_width=100,
        threshold=12,
        floatmode="maxprec",
    )


def fmt_any(a):
    """Any result as reports print it: arrays with their shape, tuples part by part, else repr."""
    if isinstance(a, (tuple, list)) and len(a) and not np.isscalar(a[0]):
        return "(" + ", ".join(fmt_any(x) for x in a) + ")"
    try:
        arr = np.asarray(a, dtype=float)
    except (TypeError, ValueError):
        return repr(a)
    return fmt(arr) + (f" (shape {arr.shape})" if arr.ndim else "")


# Code that is not the student's: course_lib, the standard library and installed packages
# (an error raised inside numpy is reported at the student's line that called numpy).
NOT_THEIRS = tuple(
    {
        PACKAGE,
        *(os.path.abspath(sysconfig.get_paths()[k]) for k in ("stdlib", "purelib", "platlib")),
    }
)


def _student_line(exc):
    """Where in the student's own code exc was raised (its last frame that is theirs)."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not os.path.abspath(f.filename).startswith(NOT_THEIRS)
        # numpy 1.x dispatches through generated code of this pseudo-file name
        and not f.filename.startswith("<__array_function__")
    ]
    if not frames:
        return ""
    f = frames[-1]
    return f" in {f.name}(), `{f.line}`" if f.line else f" in {f.name}()"


def _raised(name, title, exc):
    return Report(
        name,
        False,
        [f"✘ {name}: case {title} raised {type(exc).__name__}{_student_line(exc)}: {exc}"],
    )


def call_student(fn, name, title, *args, **kwargs):
    """(fn(*args, **kwargs), None), or (None, a ✘ Report) if it raised or returned None;
    NotImplementedError (an unfinished exercise) raises ExerciseNotDone, one line."""
    try:
        with np.errstate(all="ignore"):
            result = fn(*args, **kwargs)
    except NotImplementedError as exc:
        raise not_done(exc, fn) from None
    except Exception as exc:
        return None, _raised(name, title, exc)
    if result is None:
        return None, Report(
            name, False, [f"✘ {name}: case {title} returned None. Did you forget `return`?"]
        )
    return result, None


# --- trajectories: a step function against reference iterates ------------------------------


def _step_hint(got_step, exp_step):
    """A hint from how the student's update relates to the expected one."""
    if np.allclose(got_step, -exp_step, rtol=1e-6, atol=1e-12):
        return "your update has the wrong sign: it moves uphill."
    nz = np.abs(exp_step) > 1e-12
    if nz.any():
        with np.errstate(all="ignore"):
            ratio = got_step[nz] / exp_step[nz]
        if np.all(got_step == 0):
            return "your step does not move x: is the update applied (x − …) and returned?"
        factor = ratio.flat[0]
        # a finite, non-zero factor only: "0 ×" or "inf ×" would describe nothing useful
        if (
            np.isfinite(factor)
            and factor != 0
            and np.allclose(ratio, factor, rtol=1e-6)
            and not np.isclose(factor, 1)
        ):
            return (
                f"your update is {factor:.6g} × the expected one in every coordinate: "
                "a constant factor (η, 1 − β, a bias correction) is off."
            )
    return ""


def evaluate_trajectories(fn, ref, make_problem, diagnose=None, identify=None):
    """Run step function ``fn`` on reference cases and compare every iterate; return a Report.

    ref: {"source": …, "cases": [{"name", "problem", "hyperparameters", "expected", "hint"}]}.
    make_problem(spec) → (grad, extras): the gradient and any keyword arguments the step
    takes from the problem (``hess`` for Newton). diagnose(x, x_new, grad, extras,
    hyperparameters) → a hint for a rule-specific mistake, or "". identify(x0, k, x_new,
    grad, kwargs) → the name of a known slip that reproduces the student's x_k from x_0,
    or "": when it names one, that is the only hint (no generic guesses beside it).
    """
    name = name_of(fn)
    for i, case in enumerate(ref["cases"], 1):
        title = f"{i}/{len(ref['cases'])} ({case['name']})"
        grad, extras = make_problem(case["problem"])
        kwargs = {**extras, **case["hyperparameters"]}
        expected = np.array(case["expected"], dtype=float)
        x, state = expected[0].copy(), {}
        for k in range(1, len(expected)):
            try:
                x_new = call_step(fn, x, grad, state, k, kwargs)
            except ExerciseNotDone:  # already one clean line
                raise
            except StepError as exc:
                return Report(name, False, [f"✘ {name}: case {title}: {exc}"])
            except Exception as exc:  # the student's own bug: say where
                return _raised(name, title, exc)
            if np.allclose(x_new, expected[k], rtol=RTOL, atol=ATOL):
                x = x_new
                continue
            lines = [
                f"✘ {name}: case {title}",
                f"  step {k} is the first that disagrees"
                + (" (the steps before it agree)" if k > 1 else ""),
                f"  expected x_{k} = {fmt(expected[k])}",
                f"  got      x_{k} = {fmt(x_new)}",
            ]
            known = identify(expected[0], k, x_new, grad, kwargs) if identify else ""
            if known:
                return Report(name, False, [*lines, f"  hint: {known}"])
            hints = []
            if np.isnan(x_new).any():
                hints.append("got NaN: a square root of a negative number, or 0/0?")
            else:
                hints.append(_step_hint(x_new - x, expected[k] - x))
                if diagnose is not None:
                    hints.append(diagnose(x, x_new, grad, extras, case["hyperparameters"]))
            if k > 1:
                hints.append(
                    "step 1 was right, so look at what is kept in `state` between calls "
                    "(and that t is incremented once per call), or at what only matters "
                    "from step 2 on (the decay factors β, ρ, γ; the bias corrections)."
                )
            hints.append(case.get("hint", ""))
            lines += [f"  hint: {h}" for h in hints if h]
            return Report(name, False, lines)
    n = sum(len(c["expected"]) - 1 for c in ref["cases"])
    lines = [f"✔ {name}: {len(ref['cases'])} cases, {n} steps agree with {ref['source']}."]
    lines += [f"  · {c['name']}" for c in ref["cases"]]
    return Report(name, True, lines)


# --- functions: one call a Case, compared with its expected result ---------------------------


def _close(got, expected, rtol, atol):
    if isinstance(expected, (tuple, list)) and not np.isscalar(expected[0]):
        return (
            isinstance(got, (tuple, list))
            and len(got) == len(expected)
            and all(_close(g, e, rtol, atol) for g, e in zip(got, expected))
        )
    got = np.asarray(got, dtype=float) if got is not None else None
    return (
        got is not None
        and got.shape == np.shape(expected)
        and np.allclose(got, expected, rtol=rtol, atol=atol)
    )


def _floats(a):
    try:
        return np.asarray(a, dtype=float)
    except (TypeError, ValueError):
        return None


def _fresh(a):
    """A copy of an array argument: a student's function may change it in place."""
    return a.copy() if isinstance(a, np.ndarray) else a


def _and(names):
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


@dataclass
class Case:
    """One call of a function under check: its arguments, the expected result and a hint.

    diagnose(got, expected) → a hint for a likely mistake, or "": called on a wrong result
    that reads as floats (got as a float array). source: where the expected values come
    from, when the report should say (e.g. "finite differences").

    parts: the names of a result's parts, e.g. ("loss", "dlogits"): the result must then be
    a tuple of that length (the exercise says ``return loss, dlogits``), compared part by
    part, and the report names the first wrong part. rtol, atol, diagnose and source may then
    be tuples, one entry a part. Without parts, an expected tuple of arrays is compared
    element by element, and a list is as good as a tuple.
    """

    name: str
    args: tuple
    expected: object
    kwargs: dict = field(default_factory=dict)
    hint: str = ""
    rtol: object = 1e-7
    atol: object = 1e-10
    diagnose: object = None
    parts: tuple = ()
    source: object = ""

    def mismatch(self, got, where):
        """The ✘ lines, the first starting with ``where``, on how got is wrong; [] if it is right."""
        if not self.parts:
            lines = self._differences(got, self.expected, 0)
            return [where, *lines] if lines else []
        if not (isinstance(got, tuple) and len(got) == len(self.parts)):
            kind = TUPLES.get(len(self.parts), "a tuple")
            names = ", ".join(self.parts)
            return [
                f"{where} returned {type(got).__name__}; expected {kind} ({names}).",
                f"  hint: return them as a tuple: `return {names}`"
                + (
                    " (a list is not accepted: the lesson's code unpacks a tuple)."
                    if isinstance(got, list)
                    else "."
                ),
            ]
        for k, (part, got_part, expected_part) in enumerate(zip(self.parts, got, self.expected)):
            lines = self._differences(got_part, expected_part, k)
            if lines:
                right = f" ({_and(self.parts[:k])} {'is' if k == 1 else 'are'} right)" if k else ""
                return [f"{where}: {part} is wrong{right}", *lines]
        return []

    def _differences(self, got, expected, k):
        """Expected against got, and the hints, for part k (or the whole result); [] if close."""
        rtol, atol, diagnose, source = (
            v[k] if isinstance(v, tuple) else v
            for v in (self.rtol, self.atol, self.diagnose, self.source)
        )
        try:
            if _close(got, expected, rtol, atol):
                return []
        except (TypeError, ValueError):
            pass
        label = f"expected ({source})" if source else "expected"
        lines = [f"  {label} {fmt_any(expected)}", f"  {'got'.ljust(len(label))} {fmt_any(got)}"]
        floats = _floats(got)
        if np.ndim(expected) == 0 and floats is not None and floats.size == 1 and floats.ndim:
            # the right number, wrapped: only the wrapping is wrong
            return lines + [
                f"  hint: return one number, not a {type(got).__name__} holding one "
                "(e.g. `return float(value)`)."
            ]
        hints = [diagnose(floats, expected) if diagnose and floats is not None else "", self.hint]
        return lines + [f"  hint: {h}" for h in hints if h]


def evaluate_function(fn, cases, name=None, agree=" agree."):
    """Call ``fn`` on each Case and compare; return a Report (agree: the ✔ line after "N cases")."""
    name = name or name_of(fn)
    for i, case in enumerate(cases, 1):
        title = f"{i}/{len(cases)} ({case.name})"
        args = [_fresh(a) for a in case.args]
        kwargs = {k: _fresh(v) for k, v in case.kwargs.items()}
        got, failed = call_student(fn, name, title, *args, **kwargs)
        if failed is not None:  # it raised or returned None: the case's hint still applies
            failed.lines += [f"  hint: {case.hint}"] if case.hint else []
            return failed
        lines = case.mismatch(got, f"✘ {name}: case {title}")
        if lines:
            return Report(name, False, lines)
    lines = [f"✔ {name}: {len(cases)} cases{agree}"] + [f"  · {c.name}" for c in cases]
    return Report(name, True, lines)


def evaluate_value(name, got, expected, hint="", rtol=1e-6, atol=1e-10):
    """Compare a student's number or array with the expected one; return a Report."""
    return evaluate_function(
        lambda: got, [Case(name, (), expected, hint=hint, rtol=rtol, atol=atol)], name=name
    )


def printing(evaluate):
    """The ``check_*`` twin of ``evaluate``: the same arguments; it prints the Report."""

    @functools.wraps(evaluate)
    def check(*args, **kwargs):
        print(evaluate(*args, **kwargs))

    check.__name__ = check.__qualname__ = evaluate.__name__.replace("evaluate_", "check_", 1)
    check.__doc__ = (
        f"{inspect.cleandoc(evaluate.__doc__)}\n\n"
        f"Prints the Report (✔, or ✘ with a hint) that {evaluate.__name__} returns."
    )
    return check


check_function = printing(evaluate_function)
check_value = printing(evaluate_value)
