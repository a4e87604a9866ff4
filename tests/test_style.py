"""Every public name is documented (numpydoc).  ruff and mypy are steps of their own in CI
(``.ci/run``); the import contracts are checked in tests/test_architecture.py.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_every_public_function_has_a_numpydoc_docstring():
    # ruff's D rules check the form; here: every name the package exports is documented
    code = ("import darkmodel, inspect; missing = [n for n in darkmodel.__all__ if n != '__version__' "
            "and not inspect.getdoc(getattr(darkmodel, n))]; print(missing)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
