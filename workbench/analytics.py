"""Shop analytics as plain functions: a store (and a date range or day) in, a DataFrame out.

Every function reads the store's views (``visits``, ``transactions``,
``sightings``, ``customers``), never video, so any notebook, dashboard or report
can recompute them at any time. Days and hours are local to the site: the
timezone in the store's configuration (``timezone:`` in workbench.yml). Local
times in the results are shown without a timezone, as a shop clock shows them.

Pass ``camera="..."`` to look at one camera only; by default all cameras count.
"""

from __future__ import annotations

import logging
from datetime import date

import pandas as pd

from workbench.store import Store

log = logging.getLogger(__name__)

# The SQL lives here, once. Each query is built from the same two CTEs, which put
# every visit and every transaction on the site's local clock and apply the camera
# filter. Parameters are named: $tz, $start, $end (local dates), $camera (or NULL).
_BASE = """
WITH v AS (
    SELECT *, date_trunc('second', timezone($tz, start)) AS local_start,
           date_trunc('second', timezone($tz, "end")) AS local_end,
           CAST(timezone($tz, start) AS DATE) AS day
    FROM visits
    WHERE $camera::VARCHAR IS NULL OR camera = $camera
), t AS (
    SELECT *, timezone($tz, ts) AS local_ts, CAST(timezone($tz, ts) AS DATE) AS day,
           payment_status = 'Unpaid' AS unpaid
    FROM transactions
    WHERE $camera::VARCHAR IS NULL OR camera = $camera
), days AS (
    SELECT CAST(d AS DATE) AS day FROM generate_series($start::DATE, $end::DATE, INTERVAL 1 DAY) g(d)
)
"""

_DAILY = """
, vd AS (
    SELECT day, count(*) AS visits, count(DISTINCT customer_id) AS unique_customers,
           count(DISTINCT customer_id) FILTER (WHERE is_new) AS new_customers,
           avg(dwell_s) AS avg_dwell_s, min(local_start) AS first_visit, max(local_end) AS last_visit
    FROM v WHERE day BETWEEN $start AND $end GROUP BY day
), td AS (
    SELECT day, count(*) AS transactions, sum(amount) AS revenue,
           coalesce(sum(amount) FILTER (WHERE unpaid), 0) AS unpaid_amount
    FROM t WHERE day BETWEEN $start AND $end GROUP BY day
)
SELECT days.day,
       coalesce(visits, 0) AS visits,
       coalesce(unique_customers, 0) AS unique_customers,
       coalesce(new_customers, 0) AS new_customers,
       coalesce(unique_customers - new_customers, 0) AS returning_customers,
       avg_dwell_s, first_visit, last_visit,
       coalesce(transactions, 0) AS transactions,
       coalesce(revenue, 0) AS revenue,
       coalesce(unpaid_amount, 0) AS unpaid_amount
FROM days LEFT JOIN vd USING (day) LEFT JOIN td USING (day)
ORDER BY days.day
"""

_HOURLY = """
, hours AS (SELECT CAST(range AS INTEGER) AS hour FROM range(24)),
vh AS (
    SELECT hour(local_start) AS hour, count(*) AS visits, count(DISTINCT customer_id) AS unique_customers
    FROM v WHERE day = $start GROUP BY 1
), sh AS (
    SELECT hour(timezone($tz, ts)) AS hour, count(DISTINCT track_id) AS people_seen
    FROM sightings
    WHERE CAST(timezone($tz, ts) AS DATE) = $start AND ($camera::VARCHAR IS NULL OR camera = $camera)
    GROUP BY 1
)
SELECT hour, coalesce(visits, 0) AS visits, coalesce(unique_customers, 0) AS unique_customers,
       coalesce(people_seen, 0) AS people_seen
FROM hours LEFT JOIN vh USING (hour) LEFT JOIN sh USING (hour)
ORDER BY hour
"""

_PAYMENTS = """
SELECT payment_mode, count(*) AS transactions, CAST(sum(number_of_cans) AS BIGINT) AS cans,
       sum(amount) AS amount,
       coalesce(sum(amount) FILTER (WHERE NOT unpaid), 0) AS paid_amount,
       coalesce(sum(amount) FILTER (WHERE unpaid), 0) AS unpaid_amount,
       count(*) FILTER (WHERE unpaid) AS unpaid_transactions
FROM t WHERE day BETWEEN $start AND $end
GROUP BY payment_mode
ORDER BY amount DESC, payment_mode
"""

_TOP_CUSTOMERS = """
, vc AS (
    SELECT customer_id, count(*) AS visits, count(DISTINCT day) AS days_visited,
           min(local_start) AS first_visit, max(local_start) AS last_visit,
           round(avg(dwell_s), 1) AS avg_dwell_s
    FROM v WHERE day BETWEEN $start AND $end GROUP BY customer_id
), tc AS (
    SELECT customer_id, count(*) AS transactions, CAST(sum(number_of_cans) AS BIGINT) AS cans, sum(amount) AS amount,
           coalesce(sum(amount) FILTER (WHERE unpaid), 0) AS unpaid_amount
    FROM t WHERE day BETWEEN $start AND $end GROUP BY customer_id
)
SELECT vc.customer_id, c.label, vc.visits, vc.days_visited, vc.first_visit, vc.last_visit,
       vc.avg_dwell_s, coalesce(tc.transactions, 0) AS transactions, coalesce(tc.cans, 0) AS cans,
       coalesce(tc.amount, 0) AS amount, coalesce(tc.unpaid_amount, 0) AS unpaid_amount
FROM vc LEFT JOIN tc USING (customer_id) LEFT JOIN customers c USING (customer_id)
WHERE NOT coalesce(c.is_staff, false)
ORDER BY vc.visits DESC, amount DESC, vc.customer_id
LIMIT $n
"""


def _run(
    store: Store, sql: str, start: date, end: date, camera: str | None, **extra
) -> pd.DataFrame:
    params = {"tz": store.config.timezone, "start": start, "end": end, "camera": camera, **extra}
    return store.query(_BASE + sql, params)


def _range(store: Store, start: date | None, end: date | None) -> tuple[date, date]:
    """Fill a missing start or end with the first or last local day that has visits or sales."""
    if start is not None and end is not None:
        return start, end
    row = store.query(
        "SELECT min(d), max(d) FROM (SELECT CAST(timezone($tz, start) AS DATE) d FROM visits "
        "UNION ALL SELECT CAST(timezone($tz, ts) AS DATE) FROM transactions)",
        {"tz": store.config.timezone},
    ).iloc[0]
    today = pd.Timestamp.now(tz=store.config.timezone).date()
    first = row.iloc[0] if pd.notna(row.iloc[0]) else today
    last = row.iloc[1] if pd.notna(row.iloc[1]) else today
    return start or pd.Timestamp(first).date(), end or pd.Timestamp(last).date()


def daily_summary(
    store: Store, start: date | None = None, end: date | None = None, camera: str | None = None
) -> pd.DataFrame:
    """One row per local day from ``start`` to ``end`` (inclusive), days without visits included.

    Columns: ``day``, ``visits``, ``unique_customers``, ``new_customers`` (first
    visit ever), ``returning_customers``, ``avg_dwell_s``, ``first_visit`` and
    ``last_visit`` (local time of the first arrival and the last departure: the
    shop's effective opening and closing), ``transactions``, ``revenue`` (all sales,
    paid or not) and ``unpaid_amount`` (the part of ``revenue`` still unpaid).
    Without ``start``/``end`` the whole history in the store is summarised.
    """
    start, end = _range(store, start, end)
    return _run(store, _DAILY, start, end, camera)


def hourly_traffic(store: Store, day: date, camera: str | None = None) -> pd.DataFrame:
    """Traffic per local hour (0-23) of ``day``, quiet hours included.

    Columns: ``hour``, ``visits`` (visits that began in the hour),
    ``unique_customers`` (customers among them) and ``people_seen`` (face tracks
    seen at any moment of the hour, including people who stayed across the hour
    and people who were never identified).
    """
    return _run(store, _HOURLY, day, day, camera)


def payment_summary(
    store: Store, day: date, end: date | None = None, camera: str | None = None
) -> pd.DataFrame:
    """Sales per payment mode (cash, UPI, coin, ...) on ``day`` (or ``day`` to ``end``).

    Columns: ``payment_mode``, ``transactions``, ``cans``, ``amount`` (all sales),
    ``paid_amount``, ``unpaid_amount`` and ``unpaid_transactions``; largest amount first.
    """
    return _run(store, _PAYMENTS, day, end or day, camera)


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
    start, end = _range(store, start, end)
    return _run(store, _TOP_CUSTOMERS, start, end, camera, n=int(n))
