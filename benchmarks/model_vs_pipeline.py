"""The IUVS pipeline's dark against its own rule and against a model, on the real L1B files.

For every real file in ``tests/data``: the reproduced pipeline dark against the file's
``background_dark`` (max |difference|), the scatter of the dark frames the pipeline never
uses, and the model's rate against the pipeline dark's (DN/s per pixel).  Writes
``benchmarks/model_vs_pipeline.csv`` and a figure ``benchmarks/model_vs_pipeline.png``:
the frame means of the two dark products of the 151-light file (frame 1, the only one the
pipeline uses after the first light, marked) and the pipeline dark per light integration
with the model's prediction.

    python benchmarks/model_vs_pipeline.py [--model models/darkrate.json]
"""

import argparse
import warnings
from pathlib import Path

import fitsio
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import darkmodel as dm
from darkmodel.io.l1b import compare_with_pipeline

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "darkrate.json"))
    args = parser.parse_args()
    model = dm.DarkRateModel.load(args.model)
    files = sorted((ROOT / "tests" / "data").rglob("*.fits.gz"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dm.UnfittedIntTimeWarning)
        warnings.simplefilter("ignore", dm.ExtrapolationWarning)
        rows = [compare_with_pipeline(f, model) for f in files]
    table = pd.DataFrame(rows)
    table.to_csv(HERE / "model_vs_pipeline.csv", index=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))

    lights = next((ROOT / "tests" / "data" / "real-lights").glob("*.fits.gz"))
    frames = fitsio.read(str(lights), ext="detector_dark").astype(float)
    header = fitsio.read_header(str(lights), ext=0)
    npix_t = float(header["SPE_SIZE"]) * float(header["SPA_SIZE"]) * float(header["INT_TIME"])
    means = frames.reshape(len(frames), -1).mean(axis=1) / npix_t
    ours = dm.pipeline_dark(lights).reshape(-1, frames[0].size).mean(axis=1) / npix_t
    temps = fitsio.read(str(lights), ext="Integration", columns=["DET_TEMP_C"])["DET_TEMP_C"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dm.UnfittedIntTimeWarning)
        predicted = model.predict(temps, channel=str(header["XUV"]).strip(), int_time=round(header["INT_TIME"] * 1000))
    fig = Figure(figsize=(11, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    per = len(means) // 2
    for i, (label, colour) in enumerate((("before the lights", "#0072B2"), ("after the lights", "#D55E00"))):
        part = means[i * per:(i + 1) * per]
        left.plot(range(per), part, "o-", color=colour, label=f"dark product {label}")
        left.plot([1], [part[1]], "s", ms=11, mfc="none", color=colour)
    left.set_xticks(range(per))
    left.set_xlabel("dark frame in the product (frame 1: the one the pipeline uses)")
    left.set_ylabel("frame mean (DN/s per pixel)")
    left.set_title("The pipeline uses frames 0 and 1 only", fontsize=10)
    left.legend(fontsize=8)
    right.plot(ours, color="#0072B2", label="pipeline dark (reproduced), frame mean")
    right.plot(predicted, color="#D55E00", label="model prediction at DET_TEMP (joint law, 400 ms not fitted)")
    right.set_xlabel("light integration")
    right.set_ylabel("DN/s per pixel")
    right.set_title(f"{lights.name[:40]}...", fontsize=9)
    right.legend(fontsize=8)
    FigureCanvasAgg(fig)
    fig.savefig(HERE / "model_vs_pipeline.png", dpi=90)


if __name__ == "__main__":
    main()
