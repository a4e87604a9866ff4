"""Shared fixtures: small simulated archives and the real L1B files."""

from pathlib import Path

import pytest

import darkmodel as dm

REAL_DIR = Path(__file__).resolve().parent / "data" / "real"


def _real_files():
    return sorted(REAL_DIR.glob("*.fits.gz"))


@pytest.fixture(scope="session")
def real_files():
    """The nine real v13 L1B files of orbit 18001 (shipped in tests/data/real)."""
    files = _real_files()
    assert len(files) == 9, f"the nine real IUVS files are missing from {REAL_DIR}"
    return files


@pytest.fixture(scope="session")
def mixed_archive(tmp_path_factory):
    """A small archive in all three L1A layouts with every file oddity switched on often."""
    out = tmp_path_factory.mktemp("mixed")
    truth = dm.simulate_archive(
        out, n_files=48, scenario="flipflop", layout={"v01": 1, "v02": 1, "v13": 1}, random_state=7,
        missing_frame_fraction=0.3, missing_binning_keys_fraction=0.2, bscale_fraction=0.2,
        mcp_on_fraction=0.1, days=20)
    return out, truth
