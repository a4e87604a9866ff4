"""The statistics judged across noise structures and scenarios they were not built from.

Run:  python benchmarks/stress_matrix.py [--n-files 3000] [--seeds 1] [--n-boot 99] [--jobs 2]
                                          [--power] [--out stress.csv]

For every noise structure (``darkmodel.simulate.archive.NOISE_STRUCTURES``: additive, proportional,
mixed, heavy-tailed, temperature error, one-sided particle excess, and the regimes where the
recorded temperature's rounding or particle hits dominate) and scenario (stable,
flip-flop, change-point, confounded, drift), a calibrated table is drawn with
``simulate_table``, the model is fitted and the flip-flop test run (alpha 0.05).  Per
group, against the simulator's truth:

* family count right (groups with >= 100 files), ARI of the labels in switching groups,
  beside the ARI of an oracle that knows the simulator's switching law (forward-backward
  with the true dwell time and the fitted families): the best the data allow;
* median |prediction / truth - 1| of the expected DN/s at each integration's temperature
  and time (family = the true state where the family count is right);
* coverage of the 95 % prediction interval per temperature third of the group;
* the verdict against the true history (confusion matrix), the false flip-flop rate with
  its Wilson interval.

``--power`` adds flip-flop groups at 5, 10 and 17 % contrast (mixed noise): the share
detected.  Prints the tables in Markdown (the README's figures come from here).
"""

from __future__ import annotations

import argparse
import inspect
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score
from statsmodels.stats.proportion import proportion_confint

import darkmodel as dm
from darkmodel.model.estimator import _days
from darkmodel.simulate.archive import NOISE_STRUCTURES, simulate_table
from darkmodel.stats.perfile import file_summaries
from darkmodel.stats.states import forward_backward

#: The simulator's mean time between switches (hours), which the oracle knows.
TRUE_DWELL_HOURS = inspect.signature(simulate_table).parameters["mean_dwell_hours"].default

SCENARIOS = ("stable", "flipflop", "changepoint", "confounded", "drift")
FLIP = (("MUV", 4200), ("FUV", 14400))
CONFOUND = (("MUV", 14400),)


def true_verdict(scenario: str, key) -> str:
    if scenario == "flipflop":
        return "flip-flop" if key in FLIP else "single-state"
    if scenario == "changepoint":
        return "change-point"
    if scenario == "confounded":
        return "confounded" if key in CONFOUND else "single-state"
    if scenario == "drift":
        return "drift"
    return "single-state"


def oracle_labels(rows, mixture) -> pd.Series:
    """Per-file labels by forward-backward under the simulator's own two-state switching law.

    The emission is the fitted mixture's; the transitions are the truth (a switch between
    files ``dt`` hours apart with probability ``1 - exp(-dt / TRUE_DWELL_HOURS)``), which no
    fit knows.  Its ARI is the ceiling the data put on any labelling.
    """
    files = file_summaries(rows, mixture.offset)
    emission = mixture.log_density(files["T"], files["y"], files["n"], _days(files, mixture))
    hours = _days(files) * 24.0
    switch = 1.0 - np.exp(-np.diff(hours) / TRUE_DWELL_HOURS)
    stay, move = np.log1p(-switch + 1e-300), np.log(switch + 1e-300)
    trans = np.stack([np.stack([stay, move], -1), np.stack([move, stay], -1)], 1)   # (n-1, from, to)
    posterior, _ = forward_backward(emission, trans, np.log([0.5, 0.5]))
    return pd.Series(posterior.argmax(axis=1), index=files["FILENAME"].to_numpy())


def evaluate(table, truth, model, verdicts, scenario, noise):
    frame = table.reset_index().assign(state=truth["state"].to_numpy(), true=truth["DN_per_s_true"].to_numpy(),
                                       family=model.assign(table).to_numpy())
    by_key = verdicts.set_index(["XUV", "INT_TIME"])
    rows = []
    for (xuv, it), g in frame.groupby(["XUV", "INT_TIME"]):
        key = (str(xuv), int(it))
        fitted = model.groups_.get(key)
        per_file = g.groupby("FILENAME").agg(state=("state", "first"), family=("family", "first"))
        k_true = per_file["state"].nunique()
        row = {"noise": noise, "scenario": scenario, "XUV": xuv, "INT_TIME": it, "n_files": len(per_file),
               "k_true": k_true, "k_found": fitted.mixture.k if fitted is not None and fitted.fitted else np.nan,
               "truth": true_verdict(scenario, key), "verdict": by_key.loc[key, "verdict"]}
        row["k_right"] = row["k_found"] == k_true
        row["ari"] = (adjusted_rand_score(per_file["state"], per_file["family"]) if k_true > 1 else np.nan)
        if scenario == "flipflop" and k_true == 2 and row["k_found"] == 2 and fitted.mixture.method != "gmm":
            oracle = oracle_labels(g.drop(columns=["state", "true", "family"]), fitted.mixture)
            row["ari_oracle"] = adjusted_rand_score(per_file["state"], oracle.reindex(per_file.index))
        if fitted is not None and fitted.fitted:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = g["DET_TEMP"].to_numpy()
                when = g["Time"].to_numpy()
                if row["k_right"] and k_true > 1:
                    pred = np.empty(len(g))
                    for s in range(k_true):
                        sel = g["state"].to_numpy() == s
                        pred[sel] = model.predict(t[sel], channel=xuv, int_time=it, family=s, time=when[sel])
                else:
                    pred = model.predict(t, channel=xuv, int_time=it, time=when)
                row["pred_error"] = float(np.median(np.abs(pred / g["true"].to_numpy() - 1)))
                lo, hi = model.predict_interval(t, channel=xuv, int_time=it, time=when)
            inside = (g["DN_per_s"].to_numpy() >= lo) & (g["DN_per_s"].to_numpy() <= hi)
            third = pd.qcut(t, 3, labels=False, duplicates="drop")
            row["coverage"] = float(inside.mean())
            for j, name in enumerate(("cov_cold", "cov_mid", "cov_warm")):
                row[name] = float(inside[third == j].mean()) if np.any(third == j) else np.nan
            row["n_rows"] = len(g)
        rows.append(row)
    return rows


def run(noise, scenario, seed, n_files, n_boot, jobs, contrast=0.15):
    table, truth = simulate_table(n_files=n_files, scenario=scenario, noise=noise, random_state=seed,
                                  state_contrast=contrast, flip_groups=FLIP, confound_groups=CONFOUND)
    model = dm.DarkRateModel(n_jobs=jobs, random_state=seed).fit(table)
    verdicts = dm.flipflop_test(table, model, n_boot=n_boot, alpha=0.05, random_state=seed, n_jobs=jobs).table
    return evaluate(table, truth, model, verdicts, scenario, noise)


def wilson(k, n):
    if n == 0:
        return (np.nan, np.nan)
    return proportion_confint(k, n, alpha=0.05, method="wilson")


def summarise(res: pd.DataFrame) -> str:
    out = []
    big = res[res["n_files"] >= 100]
    table = big.groupby("noise").apply(lambda d: pd.Series({
        "groups": len(d),
        "K right (single state)": f"{int(d.loc[d.k_true == 1, 'k_right'].sum())}/{int((d.k_true == 1).sum())}",
        "K right (two states)": f"{int(d.loc[d.k_true == 2, 'k_right'].sum())}/{int((d.k_true == 2).sum())}",
        "ARI (switching)": d.loc[(d.k_true == 2) & (d.scenario == 'flipflop'), 'ari'].median(),
        "oracle ARI": d.loc[(d.k_true == 2) & (d.scenario == 'flipflop'), 'ari_oracle'].median(),
        "median pred. error %": 100 * d["pred_error"].median(),
        "coverage": (d["coverage"] * d["n_rows"]).sum() / d["n_rows"].sum(),
        "cold": (d["cov_cold"] * d["n_rows"]).sum() / d["n_rows"].sum(),
        "mid": (d["cov_mid"] * d["n_rows"]).sum() / d["n_rows"].sum(),
        "warm": (d["cov_warm"] * d["n_rows"]).sum() / d["n_rows"].sum(),
    }), include_groups=False)
    out.append(table.to_markdown(floatfmt=".3f"))
    switching = res[(res["scenario"] == "flipflop") & (res["k_true"] == 2)]
    if "ari_oracle" in switching and len(switching):
        cells = switching.assign(group=switching["XUV"] + " " + switching["INT_TIME"].astype(str)).groupby(
            ["noise", "group"])[["ari", "ari_oracle"]].median()
        cells = cells.apply(lambda c: f"{c['ari']:.3f} ({c['ari_oracle']:.3f})", axis=1).unstack("group")
        out.append("\nARI of the labels in the switching groups (in brackets: the oracle that knows the switching law):\n")
        out.append(cells.to_markdown())
    conf = pd.crosstab(res["truth"], res["verdict"])
    out.append("\nVerdicts (rows: truth, columns: verdict), all groups:\n")
    out.append(conf.to_markdown())
    single = res[res["truth"] == "single-state"]
    k = int((single["verdict"] == "flip-flop").sum())
    lo, hi = wilson(k, len(single))
    out.append(f"\nfalse flip-flop in single-state groups: {k}/{len(single)} = {k / max(len(single), 1):.3f} "
               f"[95 % CI {lo:.3f}, {hi:.3f}]")
    for noise, d in single.groupby("noise"):
        kk = int((d["verdict"] == "flip-flop").sum())
        lo, hi = wilson(kk, len(d))
        out.append(f"  {noise}: {kk}/{len(d)} [{lo:.3f}, {hi:.3f}]")
    wrong_kind = single[single["verdict"].isin(["change-point", "drift"])]
    out.append(f"single-state groups called change-point or drift: {len(wrong_kind)}/{len(single)}")
    for noise, d in single.groupby("noise"):
        kk = int(d["verdict"].isin(["change-point", "drift"]).sum())
        lo, hi = wilson(kk, len(d))
        out.append(f"  {noise}: {kk}/{len(d)} [{lo:.3f}, {hi:.3f}]")
    per_it = big.groupby("INT_TIME").apply(lambda d: f"{int(d['k_right'].sum())}/{len(d)}", include_groups=False)
    out.append("\nfamily count right per INT_TIME (groups with >= 100 files): "
               + ", ".join(f"{it} ms {v}" for it, v in per_it.items()))
    drift = res[res["truth"] == "drift"]
    out.append(f"drift groups called flip-flop: {int((drift['verdict'] == 'flip-flop').sum())}/{len(drift)}; "
               f"change-point groups called flip-flop: "
               f"{int(((res['truth'] == 'change-point') & (res['verdict'] == 'flip-flop')).sum())}/"
               f"{int((res['truth'] == 'change-point').sum())}")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-files", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--n-boot", type=int, default=99)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--noise", nargs="*", default=list(NOISE_STRUCTURES))
    parser.add_argument("--scenario", nargs="*", default=list(SCENARIOS))
    parser.add_argument("--power", action="store_true")
    parser.add_argument("--out", default="stress.csv")
    args = parser.parse_args()
    rows = []
    t0 = time.perf_counter()
    for seed in range(1, args.seeds + 1):
        for noise in args.noise:
            for scenario in args.scenario:
                rows += run(noise, scenario, seed, args.n_files, args.n_boot, args.jobs)
                print(f"[{time.perf_counter() - t0:7.0f} s] {noise:12s} {scenario:12s} seed {seed}", flush=True)
                pd.DataFrame(rows).to_csv(args.out, index=False)
    res = pd.DataFrame(rows)
    print(summarise(res))
    if args.power:
        power = []
        for contrast in (0.05, 0.10, 0.17):
            for seed in range(1, args.seeds + 1):
                r = pd.DataFrame(run("mixed", "flipflop", 100 + seed, args.n_files, args.n_boot, args.jobs, contrast))
                r = r[r["truth"] == "flip-flop"]
                power.append({"contrast": contrast, "groups": len(r), "detected": int((r["verdict"] == "flip-flop").sum()),
                              "ari": r["ari"].median()})
        power = pd.DataFrame(power).groupby("contrast").agg(groups=("groups", "sum"), detected=("detected", "sum"),
                                                            median_ari=("ari", "median"))
        print("\nPower (mixed noise):\n" + power.to_markdown())


if __name__ == "__main__":
    main()
