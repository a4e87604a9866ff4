"""The seed analysis as a notebook runs from top to bottom and ends with the answer.

A step of its own in CI (``.ci/run``): ``pytest tests/checks/test_notebook.py``.
"""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "dark_families.ipynb"


def test_notebook_executes(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(str(o.get("data", {}).get("text/plain", "")) + o.get("text", "") for o in outputs)
    assert "Do we have some flip-flopping state" in text
    assert "flip-flop" in text.split("verdicts:")[1].splitlines()[0]  # the archive switches: the answer says so
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 6  # the seed's views (both channels) are shown, not only made
    last = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []))
    assert last.startswith("FUV: ") and "\nMUV: " in last  # it ends with the answer, per channel
    assert "'right'" in text and "outcome" in text  # scored against the simulator's truth
    assert "compare" not in text or "within_rounding" in text  # the real files' pipeline dark, rebuilt
