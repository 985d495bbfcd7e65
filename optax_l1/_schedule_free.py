"""Refusing the one Optax wrapper under which a proximal step lands on the wrong point."""

from __future__ import annotations

import sys
from types import FrameType

_SCHEDULE_FREE = "optax/contrib/_schedule_free.py"


def refuse_inside_schedule_free(owner: str) -> None:
    """Raises ``ValueError`` when called from ``optax.contrib.schedule_free``'s update.

    Schedule-free optimization gives its base optimizer the interpolated point ``y`` as
    ``params`` but adds the base updates to another sequence, ``z``, and returns an
    average of the ``z``: a step computed to land ``y`` on an exact zero lands ``z``
    somewhere else, and the average is not sparse. Nothing in the arguments says so;
    the call stack does (this runs once per trace under ``jit``).
    """
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "update_fn" and code.co_filename.replace("\\", "/").endswith(
            _SCHEDULE_FREE
        ):
            raise ValueError(
                f"{owner} cannot run inside `optax.contrib.schedule_free`: schedule-free "
                "passes its interpolated point as `params` but applies the updates to "
                "another iterate and returns an average, so a proximal step would not land "
                "on its zeros and the result would not be sparse. Use "
                "`optax_l1.add_l1_gradient` (L1 in the gradient) or "
                "`optax_l1.l1_sign_decay` inside schedule-free instead, or train without it."
            )
        frame = frame.f_back
