"""course_lib: the small package behind *Optimization for Deep Learning*.

Modules: ``problems`` (test functions with gradients and Hessians), ``optimizers``
(every first-order update rule, one contract), ``runners`` (``train_2d``, ``run``,
``train_minibatch``), ``plots``, ``checks`` (feedback on exercises), ``data`` (the
shipped data sets), ``rates`` (convergence rates, measured and predicted),
``second_order`` (Newton, trust regions, quasi-Newton, K-FAC), ``mlp`` (a numpy
network), ``schedules`` (learning-rate schedules), ``widgets`` (explorers) and
``animation`` (races).
"""
from .problems import (Problem, Quadratic, LeastSquares, quadratic_with_spectrum,
                       course_quadratic, rosenbrock, beale, saddle, himmelblau, double_well,
                       PROBLEMS)
from .runners import (Run, run, train_2d, train_minibatch, StepError, ExerciseNotDone,
                      DivergenceWarning)
from . import optimizers, checks, data, plots
from . import mlp, schedules   # lesson 06: a numpy network and learning-rate schedules
from .plots import plot_contours, show_trace_2d, plot_losses, show_grid
from . import rates   # lesson 02: measured and predicted convergence rates
from . import second_order   # lesson 05: Newton, trust region, quasi-Newton, K-FAC
from .widgets import explore, compare   # live teaching: sliders (ipywidgets)
from .animation import race, make_runs   # live teaching: optimiser races (HTML, GIF)

__version__ = "0.1.0"
