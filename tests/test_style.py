"""The code style is part of the test suite, so CI enforces it: ruff with numpydoc docstrings."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_passes():
    ruff = shutil.which("ruff") or pytest.fail("ruff is part of the test extra: pip install -e '.[test]'")
    result = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_public_function_has_a_numpydoc_docstring():
    # ruff's D rules check the form; here: every name the package exports is documented
    code = ("import darkmodel, inspect; missing = [n for n in darkmodel.__all__ if n != '__version__' "
            "and not inspect.getdoc(getattr(darkmodel, n))]; print(missing)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


STATISTICS = ["stats/noise.py", "stats/intervals.py", "stats/families.py", "stats/joint.py", "model/verdicts.py",
              "calibration/plausibility.py",
              "model/persistence.py", "frames/superdark.py"]


def test_mypy_passes_on_the_statistics_modules():
    pytest.importorskip("mypy")
    files = [str(ROOT / "darkmodel" / name) for name in STATISTICS]
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), *files],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
