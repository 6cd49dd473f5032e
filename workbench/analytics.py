"""Shop analytics as plain functions: a store (and a date range or day) in, a DataFrame out.

Every function reads the store's views, never video, so any notebook, dashboard
or report can recompute them at any time. The SQL of each figure lives once in
``workbench.metrics_sql``: the views apply it to the whole store, these functions
to a slice of it. Days and hours are local to each camera (its ``timezone:``, else
the site's); local times are shown without a timezone, as a shop clock shows them.
Staff are left out.

Filters: ``start``/``end`` (local dates, inclusive; without them, the whole
history in the store) and ``camera`` (one camera; by default all count).
Roll-ups: ``period_summary(store, "week" | "month" | "quarter" | "year")``.
"""

from __future__ import annotations

import logging
from datetime import date
from functools import partial

import pandas as pd

from workbench import metrics_sql as m
from workbench.store import Store

log = logging.getLogger(__name__)

# The slice every function works on. Parameters: $start, $end (local dates), $camera (or NULL).
_CAMERA = "($camera::VARCHAR IS NULL OR camera = $camera)"
_VISITS = f"(SELECT * FROM visits WHERE local_day BETWEEN $start AND $end AND {_CAMERA})"
_TX = f"(SELECT * FROM {m.CUSTOMER_TX} x WHERE local_day BETWEEN $start AND $end AND {_CAMERA})"
# a visit converts with a paid record linked to it, at whatever camera or day it was paid
_PAID = f"(SELECT * FROM {m.CUSTOMER_TX} x WHERE visit_local_day BETWEEN $start AND $end)"
_DAYS = "SELECT CAST(d AS DATE) AS day FROM generate_series($start::DATE, $end::DATE, INTERVAL 1 DAY) g(d)"


def _run(
    store: Store, sql: str, start: date, end: date, camera: str | None, **extra
) -> pd.DataFrame:
    return store.query(sql, {"start": start, "end": end, "camera": camera, **extra})


def date_range(
    store: Store, start: date | None = None, end: date | None = None
) -> tuple[date, date]:
    """Fill a missing start or end with the first or last local day with visits or sales
    (of customers, not staff: the calendar of ``daily_summary``, precomputed at scale)."""
    if start is not None and end is not None:
        return start, end
    row = store.query("SELECT min(day), max(day) FROM daily_summary").iloc[0]
    today = pd.Timestamp.now(tz=store.config.timezone).date()
    first = pd.Timestamp(row.iloc[0]).date() if pd.notna(row.iloc[0]) else today
    last = pd.Timestamp(row.iloc[1]).date() if pd.notna(row.iloc[1]) else today
    return start or first, end or last


def daily_summary(
    store: Store, start: date | None = None, end: date | None = None, camera: str | None = None
) -> pd.DataFrame:
    """One row per local day from ``start`` to ``end`` (inclusive), days without visits included.

    Columns: ``day``, ``visits``, ``unique_customers``, ``new_customers`` (first
    visit ever), ``returning_customers``, ``avg_dwell_s``, ``first_visit`` and
    ``last_visit`` (local time of the first arrival and the last departure: the
    shop's effective opening and closing), ``transactions``, ``revenue`` (all sales,
    paid or not), ``unpaid_amount`` (the part of ``revenue`` still unpaid) and
    ``conversion`` (visits with a paid till record / visits).
    """
    return period_summary(store, "day", start, end, camera)


def period_summary(
    store: Store,
    period: str = "week",
    start: date | None = None,
    end: date | None = None,
    camera: str | None = None,
) -> pd.DataFrame:
    """``daily_summary`` rolled up by ``period``: day, week (from Monday), month, quarter, year.

    Distinct counts (customers, new customers) are distinct over the whole period,
    not sums of days. The first column is ``day``, or ``period_start`` for longer periods.
    """
    start, end = date_range(store, start, end)
    if period == "day" and camera is None:  # the store's own figure: precomputed at scale
        return store.query(_DAILY, {"start": start, "end": end})
    return _run(store, m.summary(period, _VISITS, _TX, _DAYS, _PAID), start, end, camera)


# the ``daily_summary`` view over the days asked for (days before or after the store's
# data have no row there: zeros, as ``metrics_sql.summary`` gives them)
_COUNTS = ("visits", "unique_customers", "new_customers", "returning_customers",
           "transactions", "revenue", "unpaid_amount")  # fmt: skip
_DAILY = f"""SELECT g.day, {", ".join(f"coalesce(d.{c}, 0) AS {c}" for c in _COUNTS)},
    d.avg_dwell_s, d.first_visit, d.last_visit, d.conversion
    FROM ({_DAYS}) g LEFT JOIN daily_summary d USING (day) ORDER BY 1"""


def hourly_traffic(store: Store, day: date, camera: str | None = None) -> pd.DataFrame:
    """Traffic per local hour (0-23) of ``day``, quiet hours included.

    Columns: ``hour``, ``visits`` (visits that began in the hour),
    ``unique_customers`` (customers among them), ``transactions`` and ``revenue``
    (till records of the hour), and ``people_seen``: people in view at any moment of
    the hour (face tracks, identified or not, staff excluded), so someone who stayed
    across two hours counts in both.
    """
    seen = """
    WITH s AS (
        SELECT s.track_id, local_time(s.camera, s.start) AS ls, local_time(s.camera, s."end") AS le
        FROM track_spans s LEFT JOIN customer_labels l USING (customer_id)
        WHERE s.local_day BETWEEN $start::DATE - 1 AND $start AND NOT coalesce(l.is_staff, false)
          AND ($camera::VARCHAR IS NULL OR s.camera = $camera)
    )
    SELECT h.range AS hour, count(DISTINCT s.track_id) AS people_seen
    FROM range(24) h JOIN s ON s.ls < $start::TIMESTAMP + to_hours(h.range + 1)
                           AND s.le >= $start::TIMESTAMP + to_hours(h.range)
    GROUP BY 1"""
    hourly = _HOURLY if camera is None else m.hourly(_VISITS, _TX, _DAYS)
    sql = f"""SELECT hourly.* EXCLUDE (day), coalesce(people_seen, 0) AS people_seen
    FROM ({hourly}) hourly LEFT JOIN ({seen}) USING (hour) ORDER BY hour"""
    return _run(store, sql, day, day, camera)


# the ``hourly_traffic`` view's day (precomputed at scale); a day outside the store's
# data has no rows there: zeros, as ``metrics_sql.hourly`` gives them
_HOURLY = f"""SELECT $start::DATE AS day, CAST(h.range AS INTEGER) AS hour,
    {", ".join(f"coalesce(t.{c}, 0) AS {c}" for c in ("visits", "unique_customers", "transactions", "revenue"))}
    FROM range(24) h
    LEFT JOIN (SELECT * FROM hourly_traffic WHERE day BETWEEN $start AND $end) t ON t.hour = h.range"""


def busy_hours(
    store: Store,
    start: date | None = None,
    end: date | None = None,
    camera: str | None = None,
    n: int = 3,
) -> pd.DataFrame:
    """Peak and idle hours: average visits per local hour over the days of the range.

    Columns: ``hour``, ``visits`` (total), ``avg_visits`` (per day of the range),
    ``share`` of all visits, and ``label``: ``peak`` for the ``n`` busiest hours,
    ``idle`` for the ``n`` quietest hours the shop is open (hours with at least
    one visit in the range), ``closed`` for hours without any visit, else empty.
    """
    start, end = date_range(store, start, end)
    hourly = _run(store, m.hourly(_VISITS, _TX, _DAYS), start, end, camera)
    out = hourly.groupby("hour", as_index=False)["visits"].sum()
    days = max(1, (end - start).days + 1)
    out["avg_visits"] = out["visits"] / days
    out["share"] = out["visits"] / max(1, out["visits"].sum())
    out["label"] = ""
    is_open = out["visits"] > 0
    out.loc[~is_open, "label"] = "closed"
    ranked = out[is_open].sort_values(["visits", "hour"])
    out.loc[ranked.index[:n], "label"] = "idle"
    out.loc[ranked.index[::-1][:n], "label"] = "peak"
    return out


def payment_summary(
    store: Store, day: date, end: date | None = None, camera: str | None = None
) -> pd.DataFrame:
    """Sales per payment mode (cash, UPI, coin, ...) on ``day`` (or ``day`` to ``end``).

    Columns: ``payment_mode``, ``transactions``, ``cans``, ``amount`` (all sales),
    ``paid_amount``, ``unpaid_amount`` and ``unpaid_transactions``; largest amount first.
    """
    sql = f"""SELECT payment_mode, sum(transactions) AS transactions, sum(cans) AS cans,
        sum(amount) AS amount, sum(paid_amount) AS paid_amount,
        sum(unpaid_amount) AS unpaid_amount, sum(unpaid_transactions) AS unpaid_transactions
        FROM ({m.payments(_TX)}) GROUP BY payment_mode ORDER BY amount DESC, payment_mode"""
    df = _run(store, sql, day, end or day, camera)
    return df.astype({c: "int64" for c in ("transactions", "cans", "unpaid_transactions")})


def cans_per_day(
    store: Store, start: date | None = None, end: date | None = None, camera: str | None = None
) -> pd.DataFrame:
    """Cans sold per local day and can size (``day``, ``can_size``, ``cans``, ``transactions``)."""
    start, end = date_range(store, start, end)
    return _run(store, m.cans(_TX), start, end, camera)


def customer_spend(
    store: Store, start: date | None = None, end: date | None = None, camera: str | None = None
) -> pd.DataFrame:
    """Per customer: ``transactions``, ``cans``, ``amount_paid``, ``amount_unpaid``, first and
    last purchase (and ``label``); biggest spenders first."""
    return _per_customer(store, m.spend_view, start, end, camera)


def _per_customer(
    store: Store, view, start: date | None, end: date | None, camera: str | None
) -> pd.DataFrame:
    """``view(spend)`` over the per-customer sums of the slice: the store's own ``_spend``
    figure (precomputed at scale) when the slice holds every record of every camera,
    else summed from the slice's records."""
    first, last = date_range(store)
    start, end = start or first, end or last
    if camera is None and start <= first and end >= last:
        return store.query(view("_spend"))
    return _run(store, view(f"({m.spend(_TX)})"), start, end, camera)


def unpaid(
    store: Store, start: date | None = None, end: date | None = None, camera: str | None = None
) -> pd.DataFrame:
    """Every unpaid till record of the range, newest first, with its customer and visit."""
    start, end = date_range(store, start, end)
    return _run(store, m.unpaid(_TX), start, end, camera)


def repeat_defaulters(
    store: Store,
    start: date | None = None,
    end: date | None = None,
    camera: str | None = None,
    min_unpaid: int = 2,
) -> pd.DataFrame:
    """Customers who left without paying at least ``min_unpaid`` times, most owed first.

    Columns: ``customer_id``, ``label``, ``unpaid_count``, ``unpaid_amount``,
    ``last_unpaid``, ``transactions`` and ``unpaid_share``.
    """
    view = partial(m.defaulters_view, min_unpaid=min_unpaid)
    return _per_customer(store, view, start, end, camera)


def top_customers(
    store: Store,
    start: date | None = None,
    end: date | None = None,
    n: int = 10,
    camera: str | None = None,
) -> pd.DataFrame:
    """The ``n`` customers with the most visits between ``start`` and ``end`` (staff excluded).

    Columns: ``customer_id``, ``label`` (name given in customer management, if
    any), ``visits``, ``days_visited``, ``first_visit``/``last_visit`` (local
    arrival times), ``avg_dwell_s``, ``transactions``, ``cans``, ``amount`` and
    ``unpaid_amount``. Ties are broken by amount bought.
    """
    start, end = date_range(store, start, end)
    sql = f"""
    WITH vc AS (
        SELECT customer_id, count(*) AS visits, count(DISTINCT local_day) AS days_visited,
               date_trunc('second', min(local_start)) AS first_visit,
               date_trunc('second', max(local_start)) AS last_visit,
               round(avg(dwell_s), 1) AS avg_dwell_s
        FROM {_VISITS} GROUP BY customer_id
    ), tc AS (
        SELECT customer_id, transactions, cans, amount_paid + amount_unpaid AS amount,
               amount_unpaid AS unpaid_amount
        FROM ({m.spend(_TX)})
    )
    SELECT vc.customer_id, l.label, vc.visits, vc.days_visited, vc.first_visit, vc.last_visit,
           vc.avg_dwell_s, coalesce(tc.transactions, 0) AS transactions,
           coalesce(tc.cans, 0) AS cans, coalesce(tc.amount, 0) AS amount,
           coalesce(tc.unpaid_amount, 0) AS unpaid_amount
    FROM vc LEFT JOIN tc USING (customer_id) LEFT JOIN customer_labels l USING (customer_id)
    ORDER BY vc.visits DESC, amount DESC, vc.customer_id
    LIMIT $n"""
    return _run(store, sql, start, end, camera, n=int(n))


FREQUENCY_BUCKETS = ((1, 1, "1"), (2, 2, "2"), (3, 4, "3-4"), (5, 9, "5-9"), (10, None, "10+"))


def visit_frequency(
    store: Store, start: date | None = None, end: date | None = None, camera: str | None = None
) -> pd.DataFrame:
    """How often customers came in the range: ``bucket`` of visits (1, 2, 3-4, 5-9, 10+),
    ``customers`` in it, their ``visits``, and each bucket's ``share`` of customers."""
    start, end = date_range(store, start, end)
    per_customer = _run(
        store,
        f"SELECT customer_id, count(*) AS visits FROM {_VISITS} GROUP BY 1",
        start,
        end,
        camera,
    )
    rows = []
    for lo, hi, name in FREQUENCY_BUCKETS:
        sel = per_customer["visits"].between(lo, hi if hi is not None else float("inf"))
        rows.append({"bucket": name, "customers": int(sel.sum()),
                     "visits": int(per_customer.loc[sel, "visits"].sum())})  # fmt: skip
    out = pd.DataFrame(rows)
    out["share"] = out["customers"] / max(1, len(per_customer))
    return out


def lapsed_regulars(
    store: Store,
    days: int = 14,
    min_visits: int = 5,
    as_of: date | None = None,
    camera: str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Regulars (``min_visits`` or more visits ever) not seen for more than ``days`` days.

    ``as_of`` defaults to today (site time). Columns: ``customer_id``, ``label``,
    ``visits``, ``first_seen`` and ``last_seen`` (local days), ``days_away``,
    ``usual_gap_days`` (their median days between visits) and ``amount_unpaid``;
    longest away first; the first ``limit`` only (their gaps alone are computed: on a
    year of 100 cameras, 24,000 lapsed regulars' 3 M visits).
    """
    as_of = as_of or pd.Timestamp.now(tz=store.config.timezone).date()
    # only customers with enough visits ever and none in the last ``days`` (from the
    # ``customers`` figure and a few days of visits) have their visits read
    sql = f"""
    WITH recent AS (
        SELECT DISTINCT customer_id FROM visits
        WHERE {_CAMERA} AND local_day BETWEEN $end::DATE - $days AND $end AND customer_id IS NOT NULL
    ), candidates AS (
        SELECT customer_id FROM customers
        WHERE visit_count >= $min_visits AND NOT is_staff
          AND customer_id NOT IN (SELECT customer_id FROM recent)
    ), v AS (
        SELECT * FROM visits WHERE {_CAMERA} AND local_day <= $end
                                AND customer_id IN (SELECT customer_id FROM candidates)
    ), all_regulars AS (
        SELECT customer_id, count(*) AS visits, min(local_day) AS first_seen,
               max(local_day) AS last_seen
        FROM v GROUP BY customer_id
        HAVING count(*) >= $min_visits AND $end::DATE - max(local_day) > $days
    ), regulars AS (
        SELECT * FROM all_regulars ORDER BY last_seen, visits DESC, customer_id LIMIT $limit
    ), gaps AS (
        SELECT customer_id, local_day - lag(local_day) OVER (PARTITION BY customer_id ORDER BY start) AS gap
        FROM v WHERE customer_id IN (SELECT customer_id FROM regulars)
    )
    SELECT r.customer_id, l.label, r.visits, r.first_seen, r.last_seen,
           $end::DATE - r.last_seen AS days_away,
           (SELECT median(gap) FROM gaps g WHERE g.customer_id = r.customer_id) AS usual_gap_days,
           coalesce(s.amount_unpaid, 0) AS amount_unpaid
    FROM regulars r LEFT JOIN customer_labels l USING (customer_id)
    LEFT JOIN _spend s USING (customer_id)
    WHERE $end::DATE - r.last_seen > $days
    ORDER BY days_away DESC, r.visits DESC, r.customer_id"""
    params = {
        "end": as_of, "camera": camera, "days": int(days), "min_visits": int(min_visits),
        "limit": None if limit is None else int(limit),
    }  # fmt: skip
    return store.query(sql, params)
