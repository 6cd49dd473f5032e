"""A store as of one moment, fast to ask many questions of.

A ``Snapshot`` is one DuckDB connection on the store, so every figure of a redraw sees
the same files. Without a derived build (a small store, or one never compacted) its
base views (track spans, visits, till records) are computed once when it opens, so
each later figure takes milliseconds instead of re-sessionizing visits; with one
(``workbench compact``) the views already read precomputed tables, and copying those
(millions of rows at 100 cameras x a year) would cost seconds per redraw. It has the
``query``, ``config`` and ``root`` of a ``Store``, so every ``workbench.analytics``
function takes it in place of the store. The dashboard opens one per redraw; a report
notebook one per run.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from workbench.derived import plan as derived_plan
from workbench.store import Store

# computed once per snapshot of a store without a derived build; every other view reads them
MATERIALIZED = ("track_spans", "all_visits", "transactions")


class Snapshot:
    """The store as of now; use as a context manager, or ``close()`` it."""

    def __init__(self, store: Store):
        self.store = store
        self.config = store.config
        self.root = store.root
        for attempt in (1, 2):  # a writer may replace a file between listing and reading it
            plan = derived_plan(store)
            self._con = store.connect(plan)
            try:
                for name in MATERIALIZED if plan.build is None else ():
                    self._con.execute(f"CREATE TEMP TABLE snap_{name} AS SELECT * FROM {name}")
                    self._con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM snap_{name}")
                break
            except duckdb.IOException:
                self._con.close()
                if attempt == 2:
                    raise

    def query(self, sql: str, params: list | dict | None = None) -> pd.DataFrame:
        return self._con.execute(sql, params or []).df()

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
