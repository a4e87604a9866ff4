"""darkmodel: scan, calibrate and model the dark rate of the MAVEN IUVS detectors.

The subpackages follow the data path: ``io`` (FITS files to a summary table), then
``calibration`` (the standard chain), ``stats`` (the algorithms), ``model`` (the fitted
dark-rate model), ``flipflop`` (the test) and ``reporting``; ``frames`` is the second path
(superdarks and reference files).  ``simulate`` stands beside them: a realistic simulator
of L1A dark archives with known ground truth, which the data path never imports.

The public names are imported on first use (PEP 562), so ``import darkmodel`` and the
command line's ``--help`` do not pay for statistics and plotting they do not use.
"""

import logging

import lazy_loader as _lazy

logging.getLogger(__name__).addHandler(logging.NullHandler())

#: Public name -> the module that defines it.
_PUBLIC = {
    "read_dark": "io.read", "DarkFileError": "io.read",
    "scan": "io.scanning", "ScanResult": "io.scanning", "find_files": "io.scanning", "deduplicate": "io.scanning",
    "per_file_summary": "io.scanning",
    "simulate_archive": "simulate.archive", "simulate_table": "simulate.archive",
    "parse_filename": "io.filenames", "select_current": "io.filenames", "IUVSFilename": "io.filenames",
    "read_table": "io.storage", "write_table": "io.storage",
    "calibrate": "calibration.chain",
    "fit": "model.estimator", "DarkRateModel": "model.estimator", "ModelFileError": "model.estimator",
    "UnfittedIntTimeWarning": "model.estimator",
    "ExtrapolationWarning": "model.estimator", "UnidentifiedModelError": "model.estimator",
    "flipflop_test": "flipflop.test", "FlipFlopResult": "model.verdicts",
    "report": "reporting.report",
    "pipeline_dark": "io.l1b", "compare_with_pipeline": "io.l1b",
    "superdark": "frames.superdark", "Superdark": "frames.superdark",
    "export_reference": "frames.reference_files",
}

#: Submodules reachable as attributes (``dm.pipeline``, ``dm.reporting``, ...), imported on first use.
_SUBMODULES = {"io", "calibration", "stats", "model", "flipflop", "frames", "reporting", "simulate", "pipeline",
               "instrument", "exceptions",
               "validation", "summary", "parallel", "compiled"}

__all__ = ["__version__", *_PUBLIC]

_by_module: dict = {}
for _name, _module in _PUBLIC.items():
    _by_module.setdefault(_module, []).append(_name)
_lazy_getattr, _lazy_dir, _ = _lazy.attach(__name__, submodules=_SUBMODULES, submod_attrs=_by_module)


def __getattr__(name):
    if name == "__version__":  # importlib.metadata costs 0.1 s: only when asked
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("darkmodel")
        except PackageNotFoundError:  # pragma: no cover - a source tree without install
            value = "0+unknown"
        globals()[name] = value
        return value
    try:
        return _lazy_getattr(name)
    except AttributeError:
        raise AttributeError(f"module 'darkmodel' has no attribute {name!r}") from None


def __dir__():
    return sorted(set(globals()) | set(_lazy_dir()))
