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


def kpi_cards(day_row: pd.Series, currency: str = "₹") -> HTML:
    """The day's key figures as a row of cards (one row of ``analytics.daily_summary``)."""
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
        f'<div><h3 style="font-family:sans-serif">{_local_day(day_row["day"])}</h3>{body}</div>'
    )
