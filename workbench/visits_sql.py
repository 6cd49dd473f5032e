"""The SQL that turns face tracks into visits and links till records to them, written once.

The views (``workbench.views``) run it over the events at query time, and
``workbench.derived`` runs the very same text over the whole store when it builds
the tables that make the views fast at scale; so a cached answer and a fresh one
can never be computed differently.

* ``local_time(camera, ts)`` (a DuckDB macro in every connection): the wall-clock
  time at the camera, in its configured timezone (the site's for ``''``).
* ``sessionize``: a customer's tracks at one camera form one visit until they are
  absent for longer than ``visits.gap_s``; ``is_new`` marks a customer's first visit.
* ``link``: a till record with a customer id belongs to that customer (after
  merges) and to their visit in progress; one without belongs to the one customer
  whose visit at the till camera (``transactions.till_camera``; any camera when
  unset) is in progress at its time, give or take ``transactions.link_window_s``.
  Visits in progress at the exact time win over ones only within the window.
  Otherwise it stays unlinked, and ``link_status`` says why: ``ambiguous`` (several
  customers at the till), ``no_visit`` (the camera has footage that day, but no
  identified customer then) or ``no_footage`` (no track at that camera that day).
"""

from __future__ import annotations

from workbench.config import Config

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US

# the columns of a visit, in order, wherever visits are computed or stored
VISIT_COLUMNS = [
    "visit_id", "customer_id", "camera", "start", "end", "dwell_s", "is_new", "tracks",
    "snapshot", "quality", "local_start", "local_end", "local_day",
]  # fmt: skip
# the link of a till record, added to its own columns
LINK_COLUMNS = [
    "till_customer_id", "link_camera", "local_ts", "local_day", "link_status", "link_candidates",
    "visit_id", "visit_customer_id", "visit_local_day",
]  # fmt: skip
LINK_STATUSES = ("given", "linked", "ambiguous", "no_visit", "no_footage")


def sql_str(value: str | None) -> str:
    """A SQL string literal (or NULL)."""
    return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"


def local_time_macro(config: Config) -> str:
    """``CREATE MACRO local_time(camera, ts)``: the camera's wall-clock time, without a zone.

    Each branch names its zone as a constant, which DuckDB converts much faster than
    a zone taken from a column.
    """
    site = config.timezone
    own = [(c.id, c.timezone) for c in config.cameras if c.timezone and c.timezone != site]
    expr = f"timezone({sql_str(site)}, ts)"
    if own:
        whens = " ".join(f"WHEN {sql_str(c)} THEN timezone({sql_str(tz)}, ts)" for c, tz in own)
        expr = f"CASE camera {whens} ELSE {expr} END"
    return f"CREATE OR REPLACE MACRO local_time(camera, ts) AS {expr}"


def settings_key(config: Config) -> dict:
    """Every setting the stored visits and links depend on (a derived build is valid only for these)."""
    return {
        "gap_s": float(config.visits.gap_s),
        "till_camera": config.transactions.till_camera,
        "link_window_s": float(config.transactions.link_window_s),
        "timezone": config.timezone,
        "camera_timezones": {c.id: c.timezone for c in config.cameras if c.timezone},
    }


def spans(relation: str, where: str = "true") -> str:
    """The columns ``sessionize`` reads, from a relation of resolved tracks (one track each)."""
    return (
        f'(SELECT customer_id, camera, start, "end", snapshot, quality, 1 AS tracks '
        f"FROM {relation} WHERE {where})"
    )


def sessionize(spans: str, gap_s: float) -> str:
    """Visits (``VISIT_COLUMNS``) from ``spans``: intervals of a customer at a camera.

    ``spans`` has ``customer_id, camera, start, end, snapshot, quality, tracks``: a
    track (see ``spans``), or a visit computed before, whose ``tracks`` it counts
    (sessions of sessions are the same sessions). ``is_new`` is right only when the
    relation holds every visit of each customer it holds.
    """
    gap_us = int(round(gap_s * 1e6))
    return f"""
    WITH t AS (
        SELECT customer_id, camera, start, "end", snapshot, quality, tracks
        FROM {spans} WHERE customer_id IS NOT NULL
    ), flagged AS (
        SELECT *,
            CASE WHEN epoch_us(start) > epoch_us(max("end") OVER w) + {gap_us}
                 THEN 1 ELSE 0 END AS starts_visit
        FROM t
        WINDOW w AS (PARTITION BY customer_id, camera ORDER BY start, "end"
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
    ), numbered AS (
        SELECT *, sum(starts_visit) OVER (PARTITION BY customer_id, camera ORDER BY start, "end"
                                          ROWS UNBOUNDED PRECEDING) AS n
        FROM flagged
    ), v AS (
        SELECT customer_id, camera, min(start) AS start, max("end") AS "end",
               arg_max(snapshot, quality) AS snapshot, max(quality) AS quality,
               CAST(sum(tracks) AS BIGINT) AS tracks
        FROM numbered GROUP BY customer_id, camera, n
    )
    SELECT substr(md5(customer_id || '|' || camera || '|' || CAST(epoch_us(start) AS VARCHAR)), 1, 12)
               AS visit_id,
           customer_id, camera, start, "end",
           (epoch_us("end") - epoch_us(start)) / 1e6 AS dwell_s,
           row_number() OVER (PARTITION BY customer_id ORDER BY start, camera) = 1 AS is_new,
           tracks, snapshot, quality,
           local_time(camera, start) AS local_start, local_time(camera, "end") AS local_end,
           CAST(local_time(camera, start) AS DATE) AS local_day
    FROM v
    """


def link(tx: str, visits: str, footage: str, config: Config) -> str:
    """Till records of relation ``tx`` with their link (``LINK_COLUMNS``) added.

    ``visits``: candidate visits (non-staff; ``visit_id, customer_id, camera, start,
    end``) covering the records' times. ``footage``: ``(camera, local_day)`` pairs with
    any track. ``customer_merges`` resolves ids given by the till.
    """
    w = int(round(config.transactions.link_window_s * 1e6))
    till = sql_str(config.transactions.till_camera)
    window = f'epoch_us(t.ts) BETWEEN epoch_us(v.start) - {w} AND epoch_us(v."end") + {w}'
    cols = (
        't.transaction_id, t.ts, t.link_camera, v.visit_id, v.customer_id, v.camera, v.start, v."end", '
        "v.local_day"
    )
    return f"""
    WITH t AS (
        SELECT x.*, nullif(x.customer_id, '') AS till_customer_id,
               coalesce(m.into_id, nullif(x.customer_id, '')) AS given,
               coalesce(nullif(x.camera, ''), {till}) AS link_camera,
               epoch_us(x.ts) // {HOUR_US} AS b
        FROM {tx} x LEFT JOIN customer_merges m ON m.customer_id = nullif(x.customer_id, '')
    ), vb AS (
        SELECT visit_id, customer_id, camera, start, "end", local_day,
               unnest(range((epoch_us(start) - {w}) // {HOUR_US},
                            (epoch_us("end") + {w}) // {HOUR_US} + 1)) AS b
        FROM {visits}
    ), pairs AS (
        SELECT {cols} FROM t JOIN vb v ON v.customer_id = t.given AND v.b = t.b WHERE {window}
        UNION ALL
        SELECT {cols} FROM t JOIN vb v ON v.camera = t.link_camera AND v.b = t.b
        WHERE t.given IS NULL AND {window}
        UNION ALL
        SELECT {cols} FROM t JOIN vb v ON v.b = t.b
        WHERE t.given IS NULL AND t.link_camera IS NULL AND {window}
    ), ranked AS (
        SELECT *, ts BETWEEN start AND "end" AS strict,
               row_number() OVER (PARTITION BY transaction_id
                                  ORDER BY ts BETWEEN start AND "end" DESC,
                                           camera = link_camera DESC NULLS LAST,
                                           start DESC, visit_id) AS rank
        FROM pairs
    ), per_tx AS (
        SELECT transaction_id,
               count(DISTINCT customer_id) FILTER (WHERE strict) AS n_strict,
               count(DISTINCT customer_id) AS n_any,
               any_value(visit_id) FILTER (WHERE rank = 1) AS best_visit,
               any_value(customer_id) FILTER (WHERE rank = 1) AS best_customer,
               any_value(local_day) FILTER (WHERE rank = 1) AS best_day
        FROM ranked GROUP BY transaction_id
    ), fd AS (SELECT DISTINCT camera, local_day FROM {footage}
    ), f AS (SELECT camera, local_day FROM fd UNION SELECT NULL, local_day FROM fd
    ), linked AS (
        SELECT t.* EXCLUDE (b, given),
               local_time(coalesce(t.link_camera, ''), t.ts) AS local_ts,
               t.given, p.n_strict, p.n_any, p.best_visit, p.best_customer, p.best_day
        FROM t LEFT JOIN per_tx p USING (transaction_id)
    ), decided AS (
        SELECT l.*, CAST(l.local_ts AS DATE) AS local_day,
               CASE WHEN l.given IS NOT NULL THEN 'given'
                    WHEN l.n_strict = 1 OR (l.n_strict = 0 AND l.n_any = 1) THEN 'linked'
                    WHEN l.n_any > 1 THEN 'ambiguous'
                    WHEN EXISTS (SELECT 1 FROM f WHERE f.camera IS NOT DISTINCT FROM l.link_camera
                                 AND f.local_day = CAST(l.local_ts AS DATE)) THEN 'no_visit'
                    ELSE 'no_footage' END AS link_status
        FROM linked l
    )
    SELECT * EXCLUDE (given, n_strict, n_any, best_visit, best_customer, best_day),
           CAST(coalesce(n_any, 0) AS INTEGER) AS link_candidates,
           CASE WHEN link_status IN ('given', 'linked') THEN best_visit END AS visit_id,
           CASE WHEN link_status IN ('given', 'linked') THEN best_customer END AS visit_customer_id,
           CASE WHEN link_status IN ('given', 'linked') THEN best_day END AS visit_local_day
    FROM decided
    """
