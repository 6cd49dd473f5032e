"""The footfall forecast: intervals that hold, better than last week's copy on a weekly pattern."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.errors import WorkbenchError
from workbench.forecast import backtest, ets, forecast_footfall, seasonal_naive

WEEK = np.array([90, 85, 85, 90, 95, 105, 60], float)  # Monday..Sunday


def weekly_series(days: int, noise: float, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-01-05", periods=days, freq="D")  # a Monday
    return pd.Series(WEEK[index.weekday] + rng.normal(0, noise, days), index=index)


def test_seasonal_naive_repeats_last_week():
    history = weekly_series(28, 0)
    f = seasonal_naive(history, 9)
    assert f["forecast"].tolist() == WEEK[[0, 1, 2, 3, 4, 5, 6, 0, 1]].tolist()
    assert f["day"].iloc[0] == history.index[-1] + pd.Timedelta(days=1)


def test_ets_beats_seasonal_naive_on_a_noisy_weekly_pattern():
    result = backtest(weekly_series(84, 8), horizon=7, origins=3, level=0.9).set_index("method")
    assert result.loc["ets", "mae"] < 0.85 * result.loc["seasonal_naive", "mae"]
    assert result.loc["ets", "forecasts"] == 21
    assert 0.75 <= result.loc["ets", "coverage"] <= 1.0  # a 90% interval, 21 days


def test_intervals_contain_the_forecast_and_widen_with_the_level():
    history = weekly_series(56, 5)
    narrow, wide = ets(history, 7, 0.5), ets(history, 7, 0.95)
    assert (narrow["lower"] <= narrow["forecast"]).all() and (
        narrow["forecast"] <= narrow["upper"]
    ).all()
    assert ((wide["upper"] - wide["lower"]) > (narrow["upper"] - narrow["lower"])).all()
    assert np.abs(narrow["forecast"].to_numpy() - WEEK).max() < 10


def test_forecast_from_the_store(demo_store, demo_end):
    f = forecast_footfall(demo_store, days=7)
    assert f["day"].tolist() == list(
        pd.date_range(pd.Timestamp(demo_end) + pd.Timedelta(days=1), periods=7)
    )
    assert (f["lower"] <= f["forecast"]).all() and (f["forecast"] <= f["upper"]).all()
    sunday = f[f["day"].dt.weekday == 6].iloc[0]  # the simulated shop closes at 13:00 on Sundays
    assert sunday["forecast"] < f[f["day"].dt.weekday < 5]["forecast"].min()


def test_too_little_history(make_store):
    with pytest.raises(WorkbenchError, match="at least 21 days"):
        forecast_footfall(make_store())
