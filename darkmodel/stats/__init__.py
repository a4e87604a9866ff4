"""The statistics of dark rate: algorithms on arrays, no files and no estimator state.

- ``perfile``: calibrated rows to one value per file (the unit the models see).
- ``noise``: the noise model (Student-t core, particle excess, rounding).
- ``mixture``: mixtures of parallel regressions in log dark current and their EM.
- ``em_compiled``: the EM's compiled kernel (numba), equal to the NumPy reference.
- ``bootstrap``: the parametric bootstrap of the family tests (sequential stop).
- ``families``: how many families: bootstrap tests, separation, sizes, and the reasons.
- ``gmm``: the baseline, scikit-learn's Gaussian mixture chosen by BIC.
- ``epochs``: a change point between families in time.
- ``joint``: the joint offset law across integration times.
- ``states``: the two-state Markov view of a family sequence (dwell times).
- ``intervals``: predictive intervals and their recalibration.
- ``identification``: whether the data identify an estimate, and how to show it if not.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=[
        "bootstrap",
        "em_compiled",
        "epochs",
        "families",
        "gmm",
        "identification",
        "intervals",
        "joint",
        "mixture",
        "noise",
        "perfile",
        "states",
    ],
)
