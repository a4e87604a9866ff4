import pandas as pd

from darkmodel.simulate.scorecard import score_verdicts, true_verdicts


def _truth(states, xuv="MUV", it=4200):
    return pd.DataFrame({"FILENAME": [f"{xuv}{it}-{i}" for i in range(len(states))], "XUV": xuv, "INT_TIME": it,
                         "Time": pd.date_range("2015-01-01", periods=len(states), freq="h"), "state": states,
                         "DN_per_s_true": 1.0})


def test_the_truth_of_each_group_by_hand():
    truth = pd.concat([_truth([0] * 6, "FUV", 1400), _truth([0, 0, 0, 1, 1, 1], "FUV", 4200),
                       _truth([0, 1, 1, 0, 0, 1], "MUV", 4200)])
    got = true_verdicts(truth, "flipflop").set_index(["XUV", "INT_TIME"])["truth"].to_dict()
    assert got == {("FUV", 1400): "single-state", ("FUV", 4200): "change-point", ("MUV", 4200): "flip-flop"}
    assert true_verdicts(_truth([0] * 6), "drift")["truth"].iloc[0] == "drift"
    # MCP-on darks (no expected DN/s) are not part of the truth the test sees
    mcp = _truth([0, 1, 0, 1, 0, 0]).assign(DN_per_s_true=[1.0, float("nan")] * 3)
    assert true_verdicts(mcp, "flipflop")["truth"].iloc[0] == "single-state"


def test_right_wrong_and_inconclusive():
    truth = pd.concat([_truth([0] * 6, "FUV", 1400), _truth([0, 1, 1, 0, 0, 1], "MUV", 4200),
                       _truth([0, 1, 0, 1, 0, 1], "FUV", 14400)])
    verdicts = pd.DataFrame({"XUV": ["FUV", "MUV", "FUV"], "INT_TIME": [1400, 4200, 14400],
                             "verdict": ["single-state", "families-without-memory", "inconclusive"],
                             "reason": ["a", "b", "c"]})
    score = score_verdicts(verdicts, truth, "flipflop").set_index(["XUV", "INT_TIME"])["outcome"]
    assert score.to_dict() == {("FUV", 1400): "right", ("MUV", 4200): "wrong", ("FUV", 14400): "inconclusive"}
