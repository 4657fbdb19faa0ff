"""course_lib: the small package behind *Optimization for Deep Learning*.

Modules: ``problems`` (test functions with gradients and Hessians), ``contract``
(what a step function is, and how it is called and checked), ``optimizers`` (every
first-order update rule under that contract), ``runners`` (``train_2d``, ``run``,
``train_minibatch``, ``make_runs``, and ``tune``: the fairness rule), ``plots``,
``checks`` (feedback on exercises), ``data`` (the shipped data sets and reference
data), ``rates`` (convergence rates, measured and predicted; lesson 02),
``second_order`` (Newton, trust regions, quasi-Newton: lesson 05; K-FAC: lesson 05c),
``hessian_free`` (Hessian-vector products, conjugate gradient, Gauss–Newton,
Levenberg–Marquardt and Hessian-free training; lesson 05b), ``mlp`` (a numpy
network) and ``schedules`` (learning-rate schedules; lesson 06),
``matrix_optimizers`` (Muon, Shampoo, SOAP, Adafactor: rules that see a weight matrix as a
matrix; lesson 08) and ``sharpness`` (SAM and the largest Hessian eigenvalue; lesson 08b),
``widgets`` (explorers), ``explorers`` (the lessons' own explorers) and ``animation``
(races) for live teaching.
"""

from . import (
    checks,
    contract,
    data,
    explorers,
    hessian_free,
    mlp,
    optimizers,
    plots,
    rates,
    schedules,
    second_order,
)
from .animation import race
from .contract import ExerciseNotDone, StepError
from .explorers import explore_gradient_norms, explore_noise_floor, explore_schedules
from .plots import plot_contours, plot_losses, show_grid, show_trace_2d
from .problems import (
    PROBLEMS,
    LeastSquares,
    Problem,
    Quadratic,
    beale,
    course_quadratic,
    double_well,
    himmelblau,
    quadratic_with_spectrum,
    rosenbrock,
    saddle,
)
from .runners import (
    DivergenceWarning,
    Run,
    make_runs,
    run,
    show_tuned,
    train_2d,
    train_minibatch,
    tune,
)
from .widgets import compare, explore, explore_plot

__version__ = "0.1.0"

# What `from course_lib import *` gives a notebook.
__all__ = [
    "PROBLEMS",
    "DivergenceWarning",
    "ExerciseNotDone",
    "LeastSquares",
    "Problem",
    "Quadratic",
    "Run",
    "StepError",
    "beale",
    "checks",
    "compare",
    "contract",
    "course_quadratic",
    "data",
    "double_well",
    "explore",
    "explore_gradient_norms",
    "explore_noise_floor",
    "explore_plot",
    "explore_schedules",
    "explorers",
    "hessian_free",
    "himmelblau",
    "make_runs",
    "mlp",
    "optimizers",
    "plot_contours",
    "plot_losses",
    "plots",
    "quadratic_with_spectrum",
    "race",
    "rates",
    "rosenbrock",
    "run",
    "saddle",
    "schedules",
    "second_order",
    "show_grid",
    "show_trace_2d",
    "show_tuned",
    "train_2d",
    "train_minibatch",
    "tune",
]
