"""Import till records (CSV or Excel) into the store: row by row checked, never doubled.

``import_transactions(store, "till.csv")`` reads a file with the columns
``transaction_id, timestamp, customer_id, payment_mode, can_size, number_of_cans,
amount, payment_status`` (``customer_id`` may be empty or missing: a till does not
know face ids). Every bad row is reported with its line (CSV) or row (Excel) and
the reason; the good rows are kept. Timestamps without an offset are the till
camera's local time (``transactions.till_camera``, else the site's timezone).

Importing the same file again replaces what it imported before (one run per file,
see ``workbench.store``), and a record id seen in several files counts once (the
latest import wins), so nothing is doubled. Records are not linked here: the
``transactions`` view links them to visits (``workbench.visits_sql.link``), so a
link follows later footage and customer merges; the result reports how the rows
link now and why the others do not.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.store import Store
from workbench.writer import RunWriter

log = logging.getLogger(__name__)

COLUMNS = (
    "transaction_id", "timestamp", "customer_id", "payment_mode", "can_size",
    "number_of_cans", "amount", "payment_status",
)  # fmt: skip
OPTIONAL = {"customer_id"}
MODES = {"cash": "cash", "upi": "UPI", "coin": "coin", "coins": "coin"}  # others kept as written
STATUSES = {"paid": "Paid", "unpaid": "Unpaid"}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:l|ltr|litre|liter|litres|liters)?$", re.IGNORECASE)
_MONEY = re.compile(r"^(?:₹|rs\.?|inr|\$|£|€)?\s*(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?$", re.IGNORECASE)
WHY = {
    "given": "customer id given in the file",
    "linked": "linked to the one customer at the till then",
    "ambiguous": "not linked: several customers were at the till then",
    "no_visit": "not linked: no identified customer at the till then",
    "no_footage": "not linked: no footage of the till camera that day (ingest it and they link)",
}


class TillFileError(WorkbenchError):
    """The file cannot be imported at all (missing, wrong format, missing columns)."""


@dataclass
class ImportResult:
    """What an import did. ``problems``: (line, reason) of every row left out."""

    path: Path
    rows: int = 0
    imported: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    blank_lines: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)
    links: dict[str, int] = field(default_factory=dict)
    unlinked_lines: dict[str, list[int]] = field(default_factory=dict)
    unknown_customers: list[str] = field(default_factory=list)
    where: str = "line"  # "line" (CSV) or "row" (Excel)


def _normalise(name) -> str:
    return re.sub(r"[\s\-]+", "_", str(name or "").strip().lower())


def read_rows(path: Path) -> tuple[list[tuple[int, dict]], int, str]:
    """``(line, {column: raw value})`` for each non-blank data row, blank rows, and "line"/"row"."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise TillFileError(f"{path}: no such file")
    if suffix == ".csv":
        records, where = _csv_records(path), "line"
    elif suffix in (".xlsx", ".xlsm"):
        records, where = _xlsx_records(path), "row"
    else:
        raise TillFileError(
            f"{path}: unknown format {suffix!r}; save the till export as .csv or .xlsx"
        )
    header = None
    rows, blank = [], 0
    for line, values in records:
        if all(v is None or str(v).strip() == "" for v in values):
            blank += header is not None
            continue
        if header is None:
            header = [_normalise(v) for v in values]
            missing = [c for c in COLUMNS if c not in header and c not in OPTIONAL]
            if missing:
                raise TillFileError(
                    f"{path}: missing column(s) {', '.join(missing)} in the header ({where} {line}); "
                    f"the file needs: {', '.join(COLUMNS)} (customer_id may be empty)"
                )
            continue
        rows.append((line, {c: values[i] if i < len(values) else None
                            for i, c in enumerate(header) if c in COLUMNS}))  # fmt: skip
    if header is None:
        raise TillFileError(
            f"{path}: the file is empty; it needs a header row: {', '.join(COLUMNS)}"
        )
    return rows, blank, where


def _csv_records(path: Path):
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise TillFileError(
            f"{path}: not UTF-8 text; save the CSV as UTF-8 and import again"
        ) from None
    first = text.split("\n", 1)[0]
    delimiter = max([",", ";", "\t"], key=first.count)
    reader = csv.reader(text.splitlines(keepends=True), delimiter=delimiter)
    end = 0
    for values in reader:
        yield end + 1, values
        end = reader.line_num


def _xlsx_records(path: Path):
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a file that is not xlsx
        raise TillFileError(f"{path}: cannot read it as an Excel workbook ({exc})") from None
    named = [ws for ws in book.worksheets if ws.title.strip().lower() == "transactions"]
    sheet = named[0] if named else book.worksheets[0]
    for i, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        yield i, list(values)
    book.close()


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse_timestamp(value, tz: str) -> tuple[datetime | None, str | None, str | None]:
    """(UTC time, error, warning) of a cell: ISO 8601 text or an Excel date-time."""
    if isinstance(value, datetime):
        local = value
    else:
        text = _text(value)
        if not text:
            return None, "timestamp is empty", None
        try:
            local = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None, f"timestamp {text!r} is not a date-time; write e.g. 2026-11-20 10:15", None
        if len(text) <= 10:
            return None, f"timestamp {text!r} has no time of day; write e.g. 2026-11-20 10:15", None
    if local.tzinfo is not None:
        return local.astimezone(UTC), None, None
    zone = ZoneInfo(tz)
    first, second = local.replace(tzinfo=zone, fold=0), local.replace(tzinfo=zone, fold=1)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
        return (
            None,
            f"{local:%Y-%m-%d %H:%M} does not exist in {tz} (the clocks went forward)",
            None,
        )
    warning = None
    if first.utcoffset() != second.utcoffset():
        warning = (
            f"{local:%Y-%m-%d %H:%M} happens twice in {tz} (the clocks went back); "
            "taken as the first; write an offset (+01:00) to be exact"
        )
    return first.astimezone(UTC), None, warning


def parse_row(raw: dict, tz: str) -> tuple[dict | None, list[str], str | None]:
    """A store row from one file row, or the reasons it is bad (and a warning, if any)."""
    errors = []
    tid = _text(raw.get("transaction_id"))
    if not tid:
        errors.append("transaction_id is empty")
    ts, err, warning = parse_timestamp(raw.get("timestamp"), tz)
    if err:
        errors.append(err)
    mode = _text(raw.get("payment_mode"))
    if not mode:
        errors.append("payment_mode is empty (cash, UPI, coin, ...)")
    size = _SIZE.match(_text(raw.get("can_size")))
    if not size or float(size.group(1)) <= 0:
        errors.append(f"can_size {_text(raw.get('can_size'))!r} is not a size such as 10L or 20L")
    cans = _number(raw.get("number_of_cans"))
    if cans is None or cans < 0 or cans != int(cans):
        errors.append(
            f"number_of_cans {_text(raw.get('number_of_cans'))!r} is not a whole number >= 0"
        )
    amount = _money(raw.get("amount"))
    if amount is None or amount < 0:
        errors.append(f"amount {_text(raw.get('amount'))!r} is not an amount >= 0")
    status = STATUSES.get(_text(raw.get("payment_status")).lower())
    if status is None:
        errors.append(f"payment_status {_text(raw.get('payment_status'))!r} is not Paid or Unpaid")
    if errors:
        return None, errors, None
    row = {
        "transaction_id": tid,
        "ts": ts,
        "customer_id": _text(raw.get("customer_id")) or None,
        "payment_mode": MODES.get(mode.lower(), mode),
        "can_size": f"{float(size.group(1)):g}L",
        "number_of_cans": int(cans),
        "amount": float(amount),
        "payment_status": status,
    }
    return row, [], warning


def _number(value) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(_text(value))
    except ValueError:
        return None


def _money(value) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    found = _MONEY.match(_text(value))
    return float(found.group(1).replace(",", "") + (found.group(2) or "")) if found else None


def import_transactions(store: Store, path: str | Path) -> ImportResult:
    """Check and import a till file; see the module doc. Raises ``WorkbenchError`` when the
    file cannot be read at all; bad rows are in ``result.problems``."""
    path = Path(path)
    till = store.config.transactions.till_camera or ""
    tz = store.timezone(till)
    rows, blank, where = read_rows(path)
    result = ImportResult(path=path, rows=len(rows), blank_lines=blank, where=where)
    good, lines, seen = [], {}, {}
    for line, raw in rows:
        row, errors, warning = parse_row(raw, tz)
        if row and row["transaction_id"] in seen:
            errors = [
                f"transaction_id {row['transaction_id']!r} repeats {where} {seen[row['transaction_id']]}"
            ]
        if errors:
            result.problems.append((line, "; ".join(errors)))
            continue
        if warning:
            result.warnings.append((line, warning))
        seen[row["transaction_id"]] = line
        lines[row["transaction_id"]] = line
        good.append({**row, "camera": till})
    if not good:
        return result
    before = _existing(store, list(lines))
    with store.writer_lock():
        source_key = f"import:transactions:{path.resolve()}"
        with RunWriter(store, source_key, till, str(path), kind="import") as writer:
            writer.add("transactions", good)
    result.imported = len(good)
    _compare(result, pd.DataFrame(good), before)
    _link_report(store, result, lines)
    log.info(
        "imported %d till records from %s (%d bad rows)", len(good), path, len(result.problems)
    )
    return result


_SAME = [
    "ts",
    "till_customer_id",
    "payment_mode",
    "can_size",
    "number_of_cans",
    "amount",
    "payment_status",
]


def _existing(store: Store, ids: list[str]) -> pd.DataFrame:
    found = store.query(
        f"SELECT transaction_id, {', '.join(_SAME)} FROM transactions "
        "WHERE transaction_id IN (SELECT unnest($ids))",
        {"ids": ids},
    )
    return found.set_index("transaction_id")


def _compare(result: ImportResult, good: pd.DataFrame, before: pd.DataFrame) -> None:
    new = good.rename(columns={"customer_id": "till_customer_id"}).set_index("transaction_id")
    known = new.index.isin(before.index)
    result.new = int((~known).sum())
    if known.any():
        a, b = new.loc[known, _SAME], before.loc[new.index[known], _SAME]
        a["ts"] = pd.to_datetime(a["ts"], utc=True)
        b = b.assign(ts=pd.to_datetime(b["ts"], utc=True))
        same = ((a == b) | (a.isna() & b.isna())).all(axis=1)
        result.unchanged, result.changed = int(same.sum()), int((~same).sum())


def _link_report(store: Store, result: ImportResult, lines: dict[str, int]) -> None:
    linked = store.query(
        "SELECT transaction_id, link_status, till_customer_id, "
        "till_customer_id IS NOT NULL AND till_customer_id NOT IN "
        "(SELECT customer_id FROM customers UNION SELECT customer_id FROM customer_merges) AS unknown "
        "FROM transactions WHERE transaction_id IN (SELECT unnest($ids))",
        {"ids": list(lines)},
    )
    result.links = linked["link_status"].value_counts().to_dict()
    for status, group in linked.groupby("link_status"):
        if status not in ("given", "linked"):
            result.unlinked_lines[status] = sorted(lines[t] for t in group["transaction_id"])
    result.unknown_customers = sorted(set(linked.loc[linked["unknown"], "till_customer_id"]))
