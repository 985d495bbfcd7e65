"""optax-l1: L1 regularization for Optax.

Coupled (``add_l1_gradient``) and decoupled (``l1_sign_decay``) L1 as composable
``optax.GradientTransformation``s, masks that skip biases and norm scales, and metrics
for logging the penalty and the sparsity it reaches.
"""

from optax_l1._coupled import add_l1_gradient
from optax_l1._decoupled import l1_sign_decay
from optax_l1._elementwise import ScheduleState
from optax_l1._masks import mask_by_name, skip_biases
from optax_l1._metrics import l1_norm, sparsity

__version__ = "0.1.0"

__all__ = [
    "ScheduleState",
    "add_l1_gradient",
    "l1_norm",
    "l1_sign_decay",
    "mask_by_name",
    "skip_biases",
    "sparsity",
]
