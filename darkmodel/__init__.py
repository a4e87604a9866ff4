"""darkmodel: scan, calibrate and model the dark rate of the MAVEN IUVS detectors.

The data path is ``read_dark``/``scan`` (FITS files to a summary table), then the
calibration chain, the dark-rate family models and the flip-flop test.  A realistic
simulator (``simulate_archive``) writes L1A dark archives with known ground truth.
"""

import logging
from importlib.metadata import PackageNotFoundError, version

from .calibrate import calibrate
from .filenames import IUVSFilename, parse_filename, select_current
from .flipflop import flipflop_test
from .model import (DarkRateModel, ExtrapolationWarning, ModelFileError, UnfittedIntTimeWarning,
                    UnidentifiedModelError, fit)
from .report import report
from .read import DarkFileError, read_dark
from .scan import ScanResult, deduplicate, find_files, per_file_summary, scan
from .simulate import simulate_archive, simulate_table
from .storage import read_table, write_table

try:
    __version__ = version("darkmodel")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "__version__", "read_dark", "DarkFileError", "scan", "ScanResult", "find_files", "deduplicate",
    "per_file_summary", "simulate_archive", "simulate_table", "parse_filename", "select_current", "IUVSFilename",
    "read_table", "write_table", "calibrate", "fit", "DarkRateModel", "ModelFileError", "UnfittedIntTimeWarning",
    "ExtrapolationWarning", "UnidentifiedModelError",
    "flipflop_test", "report",
]
