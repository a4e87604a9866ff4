"""darkmodel: scan, calibrate and model the dark rate of the MAVEN IUVS detectors.

The data path is ``read_dark``/``scan`` (FITS files to a summary table), then the
calibration chain, the dark-rate family models and the flip-flop test.  A realistic
simulator (``simulate_archive``) writes L1A dark archives with known ground truth.

The public names are imported on first use (PEP 562), so ``import darkmodel`` and the
command line's ``--help`` do not pay for statistics and plotting they do not use.
"""

import importlib
import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())

#: Public name -> the module that defines it.
_PUBLIC = {
    "read_dark": "read", "DarkFileError": "read",
    "scan": "scanning", "ScanResult": "scanning", "find_files": "scanning", "deduplicate": "scanning",
    "per_file_summary": "scanning",
    "simulate_archive": "simulate", "simulate_table": "simulate",
    "parse_filename": "filenames", "select_current": "filenames", "IUVSFilename": "filenames",
    "read_table": "storage", "write_table": "storage",
    "calibrate": "calibration",
    "fit": "model", "DarkRateModel": "model", "ModelFileError": "model", "UnfittedIntTimeWarning": "model",
    "ExtrapolationWarning": "model", "UnidentifiedModelError": "model",
    "flipflop_test": "flipflop", "FlipFlopResult": "flipflop_result",
    "report": "reporting",
    "pipeline_dark": "l1b", "compare_with_pipeline": "l1b",
    "superdark": "frames", "Superdark": "frames", "export_reference": "reference_files",
}

#: Submodules reachable as attributes (``dm.pipeline``, ``dm.reporting``, ...), imported on first use.
_SUBMODULES = {"pipeline", "reporting", "scanning", "calibration", "model", "flipflop", "frames", "reference_files",
               "simulate", "storage", "l1b", "read", "scorecard", "tables", "arguments", "fingerprint",
               "identification", "noise", "families", "states", "epochs", "temperature", "perfile", "scenarios"}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name):
    if name == "__version__":  # importlib.metadata costs 0.1 s: only when asked
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("darkmodel")
        except PackageNotFoundError:  # pragma: no cover - a source tree without install
            value = "0+unknown"
        globals()[name] = value
        return value
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:  # dm.pipeline.run_chain, as the README writes it, without an import first
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'darkmodel' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC) | _SUBMODULES)
