"""Refresh ``models/darkrate.json``, the example model shipped with darkmodel.

The only way the shipped model changes: ``darkmodel demo`` writes into its own output
folder and never here.  Run from anywhere:

    python models/refresh_shipped_model.py

It simulates the demo archive (scenario ``flipflop``, seed 0, 600 files) in a temporary
folder, runs the demo's chain (scan, calibrate, fit, flip-flop test) and saves the model
with provenance that names the summary file and its hash, not this machine's folders.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import darkmodel as dm

HERE = Path(__file__).resolve().parent


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "darkmodel.cli", "-q", "demo", "--outdir", tmp, "--seed", "0",
                        "--n-files", "600", "--scenario", "flipflop"], check=True, stdout=subprocess.DEVNULL)
        model = dm.DarkRateModel.load(Path(tmp) / "darkrate.json")
    model.save(HERE / "darkrate.json")
    print(f"wrote {HERE / 'darkrate.json'}")


if __name__ == "__main__":
    main()
