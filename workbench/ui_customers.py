"""``notebooks/customers.ipynb``: browse customers with their key images; label, mark staff,
merge, split and forget them.

Every button calls the function the ``workbench customers`` command calls
(``workbench.customers``), so the notebook and the CLI cannot disagree; refusals
(a merge of people marked as different, an unknown id) are shown in red, unchanged.
"""

from __future__ import annotations

import html
import os

import pandas as pd

from workbench import customers as cust
from workbench.errors import WorkbenchError
from workbench.store import Store
from workbench.ui_common import guarded, key_image, open_store, status_line

SORTS = {
    "most visits": ("visit_count", False),
    "last seen": ("last_seen", False),
    "first seen": ("first_seen", True),
    "id": ("customer_id", True),
}
WHO = {"customers": False, "staff": True, "everyone": None}
IMAGES_SHOWN = 6  # key images of a customer's best tracks
VISITS_SHOWN = 20


def find_customers(
    store: Store, text: str = "", who: bool | None = False, sort: str = "most visits"
) -> pd.DataFrame:
    """``customers.list_customers`` filtered by id or label (any case) and sorted."""
    df = cust.list_customers(store, staff=who)
    text = text.strip().lower()
    if text:
        hit = df["customer_id"].str.lower().str.contains(text, regex=False)
        hit |= df["label"].fillna("").str.lower().str.contains(text, regex=False)
        df = df[hit]
    column, ascending = SORTS[sort]
    return df.sort_values([column, "customer_id"], ascending=[ascending, True], ignore_index=True)


def _ids(text: str) -> list[str]:
    return [t.strip().upper() for t in text.replace(" ", ",").split(",") if t.strip()]


class CustomerBrowser:
    """A page of customer cards (key image, id, visits, label) and the chosen one's record
    with the edit buttons (``.widget``)."""

    def __init__(
        self, store: str | os.PathLike | Store, config: str | None = None, page_size: int = 12
    ):
        import ipywidgets as w

        self.store = open_store(store, config)
        self.page_size = page_size
        self.page = 0
        self.customers = pd.DataFrame()
        self.selected: str | None = None
        self.record: dict | None = None
        self.status = status_line()

        self.search = w.Text(placeholder="id or label", description="Find")
        self.who = w.Dropdown(options=list(WHO), description="Show")
        self.sort = w.Dropdown(options=list(SORTS), description="Sort by")
        self.prev_button = w.Button(icon="arrow-left", layout=w.Layout(width="3em"))
        self.next_button = w.Button(icon="arrow-right", layout=w.Layout(width="3em"))
        self.page_label = w.Label()
        self.gallery = w.GridBox(
            layout=w.Layout(grid_template_columns="repeat(auto-fill, 136px)", grid_gap="6px")
        )
        for box in (self.search, self.who, self.sort):
            box.observe(lambda _: self.refresh(reset=True), names="value")
        self.prev_button.on_click(lambda _: self.turn(-1))
        self.next_button.on_click(lambda _: self.turn(1))

        self.title = w.HTML()
        self.images = w.HBox()
        self.visits = w.HTML()
        self.label_text = w.Text(placeholder="name or note", description="Label")
        self.label_button = w.Button(description="Save label")
        self.staff_button = w.Button(description="Mark as staff")
        self.merge_text = w.Text(placeholder="C00040, C00041", description="Merge in")
        self.merge_button = w.Button(description="Merge into this one")
        self.merged = w.Dropdown(description="Merged id", options=[])
        self.unmerge_button = w.Button(description="Split it off again")
        self.tracks = w.SelectMultiple(description="Tracks", rows=5, options=[])
        self.move_button = w.Button(description="Move tracks to a new id")
        self.forget_sure = w.Checkbox(description="erase every record of this person, for good")
        self.forget_button = w.Button(description="Forget", button_style="danger")
        actions = {
            self.label_button: self.save_label,
            self.staff_button: self.toggle_staff,
            self.merge_button: self.merge_in,
            self.unmerge_button: self.split_merged,
            self.move_button: self.split_tracks,
            self.forget_button: self.forget,
        }
        for button, action in actions.items():
            button.on_click(lambda _, a=action: guarded(self.status)(a)())
        self.detail = w.VBox(
            [
                self.title,
                self.images,
                w.HBox([self.label_text, self.label_button, self.staff_button]),
                w.HBox([self.merge_text, self.merge_button]),
                w.HBox([self.merged, self.unmerge_button]),
                w.HBox([self.tracks, self.move_button]),
                w.HBox([self.forget_sure, self.forget_button]),
                w.Box([self.visits], layout=w.Layout(max_height="18em", overflow="auto")),
            ],
            layout=w.Layout(display="none"),
        )
        self.widget = w.VBox(
            [
                w.HBox([self.search, self.who, self.sort]),
                w.HBox([self.prev_button, self.page_label, self.next_button]),
                self.gallery,
                self.status,
                self.detail,
            ]
        )
        guarded(self.status)(self.refresh)()

    # ---------------------------------------------------------------- the list
    def refresh(self, reset: bool = False) -> None:
        """Reload the customers (after an edit, or when the filters change) and redraw the page."""
        self.customers = find_customers(
            self.store, self.search.value, WHO[self.who.value], self.sort.value
        )
        pages = max(1, -(-len(self.customers) // self.page_size))
        self.page = 0 if reset else min(self.page, pages - 1)
        self.page_label.value = f"page {self.page + 1} of {pages} ({len(self.customers)} people)"
        first = self.page * self.page_size
        self.gallery.children = [
            self._card(row)
            for row in self.customers.iloc[first : first + self.page_size].itertuples()
        ]

    def turn(self, pages: int) -> None:
        last = max(0, (len(self.customers) - 1) // self.page_size)
        self.page = min(max(0, self.page + pages), last)
        self.refresh()

    def _card(self, row):
        import ipywidgets as w

        image = w.Image(
            value=key_image(self.store, row.snapshot), format="jpeg", width=128, height=128
        )
        button = w.Button(description=row.customer_id, layout=w.Layout(width="128px"))
        button.on_click(lambda _, c=row.customer_id: guarded(self.status)(self.select)(c))
        note = html.escape(row.label) if isinstance(row.label, str) else "&nbsp;"
        staff = " · staff" if row.is_staff else ""
        caption = w.HTML(f"<small>{row.visit_count or 0} visits{staff}<br>{note}</small>")
        return w.VBox([image, button, caption], layout=w.Layout(width="136px"))

    # ---------------------------------------------------------------- one customer
    def select(self, customer_id: str | None) -> None:
        """Show ``customer_id``'s record (``None`` hides it)."""
        import ipywidgets as w

        self.selected, self.record = customer_id, None
        if customer_id is None:
            self.detail.layout.display = "none"
            return
        rec = cust.show(self.store, customer_id)
        self.record = rec
        c = rec["customer"]
        label = c.get("label") if isinstance(c.get("label"), str) else ""
        staff = bool(c.get("is_staff"))
        self.title.value = (
            f"<h3>{html.escape(customer_id)}{' (staff)' if staff else ''}</h3>"
            f"{c.get('visit_count') or 0} visits; first seen {c.get('first_seen')}, "
            f"last seen {c.get('last_seen')}"
        )
        self.label_text.value = label
        self.staff_button.description = "Mark as customer" if staff else "Mark as staff"
        tracks = rec["tracks"]
        best = tracks.dropna(subset=["snapshot"]).sort_values("quality", ascending=False)
        self.images.children = [
            w.Image(value=key_image(self.store, s), format="jpeg", width=110, height=110)
            for s in best["snapshot"].head(IMAGES_SHOWN)
        ]
        self.merged.options = c.get("merged_ids", [])
        self.tracks.options = [
            (f"{t.track_id} {t.camera} {t.start:%Y-%m-%d %H:%M}", t.track_id)
            for t in tracks.itertuples()
        ]
        visits = rec["visits"].tail(VISITS_SHOWN)
        self.visits.value = "<b>latest visits</b>" + visits.to_html(index=False, border=0)
        self.forget_sure.value = False
        self.detail.layout.display = "flex"

    def _need_selection(self) -> str:
        if self.selected is None:
            raise WorkbenchError("pick a customer first (the button under their picture)")
        return self.selected

    def _after_edit(self, customer_id: str | None) -> None:
        self.refresh()
        self.select(customer_id)

    def save_label(self) -> str:
        cid = self._need_selection()
        cust.label(self.store, cid, self.label_text.value.strip() or None)
        self._after_edit(cid)
        text = self.label_text.value
        return f"{cid}: label {text!r}" if text else f"{cid}: label cleared"

    def toggle_staff(self) -> str:
        cid = self._need_selection()
        staff = not bool(self.record["customer"].get("is_staff"))
        cust.set_staff(self.store, cid, staff)
        self._after_edit(cid)
        return f"{cid} is now {'staff' if staff else 'a customer'}"

    def merge_in(self) -> str:
        cid = self._need_selection()
        others = _ids(self.merge_text.value)
        merged = cust.merge(self.store, cid, others)
        self.merge_text.value = ""
        self._after_edit(cid)
        return (
            f"merged {', '.join(merged)} into {cid} (undo: pick it under 'Merged id', split it off)"
        )

    def split_merged(self) -> str:
        cid = self._need_selection()
        if not self.merged.value:
            raise WorkbenchError(f"nothing was merged into {cid}")
        other = cust.split(self.store, cid, other=self.merged.value)
        self._after_edit(cid)
        return f"{other} is separate from {cid} again"

    def split_tracks(self) -> str:
        cid = self._need_selection()
        if not self.tracks.value:
            raise WorkbenchError("pick the tracks that are someone else (ctrl-click for several)")
        moved = list(self.tracks.value)
        new = cust.split(self.store, cid, tracks=moved)
        self._after_edit(cid)
        return f"{len(moved)} tracks moved to the new customer {new}"

    def forget(self) -> str:
        cid = self._need_selection()
        if not self.forget_sure.value:
            raise WorkbenchError(
                f"tick 'erase every record' first: forgetting {cid} cannot be undone"
            )
        stats = cust.forget(self.store, cid)
        self._after_edit(None)
        return (
            f"forgot {cid}: {stats['tracks']} tracks, {stats['sightings']} sightings, "
            f"{stats['key_images']} key images, {stats['transactions_unlinked']} till records unlinked"
        )
