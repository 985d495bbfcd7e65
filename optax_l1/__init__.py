"""optax-l1: L1 regularization for Optax.

Coupled (``add_l1_gradient``) and decoupled (``l1_sign_decay``) L1, and the methods
that reach exact zeros (``l1_soft_threshold``, ``l1_cumulative_penalty``,
``group_soft_threshold``), as composable ``optax.GradientTransformation``s; L1 that
works under Adam (``proximal_adam``, ``adam_l1``) and SGD with L1 built in (``sgd_l1``);
the L1 optimizers other frameworks ship (``ftrl``, Keras' FTRL-Proximal, and
``proximal_adagrad``, TensorFlow's); masks that skip biases and norm scales; metrics for
logging the penalty and sparsity; a controller that reaches a target sparsity
(``target_sparsity``), fine-tuning on the support (``freeze_zeros``) and a per-layer
report (``sparsity_report``).
"""

from optax_l1._adagrad import ProximalAdagradState, proximal_adagrad
from optax_l1._adam import ProximalAdamState, adam_l1, proximal_adam
from optax_l1._alias import SgdL1Method, sgd_l1
from optax_l1._coupled import add_l1_gradient
from optax_l1._cumulative import CumulativePenaltyState, l1_cumulative_penalty
from optax_l1._decoupled import l1_sign_decay
from optax_l1._elementwise import ScheduleState
from optax_l1._freeze import freeze_zeros
from optax_l1._ftrl import FtrlState, ftrl
from optax_l1._group import group_soft_threshold
from optax_l1._masks import MaskOrFn, mask_by_name, skip_biases
from optax_l1._metrics import l1_norm, sparsity
from optax_l1._proximal import l1_soft_threshold
from optax_l1._report import LeafSparsity, SparsityReport, sparsity_report
from optax_l1._target import TargetSparsityState, target_sparsity

__version__ = "0.1.0"

__all__ = [
    "CumulativePenaltyState",
    "FtrlState",
    "LeafSparsity",
    "MaskOrFn",
    "ProximalAdagradState",
    "ProximalAdamState",
    "ScheduleState",
    "SgdL1Method",
    "SparsityReport",
    "TargetSparsityState",
    "adam_l1",
    "add_l1_gradient",
    "freeze_zeros",
    "ftrl",
    "group_soft_threshold",
    "l1_cumulative_penalty",
    "l1_norm",
    "l1_sign_decay",
    "l1_soft_threshold",
    "mask_by_name",
    "proximal_adagrad",
    "proximal_adam",
    "sgd_l1",
    "skip_biases",
    "sparsity",
    "sparsity_report",
    "target_sparsity",
]
