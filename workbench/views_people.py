"""Views over the people-counting events (``workbench.pipeline_people``).

Hours and days are each camera's wall clock (``local_time``). Footfall is entries:
crossings of a counting line in the 'in' direction.
"""

from __future__ import annotations

import duckdb

VIEWS = {
    # entries and exits per counting line and local hour
    "footfall": """
        SELECT camera, line, CAST(local_time(camera, ts) AS DATE) AS local_day,
               hour(local_time(camera, ts)) AS local_hour,
               count(*) FILTER (WHERE direction = 'in') AS entries,
               count(*) FILTER (WHERE direction = 'out') AS exits
        FROM crossings GROUP BY ALL ORDER BY ALL""",
    # each stay of a person in a zone; customer dwell: WHERE NOT is_staff
    "zone_visits": """
        SELECT e.camera, e.zone, e.track_id,
               e.ts - to_microseconds(CAST(e.dwell_s * 1e6 AS BIGINT)) AS start, e.ts AS "end",
               e.dwell_s, e.staff_zone, coalesce(p.is_staff, false) AS is_staff
        FROM zone_events e
        LEFT JOIN person_tracks p ON p.camera = e.camera AND p.track_id = e.track_id
        WHERE e.kind = 'exit'""",
    # person-seconds per heat-map cell and local hour (all headings together)
    "heatmap": """
        SELECT camera, space, CAST(local_time(camera, ts) AS DATE) AS local_day,
               hour(local_time(camera, ts)) AS local_hour, cell_x, cell_y,
               any_value(cell_size) AS cell_size, sum(seconds) AS seconds
        FROM heat GROUP BY camera, space, local_day, local_hour, cell_x, cell_y""",
    # per cell: the heading people walk most, and its share of the time they walk there
    "flow": """
        WITH h AS (
            SELECT camera, space, cell_x, cell_y, heading, sum(seconds) AS seconds
            FROM heat WHERE heading <> '' GROUP BY ALL
        )
        SELECT camera, space, cell_x, cell_y, arg_max(heading, seconds) AS heading,
               max(seconds) / sum(seconds) AS share, sum(seconds) AS moving_seconds
        FROM h GROUP BY camera, space, cell_x, cell_y""",
    # people per square metre in zones mapped onto the floor plan
    "density": """
        SELECT camera, zone, ts, seconds, people_mean, people_max,
               people_mean / area_m2 AS people_per_m2, close_pairs_mean, close_pairs_max
        FROM occupancy WHERE zone <> '' AND area_m2 > 0""",
}


def create_people_views(con: duckdb.DuckDBPyConnection) -> None:
    """The views above; needs the event views and the ``local_time`` macro."""
    for name, sql in VIEWS.items():
        con.execute(f"CREATE VIEW {name} WITH (DEFER_BINDING) AS {sql}")
