"""Instant feedback on exercises: ✔, or ✘ with the case, the first step (or part) that
disagrees, expected against got, and a hint for the likely mistake. An unfinished exercise
raises ``ExerciseNotDone``: one line, no traceback, and Run All stops there.

Each ``check_*`` prints the Report its ``evaluate_*`` twin returns and returns it too, truthy
for ✔ (``assert check_x(fn)`` grades an exercise; a notebook shows the report once). A loop
under check gets a Budget of calls: one that never stops fails with one line, never hangs.
A function that changes its arguments in place fails. ``engine`` holds Report, Case, Budget
and the evaluators; ``steps`` the step rules' check and their usual slips (lessons 01–04);
``lesson01`` … ``lesson07`` (and ``lesson05b``, ``lesson06b``) each lesson's other
exercises, their cases and hints.
"""

from ..data import load_references
from .engine import (
    Budget,
    Case,
    Checked,
    Described,
    LoopNeverEnds,
    Report,
    call_student,
    check_function,
    check_value,
    evaluate_function,
    evaluate_trajectories,
    evaluate_value,
    printing,
)
from .lesson01 import (
    check_floor_design,
    check_gd_contraction,
    check_gd_diagnosis,
    check_gd_limits,
    check_gd_predictions,
    check_minibatch_grad,
    check_minibatch_sampler,
    check_sharpness,
    evaluate_floor_design,
    evaluate_gd_contraction,
    evaluate_gd_diagnosis,
    evaluate_gd_limits,
    evaluate_gd_predictions,
    evaluate_minibatch_grad,
    evaluate_minibatch_sampler,
    evaluate_sharpness,
    gd_mystery_runs,
)
from .lesson02 import (
    check_heavy_ball_tuning,
    check_largest_stable_lr,
    evaluate_heavy_ball_tuning,
    evaluate_largest_stable_lr,
)
from .lesson03 import (
    check_lr_sweep,
    check_torch_convention,
    evaluate_lr_sweep,
    evaluate_torch_convention,
)
from .lesson04 import check_adamw_rest_point, evaluate_adamw_rest_point
from .lesson05 import (
    check_backtracking,
    check_bfgs_update,
    check_kfac_exact_damping,
    check_kfac_precondition,
    check_newton,
    check_update_radius,
    evaluate_backtracking,
    evaluate_bfgs_update,
    evaluate_kfac_exact_damping,
    evaluate_kfac_precondition,
    evaluate_newton,
    evaluate_update_radius,
)
from .lesson05b import (
    check_conjugate_gradient,
    check_fd_hvp,
    check_gauss_newton_vp,
    check_update_damping,
    evaluate_conjugate_gradient,
    evaluate_fd_hvp,
    evaluate_gauss_newton_vp,
    evaluate_update_damping,
)
from .lesson06 import (
    check_dense_tanh_backward,
    check_schedule,
    check_softmax_cross_entropy,
    evaluate_dense_tanh_backward,
    evaluate_schedule,
    evaluate_softmax_cross_entropy,
)
from .lesson06b import check_lr_range_test, evaluate_lr_range_test
from .lesson07 import (
    check_batch_norm_backward,
    check_clip_grad_norm,
    check_init_std,
    evaluate_batch_norm_backward,
    evaluate_clip_grad_norm,
    evaluate_init_std,
)
from .steps import check_step, evaluate_step, problem_from_spec

__all__ = [
    "Budget",
    "Case",
    "Checked",
    "Described",
    "LoopNeverEnds",
    "Report",
    "call_student",
    "check_adamw_rest_point",
    "check_backtracking",
    "check_batch_norm_backward",
    "check_bfgs_update",
    "check_clip_grad_norm",
    "check_conjugate_gradient",
    "check_dense_tanh_backward",
    "check_fd_hvp",
    "check_floor_design",
    "check_function",
    "check_gauss_newton_vp",
    "check_gd_contraction",
    "check_gd_diagnosis",
    "check_gd_limits",
    "check_gd_predictions",
    "check_heavy_ball_tuning",
    "check_init_std",
    "check_kfac_exact_damping",
    "check_kfac_precondition",
    "check_largest_stable_lr",
    "check_lr_range_test",
    "check_lr_sweep",
    "check_minibatch_grad",
    "check_minibatch_sampler",
    "check_newton",
    "check_schedule",
    "check_sharpness",
    "check_softmax_cross_entropy",
    "check_step",
    "check_torch_convention",
    "check_update_damping",
    "check_update_radius",
    "check_value",
    "evaluate_adamw_rest_point",
    "evaluate_backtracking",
    "evaluate_batch_norm_backward",
    "evaluate_bfgs_update",
    "evaluate_clip_grad_norm",
    "evaluate_conjugate_gradient",
    "evaluate_dense_tanh_backward",
    "evaluate_fd_hvp",
    "evaluate_floor_design",
    "evaluate_function",
    "evaluate_gauss_newton_vp",
    "evaluate_gd_contraction",
    "evaluate_gd_diagnosis",
    "evaluate_gd_limits",
    "evaluate_gd_predictions",
    "evaluate_heavy_ball_tuning",
    "evaluate_init_std",
    "evaluate_kfac_exact_damping",
    "evaluate_kfac_precondition",
    "evaluate_largest_stable_lr",
    "evaluate_lr_range_test",
    "evaluate_lr_sweep",
    "evaluate_minibatch_grad",
    "evaluate_minibatch_sampler",
    "evaluate_newton",
    "evaluate_schedule",
    "evaluate_sharpness",
    "evaluate_softmax_cross_entropy",
    "evaluate_step",
    "evaluate_torch_convention",
    "evaluate_trajectories",
    "evaluate_update_damping",
    "evaluate_update_radius",
    "evaluate_value",
    "gd_mystery_runs",
    "load_references",
    "printing",
    "problem_from_spec",
]
