"""Every public estimator and function refuses out-of-range arguments before any work.

The tables are the code's own (``DarkRateModel._parameter_constraints`` and each function's
``parameter_constraints``); the test walks every entry with a value outside it and checks the
refusal comes first (an empty table or a missing path would fail differently after work).
"""

import inspect
import math
import numbers

import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

import darkmodel as dm
from darkmodel.exceptions import InvalidParameterError
from darkmodel.validation import Interval, Options


def _bad_values(allowed):
    """Values outside every constraint of one parameter."""
    out = ["not a number at all", math.nan, -1e9]
    for c in allowed:
        if isinstance(c, Interval) and c.kind == "int":
            out.append(2.5)
        if isinstance(c, Interval) and c.low is not None:
            out.append(c.low - 1 if c.kind == "int" else c.low - 0.5)
    if any(c is None for c in allowed):
        out = [v for v in out if v is not None]
    return [v for v in out if not any(_fits(v, c) for c in allowed)]


def _fits(value, c):
    if c is None:
        return value is None
    if isinstance(c, type):
        return isinstance(value, c)
    return value in c


ESTIMATOR_PARAMS = sorted(dm.DarkRateModel._parameter_constraints)


@pytest.mark.parametrize("name", ESTIMATOR_PARAMS)
def test_the_estimator_refuses_each_bad_parameter_before_any_work(name):
    allowed = dm.DarkRateModel._parameter_constraints[name]
    bad = _bad_values(allowed)
    assert bad, name
    for value in bad:
        with pytest.raises(InvalidParameterError, match=f"DarkRateModel: {name} must be"):
            dm.DarkRateModel(**{name: value}).fit(pd.DataFrame())  # empty: a late check would fail otherwise


def test_the_estimator_table_covers_every_parameter_and_the_defaults_pass():
    model = dm.DarkRateModel()
    assert set(dm.DarkRateModel._parameter_constraints) == set(model.get_params())
    for name, value in model.get_params().items():
        assert any(_fits(value, c) for c in dm.DarkRateModel._parameter_constraints[name]), name


def test_scikit_learn_conventions_hold():
    model = dm.DarkRateModel(alpha=0.01, n_boot=199, n_jobs=-1)
    twin = clone(model)
    assert twin.get_params() == model.get_params() and twin is not model
    assert model.set_params(k_max=2).k_max == 2
    with pytest.raises(NotFittedError):
        check_is_fitted(dm.DarkRateModel())


def _public_functions():
    for name in dm.__all__:
        obj = getattr(dm, name, None)
        if inspect.isfunction(obj):
            yield name, obj


NUMERIC = (int, float, "int", "float", "int | None", "float | None")


def test_every_public_function_with_a_numeric_or_choice_argument_has_a_table():
    missing = []
    for name, func in _public_functions():
        params = inspect.signature(func).parameters
        tunable = [p for p in params.values() if p.annotation in NUMERIC and p.default is not inspect.Parameter.empty
                   and p.name not in ("ref_temp",)]  # ref_temp is checked by check_real (see test_machine_faults)
        if tunable and not hasattr(func, "parameter_constraints"):
            missing.append((name, [p.name for p in tunable]))
    assert not missing, missing


CASES = [(name, arg) for name, func in _public_functions() for arg in getattr(func, "parameter_constraints", {})]


@pytest.mark.parametrize("name, arg", CASES, ids=[f"{n}-{a}" for n, a in CASES])
def test_each_public_function_refuses_each_bad_argument_before_any_work(name, arg, tmp_path):
    func = getattr(dm, name)
    allowed = func.parameter_constraints[arg]
    params = list(inspect.signature(func).parameters.values())
    missing = tmp_path / "does-not-exist"
    required = [p for p in params if p.default is inspect.Parameter.empty and p.kind != p.VAR_KEYWORD]
    args = [pd.DataFrame() if p.name == "calibrated" else missing for p in required
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for value in _bad_values(allowed):
        with pytest.raises(InvalidParameterError, match=f"{name}: {arg} must be"):
            func(*args, **{arg: value})
    assert not missing.exists()  # nothing was written


def test_the_messages_say_what_is_allowed():
    with pytest.raises(InvalidParameterError) as info:
        dm.flipflop_test(pd.DataFrame(), n_jobs=0)
    assert str(info.value) == "flipflop_test: n_jobs must be None or -1 or a whole number in [1, inf); got 0"
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)
    assert 3 in Interval("int", 1, None) and True not in Interval("int", 0, None)
    assert -1 in Options((-1,)) and isinstance(-1, numbers.Integral)
