"""The Excel report of a period: one formatted sheet per table, with native Excel charts.

``export_report(store, start, end, "report.xlsx")`` writes a Summary sheet, then
one sheet per figure of ``workbench.analytics`` for the period (daily, weekly,
hours, payments, cans, customers, visit frequency, unpaid, defaulters) and the
period's visits and till records. Every sheet has a styled, frozen header row, a
filter, column widths that fit, and number, money, percent and date formats;
charts are Excel's own (xlsxwriter), so they stay editable. Times are local: the
days and hours of each camera, and timestamps in the site's timezone.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from workbench import analytics
from workbench.errors import WorkbenchError
from workbench.store import Store

log = logging.getLogger(__name__)

MAX_ROWS = 1_048_575  # Excel's limit, less the header
MONEY = {"revenue", "unpaid_amount", "amount", "paid_amount", "amount_paid", "amount_unpaid"}
PERCENT = {"share", "conversion", "unpaid_share"}
DATE_COLUMNS = {"day", "period_start", "first_seen", "last_seen"}


def _sheets(store: Store, start: date, end: date, camera: str | None) -> dict[str, pd.DataFrame]:
    a = analytics
    cans = a.cans_per_day(store, start, end, camera)
    cans = (
        cans.pivot_table(
            index="day", columns="can_size", values="cans", aggfunc="sum", fill_value=0
        )
        .rename(columns=lambda s: f"cans {s}")
        .reset_index()
        .rename_axis(columns=None)
    )
    if len(cans.columns) > 1:
        cans["cans total"] = cans.iloc[:, 1:].sum(axis=1)
    cam = {"start": start, "end": end, "camera": camera}
    visits = store.query(
        """SELECT visit_id, customer_id, camera, local_day AS day, local_start AS arrived,
           local_end AS "left", dwell_s, is_new FROM visits
           WHERE local_day BETWEEN $start AND $end AND ($camera::VARCHAR IS NULL OR camera = $camera)
           ORDER BY start""",
        cam,
    )
    tx = store.query(
        """SELECT transaction_id, local_ts AS "time", local_day AS day, customer_id, visit_id,
           link_status, payment_mode, can_size, number_of_cans, amount, payment_status, camera
           FROM transactions
           WHERE local_day BETWEEN $start AND $end AND ($camera::VARCHAR IS NULL OR camera = $camera)
           ORDER BY ts""",
        cam,
    )
    return {
        "Daily": a.daily_summary(store, start, end, camera),
        "Weekly": a.period_summary(store, "week", start, end, camera),
        "Hours": a.busy_hours(store, start, end, camera),
        "Payments": a.payment_summary(store, start, end, camera),
        "Cans": cans,
        "Customers": a.customer_spend(store, start, end, camera),
        "Frequency": a.visit_frequency(store, start, end, camera),
        "Unpaid": a.unpaid(store, start, end, camera),
        "Defaulters": a.repeat_defaulters(store, start, end, camera),
        "Visits": visits,
        "Transactions": tx,
    }


def _summary(
    daily: pd.DataFrame, start: date, end: date, camera: str | None, notes: list[str]
) -> list[tuple[str, object, str]]:
    """(figure, value, format) rows of the Summary sheet."""
    visits = int(daily["visits"].sum())
    paid_visits = float((daily["conversion"].fillna(0) * daily["visits"]).sum())
    dwell = float((daily["avg_dwell_s"].fillna(0) * daily["visits"]).sum())
    return [
        ("Period", f"{start} to {end}", "text"),
        ("Camera", camera or "all cameras", "text"),
        ("Visits", visits, "int"),
        ("New customers", int(daily["new_customers"].sum()), "int"),
        ("Returning customers (sum of days)", int(daily["returning_customers"].sum()), "int"),
        ("Average dwell (s)", dwell / visits if visits else None, "float"),
        ("Till records", int(daily["transactions"].sum()), "int"),
        ("Revenue", float(daily["revenue"].sum()), "money"),
        ("Unpaid amount", float(daily["unpaid_amount"].sum()), "money"),
        ("Conversion", paid_visits / visits if visits else None, "percent"),
        ("Generated", datetime.now().replace(microsecond=0), "datetime"),
        *[("Note", n, "text") for n in notes],
    ]


def export_report(
    store: Store, start: date, end: date, out: str | Path, camera: str | None = None
) -> dict[str, int]:
    """Write the report of ``start``..``end`` (local days, inclusive) to ``out`` (.xlsx).

    Returns the number of data rows per sheet.
    """
    out = Path(out)
    if out.suffix.lower() != ".xlsx":
        raise WorkbenchError(f"{out}: the report is an Excel workbook; name it .xlsx")
    if end < start:
        raise WorkbenchError(f"--to {end} is before --from {start}")
    sheets = _sheets(store, start, end, camera)
    notes = []
    for name, df in sheets.items():
        if len(df) > MAX_ROWS:
            notes.append(f"{name}: {len(df)} rows, the first {MAX_ROWS} written (Excel's limit)")
            sheets[name] = df.iloc[:MAX_ROWS]
    summary = _summary(sheets["Daily"], start, end, camera, notes)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.xlsx")
    try:
        _write(tmp, summary, sheets, store.config.timezone)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WorkbenchError(f"cannot write {out}: {exc.strerror or exc}") from None
    return {"Summary": len(summary), **{name: len(df) for name, df in sheets.items()}}


def _write(path: Path, summary: list, sheets: dict[str, pd.DataFrame], tz: str) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"remove_timezone": True, "nan_inf_to_errors": True})
    fmt = {
        "header": book.add_format(
            {
                "bold": True,
                "font_color": "#ffffff",
                "bg_color": "#2a6f97",
                "border": 1,
                "text_wrap": True,
                "valign": "top",
            }
        ),  # fmt: skip
        "int": book.add_format({"num_format": "#,##0"}),
        "float": book.add_format({"num_format": "#,##0.0"}),
        "money": book.add_format({"num_format": "#,##0.00"}),
        "percent": book.add_format({"num_format": "0.0%"}),
        "date": book.add_format({"num_format": "yyyy-mm-dd"}),
        "datetime": book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        "text": book.add_format({}),
    }
    ws = book.add_worksheet("Summary")
    ws.write_row(0, 0, ["figure", "value"], fmt["header"])
    for i, (label, value, kind) in enumerate(summary, start=1):
        ws.write_string(i, 0, label)
        if isinstance(value, datetime):
            ws.write_datetime(i, 1, value, fmt[kind])
        elif value is not None:
            ws.write(i, 1, value, fmt[kind])
    ws.set_column(0, 0, max(len(r[0]) for r in summary) + 2)
    ws.set_column(1, 1, max(20, *(len(str(r[1])) + 2 for r in summary if r[2] == "text")))
    ws.freeze_panes(1, 0)
    for name, df in sheets.items():
        ws = book.add_worksheet(name)
        kinds = [_kind(c, df[c]) for c in df.columns]
        for j, col in enumerate(df.columns):
            ws.write_string(0, j, str(col), fmt["header"])
            values = _cells(df[col], kinds[j], tz)
            for i, v in enumerate(values, start=1):
                if v is None:
                    continue
                if kinds[j] == "text" or isinstance(v, str):
                    ws.write_string(i, j, str(v))
                elif isinstance(v, bool):
                    ws.write_boolean(i, j, v)
                elif isinstance(v, datetime | date):
                    ws.write_datetime(i, j, v, fmt[kinds[j]])
                else:
                    ws.write_number(i, j, v, fmt[kinds[j]])
            ws.set_column(j, j, _width(col, values, kinds[j]))
        ws.freeze_panes(1, 0)
        if len(df.columns):
            ws.autofilter(0, 0, max(1, len(df)), len(df.columns) - 1)
        _charts(book, ws, name, df)
    book.close()


def _kind(name: str, s: pd.Series) -> str:
    if name in PERCENT:
        return "percent"
    if name in MONEY:
        return "money"
    if name in DATE_COLUMNS:
        return "date"
    if pd.api.types.is_datetime64_any_dtype(s) or (
        s.dtype == object and s.dropna().map(lambda v: isinstance(v, datetime)).any()
    ):
        return "datetime"
    if pd.api.types.is_bool_dtype(s):
        return "int"
    if pd.api.types.is_integer_dtype(s):
        return "int"
    if pd.api.types.is_float_dtype(s):
        return "float"
    return "text"


def _cells(s: pd.Series, kind: str, tz: str) -> list:
    """Python values for xlsxwriter: local naive times, None for missing."""
    if kind in ("date", "datetime") and pd.api.types.is_datetime64_any_dtype(s):
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_convert(tz).dt.tz_localize(None)
        return [
            None if pd.isna(v) else (v.date() if kind == "date" else v.to_pydatetime()) for v in s
        ]
    out = []
    for v in s.tolist():
        if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NaT:
            out.append(None)
        elif isinstance(v, pd.Timestamp):
            v = v.tz_convert(tz).tz_localize(None) if v.tzinfo else v
            out.append(v.to_pydatetime())
        elif hasattr(v, "item"):  # numpy scalars
            out.append(v.item())
        else:
            out.append(v)
    return out


def _width(name, values: list, kind: str) -> float:
    fixed = {"date": 11, "datetime": 20, "percent": 8}
    sample = values[:500]
    longest = fixed.get(kind) or max([len(f"{v:,.2f}" if isinstance(v, float) else str(v))
                                      for v in sample if v is not None] or [0])  # fmt: skip
    return min(60, max(len(str(name)) + 2, longest + 2))


# sheet -> charts: (type, subtype, category column, value columns, title)
CHARTS = {
    "Daily": [("line", None, "day", ["visits", "unique_customers"], "Visits per day"),
              ("column", None, "day", ["revenue", "unpaid_amount"], "Revenue and unpaid per day")],
    "Weekly": [("column", None, "period_start", ["visits", "new_customers"], "Visits and new customers per week")],
    "Hours": [("column", None, "hour", ["avg_visits"], "Average visits by hour of day")],
    "Payments": [("pie", None, "payment_mode", ["amount"], "Sales by payment mode")],
    "Cans": [("column", "stacked", "day", None, "Cans sold per day")],
    "Frequency": [("column", None, "bucket", ["customers"], "Customers by number of visits")],
}  # fmt: skip


def _charts(book, ws, name: str, df: pd.DataFrame) -> None:
    if df.empty:
        return
    for k, (kind, subtype, category, values, title) in enumerate(CHARTS.get(name, [])):
        cols = values or [c for c in df.columns if c.startswith("cans ") and c != "cans total"]
        chart = book.add_chart({"type": kind, **({"subtype": subtype} if subtype else {})})
        cat = df.columns.get_loc(category)
        for col in cols:
            j = df.columns.get_loc(col)
            chart.add_series({
                "name": [name, 0, j],
                "categories": [name, 1, cat, len(df), cat],
                "values": [name, 1, j, len(df), j],
            })  # fmt: skip
        chart.set_title({"name": title})
        chart.set_size({"width": 640, "height": 320})
        if kind != "pie":
            chart.set_legend({"position": "bottom"})
        ws.insert_chart(1 + 17 * k, len(df.columns) + 1, chart)
