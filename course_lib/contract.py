"""The step contract, in one place: what a step function is, how it is called and checked.

Every update rule of the course is a step function (``course_lib.optimizers``)::

    x_new = step(x, grad, state, **hyperparameters)

- ``x``: the current iterate, a float numpy array of any shape (not modified).
- ``grad``: a callable, ``grad(x)`` → ∇f(x) shaped like x (a callable, so that
  Nesterov can take the gradient at a look-ahead point).
- ``state``: a dict the step keeps its buffers and step counter ``t`` in; one per run.
- hyperparameters: keyword arguments with defaults; the numeric ones become
  explorer sliders (``hyperparameters_of``).
- A step that needs more than the gradient declares a keyword parameter named ``f``
  (the objective) or ``hess`` (its Hessian): the runners pass them from the problem
  (``EXTRAS``, ``step_extras``). Lesson 08's matrix-aware rules declare ``param_shapes``
  (where each weight matrix sits in a flat x): passed when the objective has it (``MLP``).

Runners, checks, explorers and races all call a step through ``call_step``, which
turns what a student can get wrong into one clear line: ``ExerciseNotDone`` for an
unfinished exercise, ``StepError`` for a wrong return value or an unknown keyword.
Before a run, ``check_hyperparameters`` holds every hyperparameter to the range its
name documents (``RANGES``, as torch.optim does: a β of 1.5 is refused, not run),
for the course's rules and a student's own step alike; ``InputError`` says which.

What a student sees when… (each line is a test in tests/test_bad_input.py)

- the exercise is unfinished: ``ExerciseNotDone: Exercise 4.1: Adam — not finished yet…``
- the step returns None, a list, ints or the wrong shape: ``StepError: adam() at step 1
  returned …; expected a float numpy array of shape (2,), like x``
- the step does not take ``state`` (``def step(x, grad)``): ``StepError: step(x, grad)
  does not take the step contract's arguments: every step is called as step(x, grad,
  state, **hyperparameters)…``
- the problem's gradient has the wrong shape: ``InputError: broken.grad(x) returned
  shape (3,) at a point x of shape (2,)…`` (diagnosed after the step fails, so a step
  that works pays nothing for it)
- a schedule gives NaN or a negative rate: ``InputError: the schedule gave the learning
  rate nan at t = 3 (update 4)…`` (``scheduled_lr``; the schedules of ``schedules``
  refuse such arguments themselves)
- the step makes NaN from finite input (ε = 0, 0/0): ``StepError: … returned NaN
  although x and its gradient were finite: look for 0/0 …, or ε = 0`` (both runners)
- a hyperparameter is out of range or not a number: ``InputError: adam(): beta1 = 1.5
  is out of range: beta1 is a decay rate β1 in [0, 1).`` (lr < 0 is refused too)
- x0 has the wrong shape or is not finite: ``InputError: x0 has shape (3,), but course
  quadratic takes points of shape (2,) (2 numbers).``
- steps, epochs or batch_size is not a whole number, or f returns an array:
  ``InputError`` naming the argument (``steps must be a whole number ≥ 0; got 1000.0
  (write 1000, or int(1e3))``)
- the run diverges: one ``DivergenceWarning`` with the step, the reason, what the run
  returns and what to try; a gradient that is not finite is named as the problem's,
  not the learning rate's.
"""

import functools
import inspect
import math

import numpy as np

# Parameters the runners fill in from the problem, by name: never hyperparameters.
EXTRAS = ("f", "hess", "param_shapes")
OPTIONAL_EXTRAS = ("param_shapes",)  # passed only by an objective that has it
POSITIONAL = 3  # x, grad, state


class CourseError(Exception):
    """An error meant for a student: IPython shows its message without a traceback."""

    def _render_traceback_(self):
        # IPython calls this instead of printing the traceback, so a student sees one
        # clear line and none of course_lib's internals.
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self}"]


class StepError(CourseError, TypeError):
    """A step function returned something other than a finite array shaped like x."""


class ExerciseNotDone(CourseError, NotImplementedError):
    """A function used here still raises NotImplementedError: its exercise is unfinished."""


class InputError(CourseError, ValueError):
    """An argument is not what the function takes (a shape, a range, a type): says which."""


# What each hyperparameter name stands for: low ≤ value < high, and how to say it.
RANGES = {
    "lr": (0.0, math.inf, "a learning rate η ≥ 0 (a negative one climbs the function)"),
    "eps": (0.0, math.inf, "ε ≥ 0"),
    "gamma": (0.0, 1.0, "a momentum γ in [0, 1)"),
    "rho": (0.0, 1.0, "a decay rate ρ in [0, 1)"),
    "beta1": (0.0, 1.0, "a decay rate β1 in [0, 1)"),
    "beta2": (0.0, 1.0, "a decay rate β2 in [0, 1)"),
    "weight_decay": (0.0, math.inf, "a weight decay λ ≥ 0"),
    "momentum_decay": (0.0, math.inf, "a momentum decay ψ ≥ 0, or None"),
    "beta": (0.0, 1.0, "an interpolation β in [0, 1)"),
    "radius": (0.0, math.inf, "a radius τ ≥ 0"),
}


def check_hyperparameters(step, hyperparameters):
    """Raise InputError for the first hyperparameter that is not a number in its range."""
    for name, value in hyperparameters.items():
        if name not in RANGES or (value is None and name == "momentum_decay"):
            continue
        low, high, meaning = RANGES[name]
        where = f"{name_of(step)}(): {name} = {value!r}"
        try:
            values = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            values = None
        if values is None or isinstance(value, (str, bytes, bool)):
            raise InputError(f"{where} is not a number; {name} is {meaning}.")
        if not np.all((values >= low) & (values < high)):
            raise InputError(f"{where} is out of range: {name} is {meaning}.")


def name_of(fn):
    """The name a message uses for a function (or for a callable object, its class)."""
    return getattr(fn, "__name__", type(fn).__name__)


def _raised_in(exc):
    """The name of the function whose own line raised exc, or None."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    name = tb.tb_frame.f_code.co_name if tb is not None else None
    return name if name and name.isidentifier() else None


def not_done(exc, fn):
    """Turn a NotImplementedError raised by a student's function into ExerciseNotDone,
    naming the unfinished function (the one that raised, e.g. clip_grad_norm() inside a
    step that calls it), not only the function that was called."""
    if isinstance(exc, ExerciseNotDone):  # already said in one line (e.g. by finished)
        return exc
    unfinished = _raised_in(exc) or name_of(fn)
    msg = str(exc) or f"{unfinished}() is not implemented yet"
    via = f" ({name_of(fn)}() calls it)" if unfinished != name_of(fn) else ""
    return ExerciseNotDone(
        f"{msg} — not finished yet: complete {unfinished}() above{via}, "
        "run its cell, then run this cell again."
    )


def finished(fn):
    """fn, calling which an unfinished exercise raises ExerciseNotDone (one line, no traceback)."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NotImplementedError as exc:
            raise not_done(exc, fn) from None

    return call


def keyword_parameters(step):
    """The parameters of a step after x, grad and state (hyperparameters and extras)."""
    return list(inspect.signature(step).parameters.values())[POSITIONAL:]


def hyperparameters_of(step):
    """The numeric hyperparameters of a step function and their defaults, from its signature."""
    out = {}
    for p in keyword_parameters(step):
        if p.name in EXTRAS or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if isinstance(p.default, (bool, int, float)) and p.default is not inspect.Parameter.empty:
            out[p.name] = p.default
    return out


def step_extras(step, objective):
    """What a step asks the objective for by name: ``f``, ``hess``, ``param_shapes``."""
    params = inspect.signature(step).parameters
    return {
        name: getattr(objective, name)
        for name in EXTRAS
        if name in params and (name not in OPTIONAL_EXTRAS or hasattr(objective, name))
    }


def call_step(step, x, grad, state, k, kwargs, gradient="grad"):
    """Call ``step`` once and check what it returns; k is the step number, for messages.

    gradient: what messages call ``grad`` (the runners pass the problem's name).
    """
    try:
        with np.errstate(all="ignore"):
            x_new = step(x.copy(), grad, state, **kwargs)
    except NotImplementedError as exc:
        raise not_done(exc, step) from None
    except np.linalg.LinAlgError as exc:  # e.g. Newton's solve with a singular Hessian
        raise StepError(
            f"{name_of(step)}() at step {k}: numpy.linalg says {exc!s}: the matrix solved with "
            "at this x is singular (a Hessian with a zero eigenvalue?), so the step is "
            "undefined there: start elsewhere, or modify the Hessian "
            "(second_order.modify_hessian)."
        ) from None
    except (TypeError, ValueError) as exc:
        # Diagnosed only after a failure, so a step that works pays nothing for it.
        error = signature_error(step, x, grad, state, kwargs, exc) or gradient_error(
            grad, x, gradient
        )
        if error is None:
            raise
        raise error from None
    try:
        check_return(x_new, x, step, k)
    except StepError as exc:  # a gradient of the wrong shape can broadcast into a wrong x_new
        raise gradient_error(grad, x, gradient) or exc from None
    return x_new


def signature_error(step, x, grad, state, kwargs, exc):
    """The StepError for a step whose signature cannot take the contract's call, or None."""
    try:
        signature = inspect.signature(step)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to say
        return None
    try:
        signature.bind(x, grad, state, **kwargs)
    except TypeError as bad:
        why = str(bad)
    else:
        return None
    name = name_of(step)
    if "unexpected keyword argument" in why:
        accepted = [p.name for p in keyword_parameters(step)]
        return StepError(
            f"{name}() was called with {sorted(kwargs)} but accepts only {accepted}: {exc}"
        )
    if "too many positional" in why or "missing a required argument: 'state'" in why:
        return StepError(
            f"{name}{signature} does not take the step contract's arguments: every step is "
            "called as step(x, grad, state, **hyperparameters), so it takes x, grad and state "
            "(a dict for its buffers, even if it keeps none) before its hyperparameters."
        )
    missing = why.split("'")[1] if "missing a required argument" in why else ""
    if missing:
        return StepError(
            f"{name}() needs {missing}, which was not given: pass it ({missing}=…) or give it "
            f"a default in the signature ({missing}=0.1); a step is called as "
            "step(x, grad, state, **hyperparameters)."
        )
    return StepError(f"{name}{signature} cannot be called as step(x, grad, state, **{kwargs}).")


def gradient_error(grad, x, gradient="grad"):
    """The InputError for a gradient that is not an array shaped like x, or None."""
    try:
        with np.errstate(all="ignore"):
            g = grad(x)
    except Exception:  # the gradient fails on its own: the original error says more
        return None
    if g is not None and np.shape(g) == x.shape:
        return None
    got = "None" if g is None else f"shape {np.shape(g)}"
    return InputError(
        f"{gradient}(x) returned {got} at a point x of shape {x.shape}; a gradient must be "
        f"an array of x's shape {x.shape}."
    )


def check_return(x_new, x, step, k):
    """Raise StepError unless x_new is a float numpy array shaped like x."""
    where = f"{name_of(step)}() at step {k}"
    expected = f"a float numpy array of shape {x.shape}, like x"
    if x_new is None:
        raise StepError(f"{where} returned None; expected {expected}. Did you forget `return`?")
    if not isinstance(x_new, np.ndarray):
        raise StepError(
            f"{where} returned a {type(x_new).__name__}; expected {expected} "
            "(compute with numpy arrays, or wrap the result in np.asarray)."
        )
    if x_new.shape != x.shape:
        raise StepError(f"{where} returned shape {x_new.shape}; expected {expected}.")
    if not np.issubdtype(x_new.dtype, np.floating):
        raise StepError(f"{where} returned dtype {x_new.dtype}; expected {expected}.")


def nan_error(step, k):
    """The StepError for a step that made NaN out of finite x and gradient."""
    return StepError(
        f"{name_of(step)}() at step {k} returned NaN although x and its gradient were "
        "finite: look for 0/0, a square root of a negative number, or ε = 0."
    )


def scheduled_lr(schedule, t):
    """schedule(t), the learning rate of update t + 1, or an InputError naming what it gave."""
    lr = schedule(t)
    try:
        values = None if isinstance(lr, (str, bytes)) else np.asarray(lr, dtype=float)
    except (TypeError, ValueError):
        values = None
    if values is None or not np.all(np.isfinite(values) & (values >= 0)):
        raise InputError(
            f"the schedule gave the learning rate {lr!r} at t = {t} (update {t + 1}); a "
            "schedule must return a finite learning rate η ≥ 0."
        )
    return lr


def normalise(optimizers):
    """(label, step, hyperparameters) triples from a dict or list of optimisers.

    Accepted: a dict ``label → step`` or ``label → (step, hyperparameters)``, or a list
    of steps or of ``(label, step, hyperparameters)``.
    """
    items = optimizers.items() if isinstance(optimizers, dict) else enumerate(optimizers)
    out = []
    for key, item in items:
        if callable(item):
            label, step, hp = (key if isinstance(key, str) else name_of(item)), item, {}
        elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(key, str):
            (step, hp), label = item, key
        elif isinstance(item, (tuple, list)) and len(item) == 3:
            label, step, hp = item
        else:
            raise TypeError(
                f"cannot read optimiser {item!r}: give a step function, "
                "(step, hyperparameters) under a label, or (label, step, hyperparameters)"
            )
        out.append((label, step, dict(hp or {})))
    return out
