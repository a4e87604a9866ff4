"""The fitted dark-rate model: the estimator, its per-group fits, the verdicts it carries, its file.

- ``estimator``: :class:`~darkmodel.model.estimator.DarkRateModel` (scikit-learn's conventions).
- ``group``: one (channel, INT_TIME) group's fitted state and its predictive laws.
- ``views``: the fitted model as tables (groups, families, joint law) and its summary.
- ``verdicts``: :class:`~darkmodel.model.verdicts.FlipFlopResult`, the flip-flop verdicts a
  model is saved with.
- ``fingerprint``: which data and which model a verdict was computed on.
- ``persistence``: the model file (versioned JSON, never a pickle): the document built from a
  model and the model rebuilt from it, outside the estimator.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["estimator", "fingerprint", "group", "persistence", "verdicts", "views"],
    submod_attrs={
        "estimator": ["DarkRateModel", "fit"],
        "verdicts": ["FlipFlopResult"],
        "persistence": ["save_model", "load_model"],
    },
)
