"""A SIMULATED history of one water-can shop, for demos, tests and trying reports.

Nothing here comes from video: ``simulate_shop`` invents customers and writes the
same events the pipeline would (``tracks``, ``sightings``) plus till records
(``transactions``), through the ordinary ``RunWriter``. Every run is marked
``kind="simulated"`` and its source is ``simulator:<camera>:<seed>``, so it is
easy to tell apart and to replace: running it again with the same camera and seed
replaces the previous simulated history instead of doubling it.

The shop it imitates:

* open 07:00-21:00 local time, Sundays only 07:00-13:00;
* busy mornings (07-10) and evenings (17-20), a quiet afternoon;
* about 60-120 visits a day: regulars who come every 1-3 days at their usual
  time, occasional customers every week or two, and one-time passers-by;
* visits of 1-10 minutes (log-normal, median about 3 minutes);
* most visits buy 1-4 cans (10 L for 20 rupees, 20 L for 35 rupees) paid by cash,
  UPI or coin; a few regulars are defaulters who often leave without paying.

The same seed and ``end`` give the same events. Customer ids come from the store's
counter (``Store.allocate_customer_ids``), so in a fresh store they are identical
too; a re-run in the same store uses new ids.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from workbench.errors import WorkbenchError
from workbench.store import Store
from workbench.writer import RunWriter

log = logging.getLogger(__name__)

OPEN = time(7, 0)
CLOSE = time(21, 0)
SHORT_DAY = 6  # Sunday (Monday is 0): open only in the morning
SHORT_CLOSE = time(13, 0)
# relative number of visits per opening hour: morning and evening peaks, idle afternoon
HOURLY = {
    7: 9,
    8: 12,
    9: 9,
    10: 6,
    11: 5,
    12: 4,
    13: 2,
    14: 1.5,
    15: 2,
    16: 4,
    17: 9,
    18: 12,
    19: 10,
    20: 5,
}
WEEKDAY = [1.0, 0.95, 0.95, 1.0, 1.05, 1.15, 0.7]  # Monday..Sunday
PRICES = {"10L": 20.0, "20L": 35.0}  # rupees per can
PAYMENT_MODES = ["UPI", "cash", "coin"]
PAYMENT_WEIGHTS = [0.5, 0.4, 0.1]
CANS_WEIGHTS = [0.5, 0.3, 0.12, 0.08]  # 1, 2, 3 or 4 cans
N_REGULARS, N_OCCASIONAL, N_DEFAULTERS = 70, 150, 5
ONE_TIME_PER_DAY = 30.0
BUY_PROBABILITY = 0.85
UNPAID_DEFAULTER, UNPAID_OTHER = 0.5, 0.02


class SimulationError(WorkbenchError):
    """The simulation was asked for something it cannot produce."""


@dataclass
class _Customer:
    index: int
    every_days: float  # mean days between visits (inf for one-time customers)
    evening: bool  # usual time: morning or evening peak
    can_size: str
    defaulter: bool = False


def _hours(day: date) -> list[int]:
    close = SHORT_CLOSE if day.weekday() == SHORT_DAY else CLOSE
    return [h for h in HOURLY if OPEN.hour <= h < close.hour]


def _pick_minute(rng: np.random.Generator, day: date, evening: bool | None) -> float:
    """Minutes after midnight (local) for a visit, following the hourly pattern."""
    hours = _hours(day)
    weights = np.array([HOURLY[h] for h in hours], dtype=float)
    if evening is not None:  # regulars lean towards their usual half of the day
        weights *= np.array([2.0 if (h >= 15) == evening else 0.5 for h in hours])
    hour = rng.choice(hours, p=weights / weights.sum())
    return hour * 60 + rng.uniform(0, 60)


def _make_pool(rng: np.random.Generator) -> list[_Customer]:
    pool = []
    for i in range(N_REGULARS + N_OCCASIONAL):
        regular = i < N_REGULARS
        pool.append(
            _Customer(
                index=i,
                every_days=rng.uniform(1, 3) if regular else rng.uniform(5, 15),
                evening=bool(rng.random() < 0.5),
                can_size="20L" if rng.random() < 0.6 else "10L",
                defaulter=i < N_DEFAULTERS,
            )
        )
    return pool


def _visits(rng: np.random.Generator, days: list[date], pool: list[_Customer]) -> list[tuple]:
    """(day, minute of day, customer) for every visit, in time order per day."""
    visits = []
    for day in days:
        factor = WEEKDAY[day.weekday()]
        today = [c for c in pool if rng.random() < min(1.0, factor / c.every_days)]
        for _ in range(rng.poisson(ONE_TIME_PER_DAY * factor)):
            walk_in = _Customer(
                len(pool), float("inf"), False, "20L" if rng.random() < 0.5 else "10L"
            )
            pool.append(walk_in)
            today.append(walk_in)
        for c in today:
            evening = None if c.every_days == float("inf") else c.evening
            visits.append((day, _pick_minute(rng, day, evening), c))
    visits.sort(key=lambda v: (v[0], v[1]))
    return visits


def _rows(
    rng: np.random.Generator,
    visits: list[tuple],
    ids: dict[int, str],
    tz: ZoneInfo,
    camera: str,
    seed: int,
) -> tuple[list[dict], list[dict], list[dict]]:
    """Track, sighting and transaction rows for the visits."""
    tracks, sightings, transactions = [], [], []
    first_visit_done: set[int] = set()
    for n, (day, minute, c) in enumerate(visits):
        local = datetime.combine(day, time(0), tzinfo=tz) + timedelta(minutes=float(minute))
        start = local.astimezone(UTC)
        dwell = float(np.clip(rng.lognormal(np.log(180), 0.5), 60, 600))
        stop = start + timedelta(seconds=dwell)
        track_id = f"{camera}-sim{seed}-{n:06d}"
        n_seen = int(rng.integers(3, 7))
        returning = c.index in first_visit_done
        first_visit_done.add(c.index)
        tracks.append(
            {
                "camera": camera,
                "track_id": track_id,
                "start": start,
                "end": stop,
                "customer_id": ids[c.index],
                "sightings": n_seen,
                "embedded": int(rng.integers(1, min(n_seen, 3) + 1)),
                "quality": round(float(rng.uniform(0.5, 0.9)), 3),
                "match_distance": round(float(rng.uniform(0.25, 0.5)), 3) if returning else None,
                "embedding": None,
                "snapshot": None,
            }
        )
        offsets = np.sort(np.concatenate([[0.0, dwell], rng.uniform(0, dwell, n_seen - 2)]))
        x, y = rng.uniform(200, 700), rng.uniform(80, 300)
        for k, off in enumerate(offsets):
            sightings.append(
                {
                    "camera": camera,
                    "ts": start + timedelta(seconds=float(off)),
                    "frame": int((minute * 60 + off) * 5),  # as if detected at 5 fps
                    "track_id": track_id,
                    "x": x + k * rng.normal(0, 8),
                    "y": y + k * rng.normal(0, 4),
                    "w": 90.0,
                    "h": 110.0,
                    "score": float(rng.uniform(0.7, 1.0)),
                    "quality": float(rng.uniform(0.4, 0.9)),
                }
            )
        if rng.random() < BUY_PROBABILITY:
            cans = int(rng.choice([1, 2, 3, 4], p=CANS_WEIGHTS))
            size = c.can_size if rng.random() < 0.9 else ("10L" if c.can_size == "20L" else "20L")
            unpaid = rng.random() < (UNPAID_DEFAULTER if c.defaulter else UNPAID_OTHER)
            transactions.append(
                {
                    "camera": camera,
                    "transaction_id": f"{camera}-sim{seed}-T{n:06d}",
                    "ts": start + timedelta(seconds=dwell * float(rng.uniform(0.3, 0.9))),
                    "customer_id": ids[c.index],
                    "payment_mode": str(rng.choice(PAYMENT_MODES, p=PAYMENT_WEIGHTS)),
                    "can_size": size,
                    "number_of_cans": cans,
                    "amount": cans * PRICES[size],
                    "payment_status": "Unpaid" if unpaid else "Paid",
                }
            )

    return tracks, sightings, transactions


def simulate_shop(
    store: Store,
    days: int = 28,
    end: date | None = None,
    seed: int = 0,
    camera: str = "counter",
) -> dict:
    """Write ``days`` days of SIMULATED shop history ending on ``end`` into ``store``.

    ``end`` defaults to yesterday in the camera's timezone (the last full day).
    Times follow the camera's timezone from the store's configuration. Holds the
    store's writer lock while writing, and replaces an earlier simulation with the
    same camera and seed. Returns counts of what was written.
    """
    if not 1 <= days <= 366:
        raise SimulationError(f"days must be between 1 and 366, not {days}")
    tz = ZoneInfo(store.timezone(camera))
    end = end or (datetime.now(tz).date() - timedelta(days=1))
    day_list = [end - timedelta(days=days - 1 - i) for i in range(days)]
    rng = np.random.default_rng(seed)
    pool = _make_pool(rng)
    visits = _visits(rng, day_list, pool)
    seen = list(dict.fromkeys(c.index for _, _, c in visits))  # ids in order of first visit
    source_key = f"simulator:{camera}:{seed}"
    source = f"simulated water-can shop, seed {seed}, {day_list[0]}..{end}"
    with store.writer_lock():
        ids = dict(zip(seen, store.allocate_customer_ids(len(seen)), strict=True))
        tracks, sightings, transactions = _rows(rng, visits, ids, tz, camera, seed)
        with RunWriter(store, source_key, camera, source, kind="simulated") as writer:
            writer.add("tracks", tracks)
            writer.add("sightings", sightings)
            writer.add("transactions", transactions)
    counts = {
        "source_key": source_key,
        "run_id": writer.run_id,
        "start": day_list[0],
        "end": end,
        "days": days,
        "customers": len(seen),
        "regulars": N_REGULARS,
        "defaulters": N_DEFAULTERS,
        "visits": len(tracks),
        "sightings": len(sightings),
        "transactions": len(transactions),
    }
    log.info("simulated %(visits)d visits of %(customers)d customers over %(days)d days", counts)
    return counts
