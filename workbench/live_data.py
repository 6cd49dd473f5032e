"""What is happening now, from the store: the figures the API and the live notebook show.

Plain functions over the store's views (they read while a live service writes), each
returning JSON-ready values: who is in the shop, today's figures, camera health, alerts,
the latest heat map as a PNG.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import cv2
import numpy as np
import pandas as pd

from workbench import analytics
from workbench.store import Store


def records(df: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts: ISO 8601 times, nulls for missing values."""
    return json.loads(df.to_json(orient="records", date_format="iso", date_unit="s"))


def today(store: Store) -> date:
    return datetime.now(UTC).astimezone(_tz(store)).date()


def _tz(store: Store):
    from zoneinfo import ZoneInfo

    return ZoneInfo(store.config.timezone)


def current_customers(store: Store, now: datetime | None = None) -> dict:
    """People in the shop now: customers whose visit is still open (seen within
    ``visits.gap_s``), and people in view per camera in the last occupancy interval."""
    now = now or datetime.now(UTC)
    gap = timedelta(seconds=store.config.visits.gap_s)
    recent = timedelta(seconds=3 * store.config.people.occupancy_interval_s)
    customers = store.query(
        """SELECT v.customer_id, v.camera, v.start AS since, v."end" AS last_seen, v.is_new,
                  c.label
           FROM visits v LEFT JOIN customers c USING (customer_id)
           WHERE v."end" >= $since
           QUALIFY row_number() OVER (PARTITION BY v.customer_id ORDER BY v."end" DESC) = 1
           ORDER BY v."end" DESC""",
        {"since": now - gap},
    )
    people = store.query(
        """SELECT camera, arg_max(people_max, ts) AS people
           FROM occupancy WHERE zone = '' AND ts >= $since GROUP BY camera ORDER BY camera""",
        {"since": now - recent},
    )
    return {
        "at": now.isoformat(),
        "customers": records(customers),
        "people_in_view": {r.camera: int(r.people) for r in people.itertuples()},
    }


def daily(store: Store, day: date, camera: str | None = None) -> dict:
    """A day's figures (``analytics.daily_summary``), its hours, and entries at counting lines."""
    summary = analytics.daily_summary(store, day, day, camera)
    hours = analytics.hourly_traffic(store, day, camera)
    entries = store.query(
        "SELECT coalesce(sum(entries), 0) AS entries, coalesce(sum(exits), 0) AS exits "
        "FROM footfall WHERE local_day = $day AND ($camera::VARCHAR IS NULL OR camera = $camera)",
        {"day": day, "camera": camera},
    ).iloc[0]
    return {
        "date": day.isoformat(),
        "summary": records(summary)[0] if len(summary) else {},
        "entries": int(entries["entries"]),
        "exits": int(entries["exits"]),
        "hours": records(hours),
    }


def camera_health(store: Store) -> list[dict]:
    """The newest ``camera_health`` row of each camera."""
    return records(
        store.query(
            "SELECT * EXCLUDE (run_id) FROM camera_health "
            "QUALIFY row_number() OVER (PARTITION BY camera ORDER BY ts DESC) = 1 ORDER BY camera"
        )
    )


def alerts_since(store: Store, since: datetime | None = None) -> list[dict]:
    """Alerts (the ``alerts`` view) from ``since`` on, oldest first."""
    return records(
        store.query(
            "SELECT * EXCLUDE (run_id) FROM alerts WHERE $since::TIMESTAMPTZ IS NULL "
            "OR ts >= $since ORDER BY ts",
            {"since": since},
        )
    )


def heatmap_png(store: Store, camera: str | None = None) -> tuple[str, date, bytes] | None:
    """The latest day's heat map of a camera (the first with heat when None), picture space,
    as a PNG the size of the camera's picture: (camera, local day, PNG), or None without heat."""
    cells = store.query(
        """WITH latest AS (
               SELECT camera, max(local_day) AS day FROM heatmap WHERE space = 'image'
                 AND ($camera::VARCHAR IS NULL OR camera = $camera) GROUP BY camera
               ORDER BY camera LIMIT 1)
           SELECT h.camera, h.local_day, cell_x, cell_y, any_value(cell_size) AS cell_size,
                  sum(seconds) AS seconds
           FROM heatmap h JOIN latest l ON h.camera = l.camera AND h.local_day = l.day
           WHERE space = 'image' GROUP BY ALL""",
        {"camera": camera},
    )
    if cells.empty:
        return None
    cols = max(store.config.people.heat_cells, int(cells["cell_x"].max()) + 1)
    rows = int(cells["cell_y"].max()) + 1
    grid = np.zeros((rows, cols), np.float64)
    np.add.at(
        grid, (cells["cell_y"].to_numpy(int), cells["cell_x"].to_numpy(int)), cells["seconds"]
    )
    scaled = np.log1p(grid)
    scaled = (255 * scaled / scaled.max()).astype(np.uint8) if scaled.max() > 0 else scaled
    px = max(1, round(float(cells["cell_size"].iloc[0])))
    image = cv2.applyColorMap(scaled.astype(np.uint8), cv2.COLORMAP_INFERNO)
    image = cv2.resize(image, (cols * px, rows * px), interpolation=cv2.INTER_NEAREST)
    ok, png = cv2.imencode(".png", image)
    day = pd.Timestamp(cells["local_day"].iloc[0]).date()
    return str(cells["camera"].iloc[0]), day, png.tobytes()
