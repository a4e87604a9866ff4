"""A realistic simulator beside the data path (the data path never imports it).

- ``archive``: L1A dark archives written as FITS files, with their ground truth.
- ``scenarios``: the scenarios and noise structures the simulator can draw.
- ``scorecard``: verdicts scored against the simulator's truth.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["archive", "scenarios", "scorecard"],
    submod_attrs={
        "archive": ["simulate_archive", "simulate_table"],
    },
)
