"""The standard calibration chain (the seed notebook's): scan rows to DN/s per integration.

- ``chain``: :func:`~darkmodel.calibration.chain.calibrate`, the chain itself (exclusions,
  ``dark_mean``, ``DN_per_s``).
- ``plausibility``: the physical limits a calibrated value must respect.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["chain", "plausibility"],
    submod_attrs={
        "chain": ["calibrate"],
    },
)
