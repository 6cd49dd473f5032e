"""Charts for notebooks and reports, and a plotly renderer that works offline.

Why a renderer of our own: in a kernel started by papermill, plotly's default
renderer emits only its JSON mimetype, so an HTML export has no figures at all.
Plotly's HTML renderers point at a CDN (and at MathJax's). ``use_offline_renderer``
installs a renderer whose output carries both the plotly JSON (for JupyterLab) and
HTML with plotly.js written into the page once, by the first figure, so the
exported report opens without a network connection.

Call ``use_offline_renderer()`` in the first cell of a report notebook. The chart
functions below take the DataFrames of ``workbench.analytics`` and return plotly
figures; plotly itself is imported only when a chart is drawn.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from IPython.display import HTML

log = logging.getLogger(__name__)

RENDERER = "workbench_offline"
PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"
FIGURE_DIV_CLASS = "plotly-graph-div"  # the class of the <div> each figure is drawn into
COLORS = {"visits": "#2a6f97", "new": "#f4a259", "returning": "#2a9d8f", "unpaid": "#e76f51"}

# plotly copies the renderer object on every show, so "plotly.js was already sent
# to this kernel's output" must live at module level, not on the renderer.
_plotlyjs_sent = False


def _renderer_class() -> type:
    from plotly.io.base_renderers import MimetypeRenderer, PlotlyRenderer

    class OfflineHtmlRenderer(MimetypeRenderer):
        """Plotly JSON plus HTML with plotly.js inlined by the first figure only; no CDN."""

        def __init__(self, config: dict | None = None, height: int = 450):
            self.config = dict(config or {})
            self.height = height

        def to_mimebundle(self, fig_dict: dict) -> dict:
            global _plotlyjs_sent
            from plotly.io import to_html

            bundle = PlotlyRenderer(config=self.config).to_mimebundle(dict(fig_dict))
            bundle["text/html"] = to_html(
                fig_dict,
                config=self.config,
                include_plotlyjs=not _plotlyjs_sent,
                include_mathjax=False,
                full_html=False,
                default_width="100%",
                default_height=self.height,
                validate=False,
            )
            _plotlyjs_sent = True
            return bundle

    return OfflineHtmlRenderer


def use_offline_renderer(height: int = 450, template: str = "plotly_white") -> None:
    """Make every figure shown from now on render offline (plotly.js inlined once).

    Call it once, in the first cell of a report notebook; calling it again starts
    over, so the next figure carries plotly.js again.
    """
    global _plotlyjs_sent
    import plotly.io as pio

    pio.renderers[RENDERER] = _renderer_class()(config={"displaylogo": False}, height=height)
    pio.renderers.default = RENDERER
    pio.templates.default = template
    _plotlyjs_sent = False
    log.debug("plotly renderer set to %s", RENDERER)


def _local_day(value) -> str:
    return pd.Timestamp(value).strftime("%a %d %b %Y")


def hourly_figure(hourly: pd.DataFrame, title: str = "Visits per hour") -> go.Figure:
    """Bar chart of ``analytics.hourly_traffic``: visits that began in each hour."""
    import plotly.graph_objects as go

    fig = go.Figure(
        go.Bar(x=hourly["hour"], y=hourly["visits"], marker_color=COLORS["visits"], name="visits")
    )
    fig.update_layout(
        title=title, xaxis={"title": "hour (local time)", "dtick": 1}, yaxis_title="visits"
    )
    return fig


def trend_figure(summary: pd.DataFrame, title: str = "Visits per day") -> go.Figure:
    """Line chart of visits and unique customers per day from ``analytics.daily_summary``."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_scatter(
        x=summary["day"],
        y=summary["visits"],
        name="visits",
        mode="lines+markers",
        line_color=COLORS["visits"],
    )
    fig.add_scatter(
        x=summary["day"],
        y=summary["unique_customers"],
        name="unique customers",
        mode="lines",
        line_dash="dot",
    )
    fig.update_layout(title=title, xaxis_title="day", yaxis_title="count", hovermode="x unified")
    return fig


def new_vs_returning_figure(
    summary: pd.DataFrame, title: str = "New and returning customers"
) -> go.Figure:
    """Stacked bars of new and returning customers per day from ``analytics.daily_summary``."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_bar(
        x=summary["day"],
        y=summary["returning_customers"],
        name="returning",
        marker_color=COLORS["returning"],
    )
    fig.add_bar(
        x=summary["day"], y=summary["new_customers"], name="new", marker_color=COLORS["new"]
    )
    fig.update_layout(title=title, barmode="stack", xaxis_title="day", yaxis_title="customers")
    return fig


def payments_figure(payments: pd.DataFrame, title: str = "Sales by payment mode") -> go.Figure:
    """Stacked bars of paid and unpaid amounts per payment mode from ``analytics.payment_summary``."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_bar(
        x=payments["payment_mode"],
        y=payments["paid_amount"],
        name="paid",
        marker_color=COLORS["visits"],
    )
    fig.add_bar(
        x=payments["payment_mode"],
        y=payments["unpaid_amount"],
        name="unpaid",
        marker_color=COLORS["unpaid"],
    )
    fig.update_layout(
        title=title, barmode="stack", xaxis_title="payment mode", yaxis_title="amount"
    )
    return fig


def kpi_cards(day_row: pd.Series, currency: str = "₹", title: str | None = None) -> HTML:
    """The day's key figures as a row of cards (one row of ``analytics.daily_summary``, or of
    ``period_summary``: then give a ``title``; the default is the row's day)."""
    from html import escape

    from IPython.display import HTML

    def clock(value) -> str:
        return "-" if pd.isna(value) else pd.Timestamp(value).strftime("%H:%M")

    dwell = day_row["avg_dwell_s"]
    cards = [
        ("Visits", f"{int(day_row['visits'])}"),
        ("Customers", f"{int(day_row['unique_customers'])}"),
        (
            "New / returning",
            f"{int(day_row['new_customers'])} / {int(day_row['returning_customers'])}",
        ),
        ("Average stay", "-" if pd.isna(dwell) else f"{dwell / 60:.1f} min"),
        (
            "First in / last out",
            f"{clock(day_row['first_visit'])} / {clock(day_row['last_visit'])}",
        ),
        ("Sales", f"{int(day_row['transactions'])}"),
        ("Revenue", f"{currency}{day_row['revenue']:,.0f}"),
        ("Unpaid", f"{currency}{day_row['unpaid_amount']:,.0f}"),
    ]
    style = (
        "display:inline-block;min-width:9em;margin:0 .6em .6em 0;padding:.6em .9em;"
        "border:1px solid #d0d7de;border-radius:6px;font-family:sans-serif"
    )
    body = "".join(
        f'<div style="{style}"><div style="font-size:.8em;color:#57606a">{escape(k)}</div>'
        f'<div style="font-size:1.5em;font-weight:600">{escape(v)}</div></div>'
        for k, v in cards
    )
    return HTML(
        f'<div><h3 style="font-family:sans-serif">{escape(title or _local_day(day_row["day"]))}</h3>'
        f"{body}</div>"
    )


# ---------------------------------------------------------------- manager dashboard
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def output_bundle(fig: go.Figure) -> dict:
    """A figure as one notebook output (plotly's JSON mimetype), for ``ipywidgets.Output.outputs``.

    JupyterLab and Voila draw it with the plotly extension they bundle: no CDN, and
    far lighter than a ``FigureWidget`` (which ships all of plotly.js per figure).
    """
    import json

    import plotly.io as pio

    spec = json.loads(pio.to_json(fig, validate=False))
    spec["config"] = {"displaylogo": False, "responsive": True}
    return {
        "output_type": "display_data",
        "data": {PLOTLY_MIMETYPE: spec, "text/plain": f"<figure: {fig.layout.title.text}>"},
        "metadata": {},
    }


def compact(fig: go.Figure, height: int = 320) -> go.Figure:
    """Dashboard size: short, tight margins, legend below."""
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 50, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def hourly_compare_figure(hourly: pd.DataFrame, last_week: pd.DataFrame, day, before) -> go.Figure:
    """Visits per hour of ``day`` (bars) beside the same weekday a week ``before`` (line);
    both from ``analytics.hourly_traffic``."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_bar(x=hourly["hour"], y=hourly["visits"], name=_local_day(day),
                marker_color=COLORS["visits"])  # fmt: skip
    fig.add_scatter(x=last_week["hour"], y=last_week["visits"], name=_local_day(before),
                    mode="lines", line={"color": "#8c959f", "dash": "dot"})  # fmt: skip
    fig.update_layout(
        title="Visits per hour", xaxis={"title": "hour", "dtick": 2}, yaxis_title="visits"
    )
    return compact(fig)


def occupancy_figure(occ: pd.DataFrame, source: str, now: int | None) -> go.Figure:
    """People in the shop through the day, one line per camera (``dashboard_data.occupancy``)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for camera, part in occ.groupby("camera", sort=True):
        mode = "lines" if len(part) > 20 else "lines+markers"
        fig.add_scatter(x=part["local_ts"], y=part["people"], name=camera, mode=mode,
                        line_shape="hv")  # fmt: skip
    title = f"In the shop now: {now}" if now is not None else "In the shop"
    fig.update_layout(title=f"{title} <span style='font-size:12px'>({source})</span>",
                      yaxis={"title": "people", "rangemode": "tozero"})  # fmt: skip
    if occ.empty:
        fig.add_annotation(text="nobody seen this day", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")  # fmt: skip
    return compact(fig)


def heat_figure(cells: pd.DataFrame) -> go.Figure:
    """Where people spent time: person-seconds per cell (``dashboard_data.heat``), picture
    orientation (top of the picture or plan at the top)."""
    import plotly.graph_objects as go

    grid = cells.pivot_table(index="cell_y", columns="cell_x", values="seconds", aggfunc="sum")
    grid = grid.reindex(index=range(int(cells["cell_y"].min()), int(cells["cell_y"].max()) + 1),
                        columns=range(int(cells["cell_x"].min()), int(cells["cell_x"].max()) + 1))  # fmt: skip
    camera, space = cells["camera"].iloc[0], cells["space"].iloc[0]
    fig = go.Figure(go.Heatmap(z=(grid / 60).values, x=grid.columns, y=grid.index,
                               colorscale="YlOrRd", colorbar={"title": "minutes"}))  # fmt: skip
    where = "floor plan" if space == "floor" else "picture"
    fig.update_layout(title=f"Where people spend time ({camera}, {where})",
                      yaxis={"autorange": "reversed", "scaleanchor": "x", "visible": False},
                      xaxis={"visible": False})  # fmt: skip
    return compact(fig)


def busy_times_figure(busy: pd.DataFrame) -> go.Figure:
    """Visits per weekday and hour (``dashboard_data.busy_times``) as a heat map."""
    import plotly.graph_objects as go

    grid = busy.pivot_table(index="weekday", columns="hour", values="visits", aggfunc="sum")
    grid = grid.reindex(index=range(7), columns=range(24)).fillna(0)
    fig = go.Figure(go.Heatmap(z=grid.values, x=list(range(24)), y=WEEKDAYS,
                               colorscale="Blues", colorbar={"title": "visits"}))  # fmt: skip
    fig.update_layout(title="Busy times: visits by weekday and hour",
                      xaxis={"title": "hour", "dtick": 2}, yaxis={"autorange": "reversed"})  # fmt: skip
    return compact(fig)
