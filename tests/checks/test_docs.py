"""The documentation (user guide, CLI reference from click, API reference with numpydoc, the
executed notebook) builds with every Sphinx warning treated as an error.

A step of its own in CI (``.ci/run``): ``pytest tests/checks/test_docs.py``.
"""

import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_sphinx_builds_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    result = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(DOCS), str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    api = (tmp_path / "api.html").read_text()
    for name in ("DarkRateModel", "flipflop_test", "FlipFlopResult", "pipeline_dark", "superdark"):
        assert name in api
    cli = (tmp_path / "cli.html").read_text()
    assert "compare-l1b" in cli and "--max-file-size" in cli
    assert (tmp_path / "_images" / "dn_per_s_vs_det_temp_all.png").exists()  # the seed's figures travel along
    notebook = (tmp_path / "generated" / "dark_families.html").read_text()  # executed at build time
    assert notebook.count("<img") >= 6 and "FUV: " in notebook and "Traceback" not in notebook
