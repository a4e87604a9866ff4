"""The architecture is checked, not only drawn: layers, the simulator's place, no cycles."""

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "darkmodel"


def test_the_import_contracts_hold():
    # pyproject.toml [tool.importlinter]: the data path's layers import only downwards, nothing
    # on it imports the simulator, the simulator uses only the bottom layers, and no cycles
    lint = shutil.which("lint-imports") or pytest.fail("import-linter is part of the test extra")
    result = subprocess.run([lint, "--no-cache"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and "0 broken" in result.stdout, result.stdout + result.stderr


def test_the_folder_listing_reads_as_the_data_path():
    subpackages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert subpackages == ["calibration", "flipflop", "frames", "io", "model", "reporting", "simulate", "stats"]
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert top == ["__init__", "__main__", "cli", "compiled", "exceptions", "instrument", "parallel", "pipeline",
                   "summary", "validation"]
    for sub in subpackages:  # every subpackage says what it holds, module by module
        doc = ast.get_docstring(ast.parse((PACKAGE / sub / "__init__.py").read_text()))
        modules = {p.stem for p in (PACKAGE / sub).glob("*.py")} - {"__init__"}
        assert doc and all(f"``{m}``" in doc for m in modules), (sub, modules)


def test_the_layer_contract_fails_on_an_upward_import(tmp_path):
    # the check is live: a copy of the package with one upward import breaks the contract
    copy = tmp_path / "darkmodel"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    noise = copy / "stats" / "noise.py"
    noise.write_text(noise.read_text() + "\nfrom ..model import estimator  # noqa: E402\n")
    lint = shutil.which("lint-imports") or pytest.fail("import-linter is part of the test extra")
    env = {"PYTHONPATH": str(tmp_path), "PATH": str(Path(lint).parent)}
    result = subprocess.run([lint, "--no-cache"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode != 0 and "darkmodel.stats.noise -> darkmodel.model.estimator" in result.stdout, \
        result.stdout + result.stderr
