"""`workbench export report` (Excel, formatted, with charts), `export TABLE` still, and `query`."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import date

import pandas as pd
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from workbench import analytics
from workbench.cli import main

START, END = date(2026, 10, 20), date(2026, 11, 1)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def report(demo_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("xlsx") / "report.xlsx"
    result = run(
        "export", "report", "--from", START, "--to", END, "--out", out, "--store", demo_store.root
    )
    assert result.exit_code == 0, result.output
    return out


def test_one_formatted_sheet_per_table(report):
    book = load_workbook(report)
    assert book.sheetnames == [
        "Summary", "Daily", "Weekly", "Hours", "Payments", "Cans", "Customers", "Frequency",
        "Unpaid", "Defaulters", "Visits", "Transactions",
    ]  # fmt: skip
    for ws in book.worksheets:
        head = ws["A1"]
        assert head.font.bold and head.fill.fgColor.rgb.endswith("2A6F97"), ws.title
        assert ws.freeze_panes == "A2", ws.title
    daily = book["Daily"]
    cols = {c.value: c.column_letter for c in daily[1]}
    assert daily[f"{cols['day']}2"].number_format == "yyyy-mm-dd"
    assert daily[f"{cols['revenue']}2"].number_format == "#,##0.00"
    assert daily[f"{cols['conversion']}2"].number_format == "0.0%"
    assert daily[f"{cols['visits']}2"].number_format == "#,##0"
    assert daily.auto_filter.ref.startswith("A1:")
    assert daily.column_dimensions[cols["unique_customers"]].width >= len("unique_customers")
    visits = book["Visits"]
    assert visits["E2"].number_format == "yyyy-mm-dd hh:mm:ss" and visits["E1"].value == "arrived"


def test_sheets_hold_the_figures(report, demo_store):
    daily = pd.read_excel(report, sheet_name="Daily")
    want = analytics.daily_summary(demo_store, START, END)
    assert daily["visits"].tolist() == want["visits"].tolist()
    assert daily["revenue"].sum() == pytest.approx(want["revenue"].sum())
    assert pd.to_datetime(daily["day"]).dt.date.tolist() == [d.date() for d in want["day"]]
    pay = pd.read_excel(report, sheet_name="Payments").set_index("payment_mode")
    want = analytics.payment_summary(demo_store, START, END).set_index("payment_mode")
    assert pay["amount"].to_dict() == pytest.approx(want["amount"].to_dict())
    visits = pd.read_excel(report, sheet_name="Visits")
    assert len(visits) == want_visits(demo_store)
    summary = pd.read_excel(report, sheet_name="Summary").set_index("figure")["value"]
    assert summary["Visits"] == len(visits)


def want_visits(store) -> int:
    return int(store.query(
        f"SELECT count(*) FROM visits WHERE local_day BETWEEN DATE '{START}' AND DATE '{END}'"
    ).iloc[0, 0])  # fmt: skip


def test_native_charts_on_the_right_sheets(report):
    with zipfile.ZipFile(report) as z:
        charts = sorted(n for n in z.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
        xml = {n: z.read(n).decode() for n in charts}
    assert len(charts) == 7
    refs = " ".join(xml.values())
    n_days = (END - START).days + 1
    assert f"Daily!$B$2:$B${n_days + 1}" in refs  # visits per day
    assert "<c:pieChart>" in refs and "Payments!$" in refs
    assert '<c:grouping val="stacked"/>' in refs and "Cans!$" in refs


def test_export_table_still_works_and_options_are_checked(demo_store, tmp_path):
    out = tmp_path / "visits.csv"
    result = run("export", "visits", "--out", out, "--store", demo_store.root)
    assert result.exit_code == 0 and len(pd.read_csv(out)) == len(
        demo_store.query("SELECT * FROM visits")
    )
    result = run("export", "visits", "--from", START, "--out", out, "--store", demo_store.root)
    assert result.exit_code == 2 and "apply to `export report` only" in result.output
    result = run("export", "report", "--out", tmp_path / "r.csv", "--store", demo_store.root)
    assert result.exit_code == 1 and "name it .xlsx" in result.output
    result = run("export", "report", "--from", "1/11/2026", "--out", tmp_path / "r.xlsx")
    assert result.exit_code == 2 and "not a date" in result.output


def test_query_command(demo_store):
    sql = "SELECT day, visits FROM daily_summary ORDER BY day LIMIT 3"
    table = run("query", sql, "--store", demo_store.root)
    assert table.exit_code == 0 and table.output.splitlines()[0].split() == ["day", "visits"]
    as_csv = pd.read_csv(io.StringIO(run("query", sql, "--csv", "--store", demo_store.root).output))
    as_json = json.loads(run("query", sql, "--json", "--store", demo_store.root).output)
    want = demo_store.query(sql)
    assert as_csv["visits"].tolist() == [r["visits"] for r in as_json] == want["visits"].tolist()
    bad = run("query", "SELECT * FROM nowhere", "--store", demo_store.root)
    assert bad.exit_code == 1 and "nowhere" in bad.output and "daily_summary" in bad.output
