"""Footfall forecast: the next days' visits with prediction intervals, and how good it is.

The model is exponential smoothing with additive errors and a weekly season,
ETS(A,N,A) from statsmodels: each weekday keeps its own level (Saturdays busy,
Sundays short), smoothed over past weeks rather than copied from one. Its baseline
is the seasonal-naive forecast (next Monday = last Monday). ``backtest`` replays
history (train up to a day, forecast the next ``horizon`` days, compare) for both;
``benchmarks/forecast_backtest.py`` records the errors in docs/benchmarks.md.
"""

from __future__ import annotations

import logging
import math
import warnings
from datetime import date
from statistics import NormalDist

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.store import Store

log = logging.getLogger(__name__)

SEASON = 7  # days
MIN_HISTORY = 3 * SEASON


def daily_visits(
    store: Store, start: date | None = None, end: date | None = None, camera: str | None = None
) -> pd.Series:
    """Visits per local day (days without visits are 0), indexed by day."""
    from workbench.analytics import daily_summary

    s = daily_summary(store, start, end, camera)
    return pd.Series(s["visits"].to_numpy(float), index=pd.DatetimeIndex(s["day"]), name="visits")


def _z(level: float) -> float:
    return NormalDist().inv_cdf(0.5 + level / 2)


def seasonal_naive(history: pd.Series, horizon: int, level: float = 0.9) -> pd.DataFrame:
    """The same weekday last week, with intervals from the history's week-on-week changes."""
    y = history.to_numpy(float)
    diffs = y[SEASON:] - y[:-SEASON]
    sigma = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else 0.0
    steps = np.arange(1, horizon + 1)
    mean = y[len(y) - SEASON + (steps - 1) % SEASON]
    half = _z(level) * sigma * np.sqrt(np.ceil(steps / SEASON))
    return _frame(history, mean, mean - half, mean + half)


def ets(history: pd.Series, horizon: int, level: float = 0.9) -> pd.DataFrame:
    """ETS(A,N,A) with a weekly season, fitted by maximum likelihood; analytic intervals."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    days = pd.date_range(end=history.index[-1], periods=len(history), freq="D")
    y = pd.Series(history.to_numpy(float), index=days)
    model = ETSModel(y, error="add", trend=None, seasonal="add", seasonal_periods=SEASON)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short or flat series
        fit = model.fit(disp=False)
        pred = fit.get_prediction(start=len(y), end=len(y) + horizon - 1)
        frame = pred.summary_frame(alpha=1 - level)
    return _frame(history, frame["mean"], frame["pi_lower"], frame["pi_upper"])


def _frame(history: pd.Series, mean, lower, upper) -> pd.DataFrame:
    days = pd.date_range(history.index[-1] + pd.Timedelta(days=1), periods=len(mean), freq="D")
    return pd.DataFrame(
        {
            "day": days,
            "forecast": np.clip(np.asarray(mean, float), 0, None),
            "lower": np.clip(np.asarray(lower, float), 0, None),
            "upper": np.clip(np.asarray(upper, float), 0, None),
        }
    )


def forecast_footfall(
    store: Store,
    days: int = 7,
    end: date | None = None,
    camera: str | None = None,
    level: float = 0.9,
) -> pd.DataFrame:
    """Visits forecast for the ``days`` days after ``end`` (default: the last day with data).

    Columns: ``day``, ``forecast``, ``lower`` and ``upper`` (the ``level`` prediction
    interval, 90% by default) and ``seasonal_naive`` (same weekday last week), so a
    chart can show both. Needs at least three weeks of history.
    """
    history = daily_visits(store, None, end, camera)
    if len(history) < MIN_HISTORY:
        raise WorkbenchError(
            f"a forecast needs at least {MIN_HISTORY} days of visits; the store has {len(history)}"
        )
    out = ets(history, days, level)
    out["seasonal_naive"] = seasonal_naive(history, days, level)["forecast"].to_numpy()
    return out


METHODS = {"ets": ets, "seasonal_naive": seasonal_naive}


def backtest(
    history: pd.Series, horizon: int = 7, origins: int = 12, level: float = 0.9
) -> pd.DataFrame:
    """Rolling-origin backtest of every method on ``history`` (visits per day).

    The last ``origins`` weeks are forecast one ``horizon`` at a time, each from the
    history before it. Rows per method: ``mae``, ``rmse``, ``mape`` (days with visits),
    ``coverage`` of the ``level`` interval, its mean ``width``, and ``forecasts``.
    """
    n = len(history)
    first = n - horizon * origins
    if first < MIN_HISTORY:
        raise WorkbenchError(f"{n} days is too short for {origins} origins of {horizon} days")
    rows = []
    for name, method in METHODS.items():
        err, inside, width, actual_all = [], [], [], []
        for origin in range(first, n - horizon + 1, horizon):
            f = method(history.iloc[:origin], horizon, level)
            actual = history.iloc[origin : origin + horizon].to_numpy()
            err.extend(f["forecast"].to_numpy() - actual)
            inside.extend((f["lower"].to_numpy() <= actual) & (actual <= f["upper"].to_numpy()))
            width.extend(f["upper"].to_numpy() - f["lower"].to_numpy())
            actual_all.extend(actual)
        e, a = np.asarray(err), np.asarray(actual_all)
        rows.append({
            "method": name,
            "mae": float(np.mean(np.abs(e))),
            "rmse": math.sqrt(float(np.mean(e**2))),
            "mape": float(np.mean(np.abs(e[a > 0]) / a[a > 0])),
            "coverage": float(np.mean(inside)),
            "width": float(np.mean(width)),
            "forecasts": len(e),
        })  # fmt: skip
    return pd.DataFrame(rows)
