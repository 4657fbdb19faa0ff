"""The engine behind every check: a Report, a Case, a Budget that stops a student's loop
that never ends, the evaluators that call a student's function and compare what it returns
(and that it left its arguments as they were), and ``printing``, which makes a ``check_*``
out of an ``evaluate_*``."""

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


class Checked(Report):
    """A Report that a ``check_*`` has printed already: a program can test it (truthy ✔,
    falsy ✘), and IPython does not show it a second time when it ends a cell."""

    def _ipython_display_(self):
        """Show nothing: the report was printed when the check ran."""

    def __repr__(self):
        return f"<{'✔' if self.passed else '✘'} {self.name}: the report printed above>"


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


class LoopNeverEnds(BaseException):
    """A student's loop called a Budget far more often than a right answer needs. (Not an
    Exception: a student's ``except Exception`` must not swallow it and go on looping.)"""

    def __init__(self, budget):
        super().__init__(f"{budget.name}() was called {budget.limit} times")
        self.budget = budget

    def _render_traceback_(self):  # if it ever reaches IPython: one line
        return [f"LoopNeverEnds: {self}"]


class Budget:
    """A callable handed to a student's loop (f, hvp, stable, a step), counting its calls.
    Past ``limit`` calls it raises LoopNeverEnds, and the check fails with one ✘ line and
    ``advice`` instead of hanging the notebook. ``queries`` keeps the first argument of each
    call, for a check that wants to say what the loop asked."""

    def __init__(self, fn, name, limit=200, advice=""):
        self.fn, self.name, self.limit, self.advice = fn, name, limit, advice
        self.calls, self.queries = 0, []

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls > self.limit:
            raise LoopNeverEnds(self)
        if args and len(self.queries) < self.limit:
            self.queries.append(args[0])
        return self.fn(*args, **kwargs)

    def fresh(self):
        """The same budget, its count back at zero (each run of a check starts anew)."""
        return Budget(self.fn, self.name, self.limit, self.advice)


def did_not_stop(name, title, exc):
    """The ✘ Report of a loop stopped by its Budget."""
    budget = exc.budget
    lines = [
        f"✘ {name}: case {title} did not stop: it called {budget.name}() {budget.limit} "
        "times, far more than the answer needs, and the check stopped it."
    ]
    return Report(name, False, lines + ([f"  hint: {budget.advice}"] if budget.advice else []))


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
    except LoopNeverEnds as exc:
        return None, did_not_stop(name, title, exc)
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


INPLACE_STEP = (
    "return a new array and leave x as it is: x_new = x - lr * g, not x -= lr * g (or "
    "x[...] = …), which writes into the caller's x. The runners keep every iterate, and "
    "Nesterov's look-ahead and a line search try steps from the same x."
)
HIDDEN_STATE = (
    "your step keeps something between calls outside `state` (a global variable, a "
    "function attribute, a mutable default argument): from the same x and an empty state "
    "it gave two different results. Keep every buffer in the `state` dict it is given: "
    "each run passes its own, empty at the start."
)


def _watched(fn, seen):
    """fn as a step, recording what it returned and whether it changed the x it was given."""

    def step(x, grad, state, **kwargs):
        before = x.copy()
        seen["returned"] = None
        seen["returned"] = fn(x, grad, state, **kwargs)
        seen["changed_x"] = not np.array_equal(x, before, equal_nan=True)
        return seen["returned"]

    step.__name__ = step.__qualname__ = name_of(fn)
    step.__wrapped__ = fn  # inspect.signature reads fn's parameters
    return step


def _first_step(fn, x0, grad, kwargs):
    """x_1 of fn from x0 and an empty state, or the exception's type name if it raised."""
    try:
        with np.errstate(all="ignore"):
            return np.array(fn(x0.copy(), grad, {}, **kwargs), dtype=float)
    except (KeyboardInterrupt, NotImplementedError):
        raise
    except BaseException as exc:
        return type(exc).__name__


def _same(a, b):
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-12, atol=0, equal_nan=True)


def _hidden_state(fn, first, x0, grad, kwargs):
    """Whether fn keeps state outside `state`: two runs from x0 and an empty state differ,
    or the first case, which agreed before, now starts elsewhere. first: (x0, grad, kwargs,
    x_1) of the first case, once it has agreed."""
    if not _same(_first_step(fn, x0, grad, kwargs), _first_step(fn, x0, grad, kwargs)):
        return True
    if first is None:
        return False
    x1 = _first_step(fn, *first[:3])
    return isinstance(x1, str) or not np.allclose(x1, first[3], rtol=RTOL, atol=ATOL)


def _shape_hint(returned, x):
    if isinstance(returned, np.ndarray) and returned.shape != x.shape:
        return (
            f"x has shape {x.shape} in this case: the update must work for an x of any shape. "
            "Write it on whole arrays (x - lr * grad(x)), not coordinate by coordinate "
            "(x[0], x[1])."
        )
    return ""


def _runs(ref, make_problem):
    """(x0, steps, grad, kwargs) of every reference case."""
    runs = []
    for case in ref["cases"]:
        grad, extras = make_problem(case["problem"])
        expected = np.array(case["expected"], dtype=float)
        runs.append((expected[0], len(expected) - 1, grad, {**extras, **case["hyperparameters"]}))
    return runs


def evaluate_trajectories(fn, ref, make_problem, diagnose=None, identify=None):
    """Run step function ``fn`` on reference cases and compare every iterate; return a Report.

    ref: {"source": …, "cases": [{"name", "problem", "hyperparameters", "expected", "hint"}]}.
    make_problem(spec) → (grad, extras): the gradient and any keyword arguments the step
    takes from the problem (``hess`` for Newton). diagnose(x, x_new, grad, extras,
    hyperparameters) → a hint for a rule-specific mistake, or "". identify(fn, runs, i, k,
    x_new) → the name of a known slip that reproduces the student's runs (runs: (x0, steps,
    grad, kwargs) of every case; the student's x_k of case i, from 0, was x_new), or "":
    when it names one, that is the only hint (no generic guesses beside it). A step that
    changes the x it is given, or keeps state outside ``state``, fails with a hint saying so.
    """
    name, seen, first = name_of(fn), {}, None
    step = _watched(fn, seen)
    for i, case in enumerate(ref["cases"], 1):
        title = f"{i}/{len(ref['cases'])} ({case['name']})"
        grad, extras = make_problem(case["problem"])
        kwargs = {**extras, **case["hyperparameters"]}
        expected = np.array(case["expected"], dtype=float)
        x, state = expected[0].copy(), {}
        for k in range(1, len(expected)):
            try:
                x_new = call_step(step, x, grad, state, k, kwargs)
            except ExerciseNotDone:  # already one clean line
                raise
            except Exception as exc:
                if isinstance(exc, StepError):
                    report = Report(name, False, [f"✘ {name}: case {title}: {exc}"])
                    hint = _shape_hint(seen.get("returned"), x)
                else:  # the student's own bug: say where
                    report, hint = _raised(name, title, exc), ""
                if k == 1 and _hidden_state(fn, first, expected[0], grad, kwargs):
                    hint = HIDDEN_STATE
                report.lines += [f"  hint: {hint}"] if hint else []
                return report
            agree = np.allclose(x_new, expected[k], rtol=RTOL, atol=ATOL)
            if agree and not seen["changed_x"]:
                x = x_new
                if i == 1 and k == 1:
                    first = (expected[0], grad, kwargs, expected[1])
                continue
            lines = [
                f"✘ {name}: case {title}",
                f"  step {k} is the first that disagrees"
                + (" (the steps before it agree)" if k > 1 else ""),
                f"  expected x_{k} = {fmt(expected[k])}",
                f"  got      x_{k} = {fmt(x_new)}",
            ]
            if agree:  # the right x_k, but the caller's x was changed
                lines[1:] = [f"  step {k} returned the right x_{k} but changed the x it was given"]
                return Report(name, False, [*lines, f"  hint: {INPLACE_STEP}"])
            if k == 1 and _hidden_state(fn, first, expected[0], grad, kwargs):
                return Report(name, False, [*lines, f"  hint: {HIDDEN_STATE}"])
            known = identify(fn, _runs(ref, make_problem), i - 1, k, x_new) if identify else ""
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


class Described:
    """What a wrapper around a student's function returns in place of a part it cannot
    compare (a single array where a list of arrays belongs, say): reports print
    ``description`` as the value got, and ``hint``."""

    def __init__(self, description, hint=""):
        self.description, self.hint = description, hint

    def __repr__(self):
        return self.description


def _floats(a):
    try:
        return np.asarray(a, dtype=float)
    except (TypeError, ValueError):
        return None


def _fresh(a):
    """A copy of an argument a student's function could change: an array, a list or tuple of
    them, a Budget (its count back at zero). Anything else is passed as it is."""
    if isinstance(a, np.ndarray):
        return a.copy()
    if isinstance(a, (list, tuple)) and any(isinstance(x, np.ndarray) for x in a):
        return type(a)(_fresh(x) for x in a)
    if isinstance(a, Budget):
        return a.fresh()
    return a


def _changed(original, passed):
    """Whether a student's function changed ``passed``, the copy of ``original`` it was given."""
    if isinstance(original, np.ndarray):
        return passed.shape != original.shape or not np.array_equal(
            passed, original, equal_nan=True
        )
    if isinstance(original, (list, tuple)) and any(isinstance(x, np.ndarray) for x in original):
        return len(passed) != len(original) or any(
            not isinstance(p, np.ndarray) or _changed(o, p) for o, p in zip(original, passed)
        )
    return False


def _argument_names(fn, n):
    """The names of fn's first n positional parameters (or "argument 1", …)."""
    try:
        params = [
            p.name
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"argument {i + 1}" for i in range(n)]


INPLACE = (
    "leave the arguments as they were and return new arrays: `x -= …`, `v /= …`, `g *= …` "
    "or `a[i] = …` write into the caller's array (and `r = b` is not a copy: `r -= …` then "
    "changes b). Compute into a new name (x_new = x - …, v = v0 / np.linalg.norm(v0)) or "
    "copy first (r = b.copy())."
)


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

    on_error(report) → a hint for a call that raised, returned None or did not stop (the
    ✘ report so far), or "". A function that changes an array argument fails, with
    inplace_hint (or a general hint): every exercise returns new arrays.
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
    on_error: object = lambda report: ""
    inplace_hint: str = ""

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
        if isinstance(got, Described):
            hints[0] = got.hint
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
            hints = [case.on_error(failed), case.hint]
            if failed.lines[0].startswith(f"✘ {name}: case {title} did not stop"):
                hints = [case.on_error(failed)]  # the budget's advice is already there
            failed.lines += [f"  hint: {h}" for h in hints if h]
            return failed
        lines = case.mismatch(got, f"✘ {name}: case {title}")
        if lines:
            return Report(name, False, lines)
        names = _argument_names(fn, len(args))
        changed = [n for n, a, b in zip(names, case.args, args) if _changed(a, b)]
        changed += [k for k in case.kwargs if _changed(case.kwargs[k], kwargs[k])]
        if changed:
            which = " and ".join(f"`{n}`" for n in changed)
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {title}: the result is right, but {name}() changed "
                    f"its argument {which} in place",
                    f"  hint: {case.inplace_hint or INPLACE}",
                ],
            )
    lines = [f"✔ {name}: {len(cases)} cases{agree}"] + [f"  · {c.name}" for c in cases]
    return Report(name, True, lines)


def evaluate_value(name, got, expected, hint="", rtol=1e-6, atol=1e-10):
    """Compare a student's number or array with the expected one; return a Report."""
    return evaluate_function(
        lambda: got, [Case(name, (), expected, hint=hint, rtol=rtol, atol=atol)], name=name
    )


def evaluate_letters(name, diagnosis, broken, tells, example, solved):
    """Compare a diagnosis {slip: letter} with ``broken`` {letter: slip} (runs A, B, C, …).

    tells: {slip: the hint for a slip put on the wrong run}; example: a slip to show in the
    hint for a malformed answer; solved: the sentence after the ✔ line's pairs.
    """
    slips = tuple(tells)
    keys = ", ".join(f'"{s}"' for s in slips)
    if not isinstance(diagnosis, dict) or set(diagnosis) != set(slips):
        got = sorted(diagnosis) if isinstance(diagnosis, dict) else type(diagnosis).__name__
        return Report(
            name,
            False,
            [
                f"✘ {name}: expected a dict with the keys {keys}; got {got}.",
                f'  hint: one letter for each slip, e.g. {{"{example}": "A", …}}.',
            ],
        )
    letters = {str(v).strip().upper() for v in diagnosis.values()}
    if letters != set(broken):
        return Report(
            name,
            False,
            [
                f"✘ {name}: each of A, B and C has exactly one of the three slips; got "
                + ", ".join(f"{k} → {v!r}" for k, v in diagnosis.items())
                + ".",
                "  hint: give every slip a different letter.",
            ],
        )
    truth = {slip: letter for letter, slip in broken.items()}
    wrong = [s for s in slips if str(diagnosis[s]).strip().upper() != truth[s]]
    if not wrong:
        pairs = ", ".join(f"{truth[s]} is {s}" for s in sorted(slips, key=truth.get))
        return Report(name, True, [f"✔ {name}: {pairs}. {solved}"])
    lines = [
        f"✘ {name}: {len(wrong)} of the 3 slips {'is' if len(wrong) == 1 else 'are'} on the "
        "wrong run"
    ]
    for s in wrong:
        lines += [f"  {s}: you said {diagnosis[s]!r}", f"  hint: {tells[s]}"]
    return Report(name, False, lines)


def printing(evaluate):
    """The ``check_*`` twin of ``evaluate``: the same arguments; it prints the Report and
    returns it (truthy ✔, falsy ✘: ``assert check_x(fn)`` works in a grader), as a Checked
    that a notebook does not display a second time."""

    @functools.wraps(evaluate)
    def check(*args, **kwargs):
        report = evaluate(*args, **kwargs)
        print(report)
        return Checked(report.name, report.passed, report.lines)

    check.__name__ = check.__qualname__ = evaluate.__name__.replace("evaluate_", "check_", 1)
    check.__doc__ = (
        f"{inspect.cleandoc(evaluate.__doc__)}\n\n"
        f"Prints the Report (✔, or ✘ with a hint) that {evaluate.__name__} returns, and "
        "returns it: truthy when the check passed."
    )
    return check


check_function = printing(evaluate_function)
check_value = printing(evaluate_value)
