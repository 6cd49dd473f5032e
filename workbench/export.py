"""Export store tables to CSV, Parquet or Excel.

Timestamps are written in each camera's own timezone with its UTC offset
(ISO 8601, e.g. ``2026-11-20T10:15:00+05:30``), so a file means the same
thing wherever it is opened.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.store import Store

EXPORTS = {
    "visits": 'SELECT visit_id, customer_id, camera, start, "end", dwell_s, is_new, snapshot FROM visits ORDER BY start',
    "customers": "SELECT * FROM customers ORDER BY first_seen",
    "sightings": "SELECT camera, ts, frame, track_id, x, y, w, h, score, quality FROM sightings ORDER BY ts",
    "tracks": 'SELECT camera, track_id, start, "end", customer_id, sightings, embedded, quality, match_distance, snapshot FROM tracks ORDER BY start',
    "transactions": "SELECT transaction_id, ts, customer_id, camera, payment_mode, can_size, number_of_cans, amount, payment_status FROM transactions ORDER BY ts",
}
FORMATS = {".csv", ".parquet", ".xlsx"}


def table_frame(store: Store, table: str) -> pd.DataFrame:
    """A table as it is exported: timestamps converted to each row's camera timezone."""
    if table not in EXPORTS:
        raise WorkbenchError(f"unknown table {table!r}; choose one of: {', '.join(EXPORTS)}")
    df = store.query(EXPORTS[table])
    ts_cols = [c for c in df.columns if isinstance(df[c].dtype, pd.DatetimeTZDtype)]
    if not ts_cols:
        return df
    if "camera" in df.columns:
        tz = df["camera"].map(lambda cam: store.timezone(cam) if cam else store.config.timezone)
    else:
        tz = pd.Series(store.config.timezone, index=df.index)
    for col in ts_cols:
        df[col] = [
            None if pd.isna(v) else v.tz_convert(z) for v, z in zip(df[col], tz, strict=True)
        ]
    return df


def export_table(store: Store, table: str, out: str | Path) -> int:
    """Write ``table`` to ``out`` (format from the suffix); returns the number of rows."""
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise WorkbenchError(
            f"{out}: unknown format {out.suffix!r}; use one of {', '.join(sorted(FORMATS))}"
        )
    df = table_frame(store, table)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{out.suffix}")
    try:
        if out.suffix.lower() == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            text = df.copy()
            for col in text.columns:
                if len(text) and hasattr(
                    text[col].dropna().iloc[0] if text[col].notna().any() else None, "isoformat"
                ):
                    text[col] = text[col].map(
                        lambda v: v.isoformat() if hasattr(v, "isoformat") else v
                    )
            if out.suffix.lower() == ".csv":
                text.to_csv(tmp, index=False)
            else:
                text.to_excel(tmp, index=False, sheet_name=table, engine="openpyxl")
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WorkbenchError(f"cannot write {out}: {exc.strerror or exc}") from None
    return len(df)
