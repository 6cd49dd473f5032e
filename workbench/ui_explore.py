"""``notebooks/explore.ipynb``: SQL over the store's views, a table and a chart, with filters.

The filters (date range, camera) reach the SQL as the named parameters ``$start``,
``$end`` and ``$camera`` (NULL for every camera), the same convention as the
package's own queries (``workbench.analytics``), so a query pasted from the notebook
works in Python with ``store.query(sql, {"start": ..., "end": ..., "camera": ...})``.
"""

from __future__ import annotations

import os
import re
from datetime import date, timedelta

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.store import Store
from workbench.ui_common import FigureBox, guarded, open_store, status_line

ALL_CAMERAS = "(every camera)"
MAX_ROWS_SHOWN = 200
CHART_KINDS = ("line", "bar", "scatter", "area", "heatmap")
PARAMETERS = ("start", "end", "camera")

DEFAULT_SQL = """\
-- $start, $end (dates) and $camera (NULL: every camera) come from the filters above
SELECT local_day AS day, camera, count(*) AS visits,
       count(DISTINCT customer_id) AS customers, round(avg(dwell_s) / 60, 1) AS avg_minutes
FROM visits
WHERE local_day BETWEEN $start AND $end AND ($camera::VARCHAR IS NULL OR camera = $camera)
GROUP BY ALL ORDER BY ALL"""


class QueryError(WorkbenchError):
    """SQL the store's views could not answer."""


def store_extent(store: Store) -> tuple[list[str], date | None, date | None]:
    """Cameras and the first and last local day with events, from the partition folders (cheap)."""
    days, cameras = set(), set()
    if store.events_dir.is_dir():
        for part in store.events_dir.glob("*/date=*/camera=*"):
            days.add(part.parent.name.removeprefix("date="))
            cameras.add(part.name.removeprefix("camera="))
        for part in store.events_dir.glob("*/month=*/camera=*"):  # closed months, compacted
            first = date.fromisoformat(part.parent.name.removeprefix("month=") + "-01")
            last = (first + timedelta(days=31)).replace(day=1) - timedelta(days=1)
            days |= {first.isoformat(), last.isoformat()}
            cameras.add(part.name.removeprefix("camera="))
    cameras |= {c.id for c in store.config.cameras}
    if not days:
        return sorted(cameras), None, None
    return sorted(cameras), date.fromisoformat(min(days)), date.fromisoformat(max(days))


def view_names(store: Store) -> list[str]:
    """The views a query can read (internal helpers, named ``_...``, left out)."""
    df = store.query(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND view_name NOT LIKE '\\_%' "
        "ESCAPE '\\' ORDER BY 1"
    )
    return list(df["view_name"])


def run_sql(
    store: Store, sql: str, start: date | None, end: date | None, camera: str | None
) -> pd.DataFrame:
    """Run ``sql`` with whichever of ``$start``, ``$end``, ``$camera`` it uses."""
    import duckdb

    values = {"start": start, "end": end, "camera": camera}
    used = {p for p in PARAMETERS if re.search(rf"\${p}\b", sql)}
    try:
        return store.query(sql, {p: values[p] for p in used})
    except duckdb.Error as exc:
        raise QueryError(
            f"query failed: {str(exc).splitlines()[0]}\nviews: {', '.join(view_names(store))}"
        ) from None


def guess_axes(df: pd.DataFrame) -> tuple[str | None, str | None, str | None]:
    """A sensible x (first column), y (first number after it) and colour (a text column)."""
    if df.empty or len(df.columns) < 2:
        return (df.columns[0] if len(df.columns) else None), None, None
    x = df.columns[0]
    rest = [c for c in df.columns if c != x]
    numbers = [c for c in rest if pd.api.types.is_numeric_dtype(df[c])]
    y = numbers[0] if numbers else rest[0]
    texts = [
        c for c in rest if c != y and pd.api.types.is_string_dtype(df[c]) and df[c].nunique() <= 20
    ]
    return x, y, (texts[0] if texts else None)


def chart(df: pd.DataFrame, kind: str, x: str | None, y: str | None, color: str | None = None):
    """A plotly figure of ``df``: ``kind`` is line, bar, scatter, area or heatmap (x by color)."""
    import plotly.express as px
    import plotly.graph_objects as go

    if df.empty or not x or not y:
        return go.Figure(layout={"title": "no rows to chart"})
    if kind == "heatmap":
        if not color:
            raise QueryError("a heatmap needs a column for its rows: pick one as colour")
        grid = df.pivot_table(index=color, columns=x, values=y, aggfunc="sum")
        return px.imshow(grid, aspect="auto", labels={"color": y}, title=f"{y} by {x} and {color}")
    draw = {"line": px.line, "bar": px.bar, "scatter": px.scatter, "area": px.area}[kind]
    fig = draw(df, x=x, y=y, color=color or None, title=f"{y} by {x}")
    return fig.update_layout(legend_title_text=color or "")


def overview_figures(store: Store, start: date, end: date, camera: str | None = None) -> list:
    """Ready-made charts for a date range: visits per day, visits by weekday and hour,
    and entries per day where people counting wrote line crossings."""
    params = (start, end, camera)
    where = "BETWEEN $start AND $end AND ($camera::VARCHAR IS NULL OR camera = $camera)"
    daily = run_sql(
        store,
        f"SELECT local_day AS day, camera, count(*) AS visits FROM visits "
        f"WHERE local_day {where} GROUP BY ALL ORDER BY ALL",
        *params,
    )
    hours = run_sql(
        store,
        "SELECT dayname(local_start) AS weekday, isodow(local_start) AS dow, "
        f"hour(local_start) AS hour, count(*) AS visits FROM visits WHERE local_day {where} "
        "GROUP BY ALL ORDER BY dow, hour",
        *params,
    )
    entries = run_sql(
        store,
        f"SELECT local_day AS day, camera, sum(entries) AS entries FROM footfall "
        f"WHERE local_day {where} GROUP BY ALL ORDER BY ALL",
        *params,
    )
    figures = [chart(daily, "line", "day", "visits", "camera")]
    if not hours.empty:
        order = list(dict.fromkeys(hours["weekday"]))
        fig = chart(hours, "heatmap", "hour", "visits", "weekday")
        figures.append(fig.update_yaxes(categoryorder="array", categoryarray=order))
    if not entries.empty:
        figures.append(chart(entries, "bar", "day", "entries", "camera"))
    return figures


class Explorer:
    """Filters, a SQL box with Run, the result as a table and as a chart (``.widget``)."""

    def __init__(
        self,
        store: str | os.PathLike | Store,
        config: str | None = None,
        sql: str = DEFAULT_SQL,
        start: date | None = None,
        end: date | None = None,
        camera: str | None = None,
    ):
        import ipywidgets as w

        self.store = open_store(store, config)
        cameras, first, last = store_extent(self.store)
        self.start = w.DatePicker(description="From", value=start or first)
        self.end = w.DatePicker(description="To", value=end or last)
        self.camera = w.Dropdown(
            description="Camera", options=[ALL_CAMERAS, *cameras], value=camera or ALL_CAMERAS
        )
        self.sql = w.Textarea(value=sql, layout=w.Layout(width="100%", height="9em"))
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.status = status_line()
        self.table = w.HTML()
        self.kind = w.Dropdown(description="Chart", options=CHART_KINDS)
        self.x = w.Dropdown(description="x")
        self.y = w.Dropdown(description="y")
        self.color = w.Dropdown(description="Colour")
        self.chart = FigureBox()
        self.result = pd.DataFrame()
        self.run = guarded(self.status)(self._run)
        self.redraw = guarded(self.status)(self._redraw)
        self.run_button.on_click(lambda _: self.run())
        for filt in (self.start, self.end, self.camera):
            filt.observe(lambda _: self.run(), names="value")
        for axis in (self.kind, self.x, self.y, self.color):
            axis.observe(self._axis_changed, names="value")
        self._quiet = False
        self.run()
        self.widget = w.VBox(
            [
                w.HBox([self.start, self.end, self.camera]),
                self.sql,
                w.HBox([self.run_button, self.status]),
                w.Box([self.table], layout=w.Layout(max_height="22em", overflow="auto")),
                w.HBox([self.kind, self.x, self.y, self.color]),
                self.chart.widget,
            ]
        )

    def filters(self) -> tuple[date | None, date | None, str | None]:
        camera = None if self.camera.value == ALL_CAMERAS else self.camera.value
        return self.start.value, self.end.value, camera

    def _run(self) -> str:
        start, end, _ = self.filters()
        if start and end and start > end:
            raise QueryError(f"the range starts ({start}) after it ends ({end}); swap the dates")
        self.result = df = run_sql(self.store, self.sql.value, *self.filters())
        shown = df.head(MAX_ROWS_SHOWN)
        self.table.value = shown.to_html(index=False, border=0, na_rep="")
        x, y, color = guess_axes(df)
        columns = list(df.columns)
        self._quiet = True  # one redraw for all the axis changes below
        try:
            self.x.options = self.y.options = columns
            self.color.options = [("(none)", None), *((c, c) for c in columns)]
            self.x.value, self.y.value, self.color.value = x, y, color
        finally:
            self._quiet = False
        self._redraw()
        more = f" (first {MAX_ROWS_SHOWN} shown)" if len(df) > MAX_ROWS_SHOWN else ""
        return f"{len(df)} rows{more}"

    def _axis_changed(self, _change) -> None:
        if not self._quiet:
            self.redraw()

    def _redraw(self) -> None:
        fig = chart(self.result, self.kind.value, self.x.value, self.y.value, self.color.value)
        self.chart.show(fig)

    def overview_figures(self) -> list:
        """``overview_figures`` for the filters as they are set now."""
        start, end, camera = self.filters()
        return overview_figures(self.store, start, end, camera)
