"""`workbench import transactions`: bad rows reported by line, good rows kept, never doubled,
local times on DST days, Excel files, and how records link to the till camera's visits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from click.testing import CliRunner

from workbench.cli import main
from workbench.config import Config
from workbench.errors import WorkbenchError
from workbench.store import Store
from workbench.transactions import import_transactions, parse_timestamp
from workbench.writer import RunWriter

HEADER = "transaction_id,timestamp,customer_id,payment_mode,can_size,number_of_cans,amount,payment_status\n"


@pytest.fixture
def store(tmp_path) -> Store:
    root = tmp_path / "s"
    s = Store(
        root, Config(store=root, timezone="Europe/London", transactions={"till_camera": "till"})
    )
    t0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # London is on GMT in November
    tracks = [{
        "camera": "till", "track_id": f"t{i}", "start": t0 + timedelta(hours=i),
        "end": t0 + timedelta(hours=i, minutes=5), "customer_id": f"C{i}", "sightings": 1,
        "embedded": 1, "quality": 0.8, "match_distance": None, "embedding": None, "snapshot": None,
    } for i in range(3)]  # fmt: skip
    with RunWriter(s, "test:till", "till", "hand-made", kind="test") as w:
        w.add("tracks", tracks)
    return s


def write_csv(tmp_path, rows: str, name="till.csv"):
    path = tmp_path / name
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_bad_rows_are_reported_by_line_and_good_rows_kept(store, tmp_path):
    path = write_csv(tmp_path, (
        "T1,2026-11-02 10:02,,cash,20L,2,70,Paid\n"          # line 2: during C0's visit
        "T2,2026-11-02 11:03,C1,UPI,10 l,1,\"₹1,020.50\",unpaid\n"
        "T3,02/11/2026 10:00,,cash,20L,1,35,Paid\n"           # line 4: not ISO
        "\n"
        "T4,2026-11-02 12:00,,card,5X,-1,abc,Maybe\n"         # line 6: four reasons
        "T1,2026-11-02 10:04,,cash,20L,1,35,Paid\n"           # line 7: repeats T1
        ",2026-11-02 13:00,,cash,20L,1,35,Paid\n"             # line 8: no id
    ))  # fmt: skip
    r = import_transactions(store, path)
    assert (r.rows, r.imported, r.new, r.blank_lines) == (6, 2, 2, 1)
    lines = dict(r.problems)
    assert sorted(lines) == [4, 6, 7, 8]
    assert "not a date-time" in lines[4]
    assert all(w in lines[6] for w in ("can_size", "number_of_cans", "amount", "payment_status"))
    assert "repeats line 2" in lines[7] and "transaction_id is empty" in lines[8]
    tx = store.query("SELECT * FROM transactions ORDER BY transaction_id").set_index(
        "transaction_id"
    )
    assert tx.loc["T1", ["link_status", "customer_id", "amount"]].tolist() == ["linked", "C0", 70.0]
    assert tx.loc["T2", ["link_status", "customer_id", "can_size", "amount", "payment_status"]].tolist() == [
        "given", "C1", "10L", 1020.5, "Unpaid"
    ]  # fmt: skip
    assert (
        tx.loc["T2", "visit_id"]
        == store.query("SELECT visit_id FROM visits WHERE customer_id = 'C1'").iloc[0, 0]
    )


def test_reimport_does_not_double_and_an_edited_file_replaces(store, tmp_path):
    path = write_csv(
        tmp_path,
        "T1,2026-11-02 10:02,,cash,20L,2,70,Paid\nT2,2026-11-02 11:02,,UPI,20L,1,35,Paid\n",
    )
    import_transactions(store, path)
    again = import_transactions(store, path)
    assert (again.new, again.unchanged, again.changed) == (0, 2, 0)
    assert store.query("SELECT count(*) FROM transactions").iloc[0, 0] == 2
    write_csv(tmp_path, "T1,2026-11-02 10:02,,cash,20L,2,70,Unpaid\n")  # T1 corrected, T2 removed
    edited = import_transactions(store, path)
    assert (edited.new, edited.changed) == (0, 1)
    assert store.query(
        "SELECT transaction_id, payment_status FROM transactions"
    ).values.tolist() == [["T1", "Unpaid"]]
    # the same record in another file counts once: the latest import wins
    other = write_csv(tmp_path, "T1,2026-11-02 10:02,,cash,20L,3,105,Paid\n", name="other.csv")
    import_transactions(store, other)
    assert store.query("SELECT number_of_cans FROM transactions").values.tolist() == [[3]]


def test_excel_file_with_dates_and_numbers(store, tmp_path):
    path = tmp_path / "till.xlsx"
    pd.DataFrame({
        "Transaction ID": [1001, 1002], "Timestamp": [datetime(2026, 11, 2, 12, 3), "2026-11-02T12:04:00Z"],
        "Customer ID": [None, None], "Payment Mode": ["coin", "Cash"], "Can Size": ["20L", 10],
        "Number of Cans": [1, 2.0], "Amount": [35, 40.0], "Payment Status": ["Paid", "PAID"],
    }).to_excel(path, index=False, sheet_name="Transactions")  # fmt: skip
    r = import_transactions(store, path)
    assert r.imported == 2 and r.where == "row" and not r.problems
    tx = store.query("SELECT transaction_id, payment_mode, can_size, number_of_cans, customer_id "
                     "FROM transactions ORDER BY 1")  # fmt: skip
    assert tx.values.tolist() == [
        ["1001", "coin", "20L", 1, "C2"],
        ["1002", "cash", "10L", 2, "C2"],
    ]


def test_local_times_on_dst_change_days():
    london = "Europe/London"
    ts, err, warn = parse_timestamp("2026-03-29 01:30", london)  # clocks jump 01:00 -> 02:00
    assert ts is None and "does not exist" in err
    ts, err, warn = parse_timestamp("2026-10-25 01:30", london)  # 01:30 happens twice
    assert ts == datetime(2026, 10, 25, 0, 30, tzinfo=UTC) and "twice" in warn
    ts, err, warn = parse_timestamp("2026-10-25 01:30+00:00", london)  # an offset is exact
    assert ts == datetime(2026, 10, 25, 1, 30, tzinfo=UTC) and warn is None
    assert parse_timestamp("2026-07-01 12:00", "Asia/Kolkata")[0] == datetime(
        2026, 7, 1, 6, 30, tzinfo=UTC
    )


def test_link_report_and_reasons(store, tmp_path):
    path = write_csv(tmp_path, (
        "A,2026-11-02 10:03,,cash,20L,1,35,Paid\n"     # C0 at the till
        "B,2026-11-02 10:30,,cash,20L,1,35,Paid\n"     # footage that day, nobody at the till
        "C,2026-11-05 10:30,,cash,20L,1,35,Paid\n"     # no footage that day
        "D,2026-11-02 10:30,C9,cash,20L,1,35,Unpaid\n" # an id the store never saw
    ))  # fmt: skip
    r = import_transactions(store, path)
    assert r.links == {"linked": 1, "no_visit": 1, "no_footage": 1, "given": 1}
    assert r.unlinked_lines == {"no_visit": [3], "no_footage": [4]}
    assert r.unknown_customers == ["C9"]


def test_cli_output_exit_status_and_whole_file_errors(store, tmp_path):
    good = write_csv(tmp_path, "A,2026-11-02 10:03,,cash,20L,1,35,Paid\n")
    result = run("import", "transactions", good, "--store", store.root)
    assert result.exit_code == 0, result.output
    assert "1 imported (1 new" in result.output and "linked to the one customer" in result.output
    bad = write_csv(
        tmp_path, "A,2026-11-02 10:03,,cash,20L,1,35,Paid\nB,x,,cash,20L,1,35,Paid\n", "bad.csv"
    )
    result = run("import", "transactions", bad, "--store", store.root, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problems"] == [
        [3, "timestamp 'x' is not a date-time; write e.g. 2026-11-20 10:15"]
    ]
    (tmp_path / "no_cols.csv").write_text("id,when\n1,2\n")
    for path, message in [
        (tmp_path / "no_cols.csv", "missing column(s) transaction_id, timestamp"),
        (tmp_path / "till.xls", "save the till export as .csv or .xlsx"),
        (tmp_path / "missing.csv", "no such file"),
    ]:
        if path.suffix == ".xls":
            path.write_bytes(b"\xd0\xcf")
        result = run("import", "transactions", path, "--store", store.root)
        assert result.exit_code == 1 and message in result.output
    (tmp_path / "latin.csv").write_bytes(
        HEADER.encode() + "A,2026-11-02 10:03,Jos\xe9,cash,20L,1,35,Paid\n".encode("latin-1")
    )
    with pytest.raises(WorkbenchError, match="not UTF-8"):
        import_transactions(store, tmp_path / "latin.csv")
