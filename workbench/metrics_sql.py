"""The SQL of every shop figure, written once.

Each builder takes the relations it reads (visits, till records, days) as SQL, so
the same text makes the views over the whole store, the figures ``compact`` stores
in a derived build, the corrections of those for days and customers changed since
(``create_metric_views``), and the slices ``workbench.analytics`` asks for (a date
range, one camera). Days and hours are the camera's local ones (``local_day``,
``local_start``, ``local_ts``); staff are left out: ``visits`` excludes them and
``CUSTOMER_TX`` drops their till records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import duckdb

from workbench.visits_sql import sql_str

if TYPE_CHECKING:
    from workbench.derived import Plan

PERIODS = ("day", "week", "month", "quarter", "year")
# till records of customers, not staff
CUSTOMER_TX = """(SELECT t.* FROM transactions t LEFT JOIN customer_labels l USING (customer_id)
                  WHERE NOT coalesce(l.is_staff, false))"""
# every day from the first to the last with a visit or a till record (of CTEs v and t)
DATA_DAYS = """SELECT CAST(d AS DATE) AS day FROM (
        SELECT min(local_day) AS lo, max(local_day) AS hi
        FROM (SELECT local_day FROM v UNION ALL SELECT local_day FROM t)
    ) r, generate_series(r.lo, r.hi, INTERVAL 1 DAY) g(d) WHERE r.lo IS NOT NULL"""


def summary(period: str, visits: str, tx: str, days: str = DATA_DAYS, paid: str = "t") -> str:
    """One row per ``period`` (day, week, month, quarter, year) of ``days``.

    ``visits`` and ``tx`` are the visits and till records counted; a visit converts
    when a paid record of ``paid`` (default: ``tx``) is linked to it.
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    label = "day" if period == "day" else "period_start"

    def trunc(column: str) -> str:
        return f"CAST(date_trunc('{period}', {column}) AS DATE)"

    return f"""
    WITH v AS (SELECT * FROM {visits}), t AS (SELECT * FROM {tx}),
    converted AS (
        SELECT DISTINCT visit_id FROM {paid}
        WHERE payment_status = 'Paid' AND visit_id IS NOT NULL
    ), vd AS (
        SELECT {trunc("local_day")} AS p, count(*) AS visits,
               count(DISTINCT customer_id) AS unique_customers,
               count(DISTINCT customer_id) FILTER (WHERE is_new) AS new_customers,
               avg(dwell_s) AS avg_dwell_s,
               date_trunc('second', min(local_start)) AS first_visit,
               date_trunc('second', max(local_end)) AS last_visit,
               count(*) FILTER (WHERE visit_id IN (SELECT visit_id FROM converted)) AS paid_visits
        FROM v GROUP BY 1
    ), td AS (
        SELECT {trunc("local_day")} AS p, count(*) AS transactions, sum(amount) AS revenue,
               coalesce(sum(amount) FILTER (WHERE payment_status = 'Unpaid'), 0) AS unpaid_amount
        FROM t GROUP BY 1
    ), ps AS (SELECT DISTINCT {trunc("day")} AS p FROM ({days}))
    SELECT ps.p AS {label},
           coalesce(visits, 0) AS visits,
           coalesce(unique_customers, 0) AS unique_customers,
           coalesce(new_customers, 0) AS new_customers,
           coalesce(unique_customers - new_customers, 0) AS returning_customers,
           avg_dwell_s, first_visit, last_visit,
           coalesce(transactions, 0) AS transactions,
           coalesce(revenue, 0) AS revenue,
           coalesce(unpaid_amount, 0) AS unpaid_amount,
           paid_visits / nullif(visits, 0) AS conversion
    FROM ps LEFT JOIN vd USING (p) LEFT JOIN td USING (p)
    ORDER BY 1"""


def hourly(visits: str, tx: str, days: str = DATA_DAYS) -> str:
    """Every local hour (0-23) of ``days``: visits that began in it, their customers, sales."""
    return f"""
    WITH v AS (SELECT * FROM {visits}), t AS (SELECT * FROM {tx}), vh AS (
        SELECT local_day AS day, hour(local_start) AS hour, count(*) AS visits,
               count(DISTINCT customer_id) AS unique_customers
        FROM v GROUP BY 1, 2
    ), th AS (
        SELECT local_day AS day, hour(local_ts) AS hour, count(*) AS transactions,
               sum(amount) AS revenue
        FROM t GROUP BY 1, 2
    )
    SELECT d.day, CAST(h.range AS INTEGER) AS hour,
           coalesce(visits, 0) AS visits, coalesce(unique_customers, 0) AS unique_customers,
           coalesce(transactions, 0) AS transactions, coalesce(revenue, 0) AS revenue
    FROM ({days}) d CROSS JOIN range(24) h
    LEFT JOIN vh ON vh.day = d.day AND vh.hour = h.range
    LEFT JOIN th ON th.day = d.day AND th.hour = h.range
    ORDER BY 1, 2"""


def payments(tx: str) -> str:
    """Per day and payment mode: records, cans, amount, paid and unpaid parts."""
    return f"""
    SELECT local_day AS day, payment_mode, count(*) AS transactions,
           CAST(sum(number_of_cans) AS BIGINT) AS cans, sum(amount) AS amount,
           coalesce(sum(amount) FILTER (WHERE payment_status = 'Paid'), 0) AS paid_amount,
           coalesce(sum(amount) FILTER (WHERE payment_status = 'Unpaid'), 0) AS unpaid_amount,
           count(*) FILTER (WHERE payment_status = 'Unpaid') AS unpaid_transactions
    FROM {tx} GROUP BY local_day, payment_mode ORDER BY local_day, amount DESC, payment_mode"""


def cans(tx: str) -> str:
    """Cans sold per day and can size (paid or not)."""
    return f"""
    SELECT local_day AS day, can_size, CAST(sum(number_of_cans) AS BIGINT) AS cans,
           count(*) AS transactions
    FROM {tx} GROUP BY local_day, can_size ORDER BY local_day, can_size"""


def unpaid(tx: str) -> str:
    """Every unpaid till record, newest first."""
    return f"""
    SELECT transaction_id, ts AS "timestamp", local_day AS day, customer_id, visit_id, camera,
           payment_mode, can_size, number_of_cans, amount, link_status
    FROM {tx} WHERE payment_status = 'Unpaid' ORDER BY ts DESC, transaction_id"""


def spend(tx: str) -> str:
    """Per customer: records, cans, amounts paid and unpaid, unpaid records, first/last purchase."""
    return f"""
    SELECT customer_id, count(*) AS transactions, CAST(sum(number_of_cans) AS BIGINT) AS cans,
           coalesce(sum(amount) FILTER (WHERE payment_status = 'Paid'), 0) AS amount_paid,
           coalesce(sum(amount) FILTER (WHERE payment_status = 'Unpaid'), 0) AS amount_unpaid,
           count(*) FILTER (WHERE payment_status = 'Unpaid') AS unpaid_count,
           min(ts) AS first_purchase, max(ts) AS last_purchase,
           max(ts) FILTER (WHERE payment_status = 'Unpaid') AS last_unpaid
    FROM {tx} WHERE customer_id IS NOT NULL GROUP BY customer_id"""


def seen(visits: str) -> str:
    """Per customer: first and last seen, visits, latest key image (staff included)."""
    return f"""
    SELECT customer_id, min(start) AS first_seen, max("end") AS last_seen,
           count(*) AS visit_count, arg_max(snapshot, start) AS snapshot
    FROM {visits} GROUP BY customer_id"""


def spend_view(spend_rel: str) -> str:
    """``customer_spend``: ``spend`` with names, biggest spenders first."""
    return f"""
    SELECT s.customer_id, l.label, s.transactions, s.cans, s.amount_paid, s.amount_unpaid,
           s.first_purchase, s.last_purchase
    FROM {spend_rel} s LEFT JOIN customer_labels l USING (customer_id)
    ORDER BY s.amount_paid + s.amount_unpaid DESC, s.customer_id"""


def defaulters_view(spend_rel: str, min_unpaid: int = 2) -> str:
    """``repeat_defaulters``: customers with ``min_unpaid`` or more unpaid records, most owed first."""
    return f"""
    SELECT s.customer_id, l.label, s.unpaid_count, s.amount_unpaid AS unpaid_amount,
           s.last_unpaid, s.transactions, s.unpaid_count / s.transactions AS unpaid_share
    FROM {spend_rel} s LEFT JOIN customer_labels l USING (customer_id)
    WHERE s.unpaid_count >= {int(min_unpaid)}
    ORDER BY unpaid_amount DESC, s.unpaid_count DESC, s.customer_id"""


# Figures a derived build stores, each keyed by the day or the customer it is about:
# name -> (key, SQL over the whole store or a slice). A slice gives the visits, till
# records, days and the records whose visits' conversion counts.
FIGURES = {
    "daily_summary": ("day", lambda v, t, d, p: summary("day", v, t, d, p)),
    "hourly_traffic": ("day", lambda v, t, d, p: hourly(v, t, d)),
    "payment_summary": ("day", lambda v, t, d, p: payments(t)),
    "cans_per_day": ("day", lambda v, t, d, p: cans(t)),
    "unpaid": ("day", lambda v, t, d, p: unpaid(t)),
    "_spend": ("customer_id", lambda v, t, d, p: spend(t)),
    "_seen": ("customer_id", lambda v, t, d, p: seen(v)),
}
WHOLE = {"v": "visits", "t": CUSTOMER_TX, "d": DATA_DAYS, "p": "t"}
ORDER = {  # the order a figure's rows are read in
    "daily_summary": "day", "hourly_traffic": "day, hour",
    "payment_summary": "day, amount DESC, payment_mode", "cans_per_day": "day, can_size",
    "unpaid": '"timestamp" DESC, transaction_id', "_spend": "customer_id", "_seen": "customer_id",
}  # fmt: skip


def figure_sql(name: str) -> str:
    """A figure over the whole store (``_seen`` counts staff too: ``customers`` shows them)."""
    v = "all_visits" if name == "_seen" else WHOLE["v"]
    return FIGURES[name][1](v, WHOLE["t"], WHOLE["d"], WHOLE["p"])


def _fresh(name: str, hints: dict) -> str:
    """A figure for the days or customers changed since the build only.

    Days: the visits and records of those days, read as a range of the build's row
    groups (``hints["days"]``: first and last changed day, ``hints["ts"]``: a range of
    times that holds every record linked to a visit of those days). Customers: the
    build's row corrected by what was removed and added (``_spend_delta``,
    ``_seen_delta``), except where that cannot be exact.
    """
    key, sql = FIGURES[name]
    if key == "customer_id":
        return {"_spend": _spend_delta, "_seen": _seen_delta}[name](hints)
    dirty = "(SELECT day FROM _dirty_days)"
    days = f"local_day BETWEEN {hints['days'][0]} AND {hints['days'][1]} AND local_day IN {dirty}"
    visits = f"(SELECT * FROM visits WHERE {days})"
    tx = f"(SELECT * FROM {CUSTOMER_TX} x WHERE {days})"
    paid = f"""(SELECT * FROM {CUSTOMER_TX} x WHERE ts BETWEEN {hints["ts"][0]} AND {hints["ts"][1]}
                AND visit_local_day IN {dirty})"""
    return sql(visits, tx, "SELECT day FROM _dirty_days", paid)


def _customer_tx(rows: str) -> str:
    """Till records ``rows`` (with the link columns) as ``CUSTOMER_TX`` has them."""
    return f"""(SELECT r.*, coalesce(m.into_id, r.till_customer_id, r.visit_customer_id) AS customer_id
        FROM (SELECT * EXCLUDE (customer_id) FROM {rows}) r
        LEFT JOIN customer_merges m ON m.customer_id = r.till_customer_id
        LEFT JOIN customer_labels l ON l.customer_id = coalesce(m.into_id, r.till_customer_id, r.visit_customer_id)
        WHERE NOT coalesce(l.is_staff, false))"""


def _spend_delta(hints: dict) -> str:
    """``_spend`` of changed customers: the build's sums minus the records linked again
    (``_redo_old``) plus their new links (``_relinked``). Customers who lost a record
    (its first or last purchase may go with it), and every changed customer after an
    edit since the build (merges and staff move records that were not linked again),
    are summed from all their records."""
    dirty = "(SELECT customer_id FROM _dirty_customers)"
    whole = spend(f"(SELECT * FROM {CUSTOMER_TX} x WHERE customer_id IN {{}})")
    if not hints["tx_delta"]:
        return whole.format(dirty)
    lost = f" UNION ALL BY NAME {whole.format('(SELECT customer_id FROM _lost)')}"
    return f"""
    WITH d AS (
        SELECT -1 AS sign, * FROM {_customer_tx("_redo_old")}
        UNION ALL BY NAME SELECT 1 AS sign, * FROM {_customer_tx("_relinked")}
    ), delta AS (
        SELECT customer_id, sum(sign) AS n, sum(sign * number_of_cans) AS cans,
               coalesce(sum(sign * amount) FILTER (WHERE payment_status = 'Paid'), 0) AS paid,
               coalesce(sum(sign * amount) FILTER (WHERE payment_status = 'Unpaid'), 0) AS unpaid,
               coalesce(sum(sign) FILTER (WHERE payment_status = 'Unpaid'), 0) AS unpaid_n,
               min(ts) FILTER (WHERE sign = 1) AS first_p, max(ts) FILTER (WHERE sign = 1) AS last_p,
               max(ts) FILTER (WHERE sign = 1 AND payment_status = 'Unpaid') AS last_u
        FROM d WHERE customer_id IS NOT NULL GROUP BY customer_id
    ), b AS (SELECT * FROM read_parquet({hints["spend"]}) WHERE customer_id IN {dirty})
    SELECT customer_id,
           coalesce(b.transactions, 0) + coalesce(d.n, 0) AS transactions,
           CAST(coalesce(b.cans, 0) + coalesce(d.cans, 0) AS BIGINT) AS cans,
           coalesce(b.amount_paid, 0) + coalesce(d.paid, 0) AS amount_paid,
           coalesce(b.amount_unpaid, 0) + coalesce(d.unpaid, 0) AS amount_unpaid,
           coalesce(b.unpaid_count, 0) + coalesce(d.unpaid_n, 0) AS unpaid_count,
           least(b.first_purchase, d.first_p) AS first_purchase,
           greatest(b.last_purchase, d.last_p) AS last_purchase,
           greatest(b.last_unpaid, d.last_u) AS last_unpaid
    FROM b FULL JOIN delta d USING (customer_id)
    WHERE customer_id NOT IN (SELECT customer_id FROM _lost)
      AND coalesce(b.transactions, 0) + coalesce(d.n, 0) > 0
    {lost if hints["lost"] else ""}"""


def _lost_sql() -> str:
    """Customers who lost a till record (or its paid state) since the build."""
    return f"""SELECT DISTINCT customer_id FROM (
        SELECT customer_id, transaction_id, ts, payment_status, sum(sign) AS n
        FROM (SELECT -1 AS sign, * FROM {_customer_tx("_redo_old")}
              UNION ALL BY NAME SELECT 1 AS sign, * FROM {_customer_tx("_relinked")}) GROUP BY ALL
    ) WHERE n < 0 AND customer_id IS NOT NULL"""


def _seen_join(seen_path: str) -> str:
    """Per changed customer not edited: the build's ``_seen`` row (b), the visits made again (a)
    and the build visits they replaced (tails)."""
    dirty = "(SELECT customer_id FROM _dirty_customers)"
    return f"""
    a AS (
        SELECT customer_id, count(*) AS n, min(start) AS first, max("end") AS last,
               max(start) AS last_start, arg_max(snapshot, start) AS snapshot
        FROM _redone WHERE customer_id IN {dirty}
                           AND customer_id NOT IN (SELECT customer_id FROM _edited) GROUP BY 1
    ), r AS (SELECT customer_id, count(*) AS n FROM _tail GROUP BY 1
    ), b AS (SELECT * FROM read_parquet({seen_path}) WHERE customer_id IN {dirty}
                 AND customer_id NOT IN (SELECT customer_id FROM _edited)
    ), j AS (
        SELECT customer_id, b.first_seen, b.last_seen, b.visit_count, b.snapshot AS b_snapshot,
               a.n, a.first, a.last, a.last_start, a.snapshot AS a_snapshot, coalesce(r.n, 0) AS tails
        FROM b FULL JOIN a USING (customer_id) LEFT JOIN r USING (customer_id)
    )"""


def _unsure_sql(seen_path: str) -> str:
    """Customers whose visits made again do not all begin after the build's last one ended:
    their latest key image is not known from the build's row."""
    return f"WITH {_seen_join(seen_path)} SELECT customer_id FROM j WHERE n IS NOT NULL AND last_start <= last_seen"


def _seen_delta(hints: dict) -> str:
    """``_seen`` of changed customers: edited ones from all their visits (``_redone`` holds
    them all); others from the build's row, minus the build visits new tracks joined
    (``_tail``), plus the visits made again (``_redone``); ``_unsure`` ones from all visits."""
    dirty = "(SELECT customer_id FROM _dirty_customers)"
    unsure = "(SELECT * FROM all_visits WHERE customer_id IN (SELECT customer_id FROM _unsure))"
    return f"""
    WITH {_seen_join(hints["seen"])}
    SELECT customer_id, least(first_seen, first) AS first_seen, greatest(last_seen, last) AS last_seen,
           coalesce(visit_count, 0) - tails + coalesce(n, 0) AS visit_count,
           CASE WHEN n IS NULL THEN b_snapshot ELSE a_snapshot END AS snapshot
    FROM j WHERE customer_id NOT IN (SELECT customer_id FROM _unsure)
    UNION ALL BY NAME {seen(f"(SELECT * FROM _redone WHERE customer_id IN {dirty} AND customer_id IN (SELECT customer_id FROM _edited))")}
    {f"UNION ALL BY NAME {seen(unsure)}" if hints["unsure"] else ""}"""


def _fresh_name(name: str) -> str:
    return "_fresh_" + name.lstrip("_")


def _corrected(name: str, path: str) -> str:
    """The build's figure, its changed days or customers replaced by ``_fresh_<name>``."""
    key = FIGURES[name][0]
    dirty = (
        "(SELECT customer_id FROM _dirty_customers)"
        if key == "customer_id"
        else "(SELECT day FROM _dirty_days)"
    )
    union = f"""SELECT * FROM read_parquet({path}) WHERE {key} NOT IN {dirty}
                UNION ALL BY NAME SELECT * FROM {_fresh_name(name)}"""
    if key == "customer_id":  # a million rows: the views that read them order them
        return union
    if name not in ("daily_summary", "hourly_traffic"):
        return f"{union} ORDER BY {ORDER[name]}"
    # a calendar runs from the first to the last day with data: drop days that lost theirs
    return f"""WITH u AS ({union}), busy AS (
        SELECT day FROM u GROUP BY day HAVING sum(visits) + sum(transactions) > 0)
        SELECT * FROM u WHERE day BETWEEN (SELECT min(day) FROM busy) AND (SELECT max(day) FROM busy)
        ORDER BY {ORDER[name]}"""


def create_metric_views(
    con: duckdb.DuckDBPyConnection,
    plan: Plan,
    materialize: Callable[[str, str], None] | None,
    hints: dict | None = None,
) -> None:
    """The figures, one view each: computed, read from a derived build, or read and corrected
    (the corrections computed once, by ``materialize``, when the plan is dirty, with the
    bounds in ``hints`` from ``workbench.views_visits``)."""
    if materialize is not None:  # customers whose figures cannot be corrected by a delta
        hints = {**hints, "seen": sql_str(str(plan.build / "_seen.parquet")),
                 "spend": sql_str(str(plan.build / "_spend.parquet"))}  # fmt: skip
        for name, sql in (("_unsure", _unsure_sql(hints["seen"])), ("_lost", _lost_sql())):
            if name == "_lost" and not hints["tx_delta"]:
                continue
            materialize(name, sql)
            hints[name.strip("_")] = (
                con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0] > 0
            )
    for name in FIGURES:
        path = sql_str(str(plan.build / f"{name}.parquet")) if plan.build else ""
        if plan.build is None:
            body = figure_sql(name)
        elif plan.clean:
            body = f"SELECT * FROM read_parquet({path})"
        else:
            materialize(_fresh_name(name), _fresh(name, hints))
            body = _corrected(name, path)
        con.execute(f"CREATE VIEW {name} WITH (DEFER_BINDING) AS {body}")
    views = {
        "customer_spend": spend_view("_spend"),
        "repeat_defaulters": defaulters_view("_spend"),
        "customers": """SELECT s.customer_id, s.first_seen, s.last_seen, s.visit_count, l.label,
                               coalesce(l.is_staff, false) AS is_staff, s.snapshot
                        FROM _seen s LEFT JOIN customer_labels l USING (customer_id)""",
    }
    for name, sql in views.items():
        con.execute(f"CREATE VIEW {name} WITH (DEFER_BINDING) AS {sql}")
