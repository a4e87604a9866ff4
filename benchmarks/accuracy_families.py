"""Accuracy of the family models against the simulator's ground truth, mixreg beside the GMM.

Run:  python benchmarks/accuracy_families.py [--n-files 3000] [--contrast 0.15]

For every (XUV, INT_TIME) group: the number of families found against the number of true
states, the adjusted Rand index of the labels (groups with two states), and the median
relative error of the predicted rate of each true state over the observed temperature range
(5-95 % quantiles).  Prints one table per method and the summary figures.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

import darkmodel as dm
from darkmodel.simulate.archive import dark_current


def evaluate(model, calibrated, truth, contrast, offset=1.29):
    labels = model.assign(calibrated)
    frame = calibrated.reset_index().assign(family=labels.to_numpy())
    frame = frame.merge(truth[["FILENAME", "INTEGRATION", "state"]], on=["FILENAME", "INTEGRATION"])
    rows = []
    for (xuv, it), g in frame.groupby(["XUV", "INT_TIME"]):
        fitted = model.groups_[(xuv, it)]
        if not fitted.fitted:
            continue
        temps = np.linspace(g["DET_TEMP"].quantile(0.05), g["DET_TEMP"].quantile(0.95), 15)
        errors = []
        for state in sorted(g["state"].unique()):
            family = min(int(state), fitted.mixture.k - 1)
            expected = offset / (it / 1000) + dark_current(temps, state, state_contrast=contrast)
            errors.append(np.abs(model.predict(temps, channel=xuv, int_time=it, family=family) / expected - 1))
        rows.append({"XUV": xuv, "INT_TIME": it, "files": fitted.n_files, "rows": fitted.n_rows,
                     "K_found": fitted.mixture.k, "K_true": g["state"].nunique(),
                     "ARI": adjusted_rand_score(g["state"], g["family"]) if g["state"].nunique() > 1 else np.nan,
                     "median_error": float(np.median(np.concatenate(errors))), "_errors": np.concatenate(errors)})
    return pd.DataFrame(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-files", type=int, default=3000)
    parser.add_argument("--contrast", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        truth = dm.simulate_archive(tmp, n_files=args.n_files, scenario="flipflop", random_state=args.seed,
                                    state_contrast=args.contrast)
        calibrated = dm.calibrate(dm.scan(tmp).table)
    print(f"{args.n_files} files, {len(calibrated)} calibrated integrations, state contrast {args.contrast}")
    for method in ("mixreg", "gmm"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = dm.fit(calibrated, method=method)
        table = evaluate(model, calibrated, truth, args.contrast)
        right = (table["K_found"] == table["K_true"]).sum()
        all_errors = np.concatenate(table["_errors"].to_list())
        print(f"\n## {method}")
        print(table.drop(columns="_errors").to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        print(f"K right in {right}/{len(table)} groups; ARI (two-state groups): "
              f"{', '.join(f'{v:.3f}' for v in table['ARI'].dropna())}; median |error| over groups and "
              f"temperatures: {np.median(all_errors):.4f}")
        if method == "mixreg":
            print(model.joint.to_string(index=False))


if __name__ == "__main__":
    main()
