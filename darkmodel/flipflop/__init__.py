"""Does the instrument flip-flop between discrete states?  The calibrated test.

- ``test``: :func:`~darkmodel.flipflop.test.flipflop_test`, one verdict per group (single
  state, flip-flop, change point, drift) with its p-value, power and reasons.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["test"],
    submod_attrs={
        "test": ["flipflop_test"],
    },
)
