"""Diagnostic reports: one self-contained HTML page, or a PDF of the same figures.

- ``report``: :func:`~darkmodel.reporting.report.report`, the answer first, then tables and figures.
- ``figures``: every figure as a matplotlib ``Figure`` (Agg, no pyplot state).
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["figures"],  # "report" is the function (import darkmodel.reporting.report for the module)
    submod_attrs={
        "report": ["report"],
    },
)
