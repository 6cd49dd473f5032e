"""Backtest of the 7-day footfall forecast against the seasonal-naive baseline.

    python benchmarks/forecast_backtest.py [--store PATH] [--camera ID] [--origins 26]

Without ``--store`` it simulates a year of the demo water-can shop (SIMULATED data,
``workbench.simulate``: weekly pattern, regulars, noise) into a temporary store.
For each of the last ``origins`` weeks it fits both methods on the days before and
forecasts the next 7, then prints MAE, RMSE, MAPE, the coverage of the 90%
prediction interval and its width, for each method.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.config import Config  # noqa: E402
from workbench.forecast import backtest, daily_visits  # noqa: E402
from workbench.simulate import simulate_shop  # noqa: E402
from workbench.store import Store  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, help="an existing store (default: simulate a year)")
    ap.add_argument("--camera", help="one camera's visits (default: all cameras)")
    ap.add_argument("--origins", type=int, default=26, help="weeks forecast (default 26)")
    ap.add_argument("--level", type=float, default=0.9)
    args = ap.parse_args()
    print("command:", " ".join(sys.argv))
    with tempfile.TemporaryDirectory() as tmp:
        if args.store:
            store = Store(args.store)
        else:
            root = Path(tmp) / "store"
            store = Store(root, Config(store=root, timezone="Asia/Kolkata"))
            t0 = time.perf_counter()
            simulate_shop(store, days=364, end=date(2026, 10, 31), seed=0)
            print(f"simulated 364 days in {time.perf_counter() - t0:.0f} s")
        history = daily_visits(store, camera=args.camera)
        print(f"{len(history)} days, {history.index[0].date()}..{history.index[-1].date()}, "
              f"mean {history.mean():.1f} visits/day")  # fmt: skip
        t0 = time.perf_counter()
        result = backtest(history, horizon=7, origins=args.origins, level=args.level)
        print(f"backtest: {time.perf_counter() - t0:.0f} s")
    print("| method | MAE | RMSE | MAPE | 90% interval coverage | interval width | forecasts |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in result.itertuples():
        print(f"| {r.method} | {r.mae:.2f} | {r.rmse:.2f} | {r.mape:.1%} | {r.coverage:.1%} | "
              f"{r.width:.1f} | {r.forecasts} |")  # fmt: skip


if __name__ == "__main__":
    main()
