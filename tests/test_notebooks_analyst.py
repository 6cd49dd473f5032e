"""The analyst notebooks (explore, customers, zones, audit) and the widgets behind them.

Each notebook is executed top to bottom with papermill against a small simulated
store, a synthetic clip and a config file (the four run at once, each in its own
kernel); the widget logic is tested directly: set a widget's value or click its
button, then check the store, the config file or the hand counts changed.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from plotly.callbacks import Points

from workbench import customers as cust
from workbench.config import Config, load_config
from workbench.errors import SourceError, StoreError, WorkbenchError
from workbench.simulate import simulate_shop
from workbench.store import Store
from workbench.ui_audit import (
    HandCounter,
    audit_summary,
    camera_lines,
    compare_counts,
    read_counts,
)
from workbench.ui_common import grab_frame, guarded, key_image, open_store, placeholder_jpeg
from workbench.ui_customers import CustomerBrowser, find_customers
from workbench.ui_explore import Explorer, QueryError, guess_axes, run_sql, store_extent
from workbench.ui_zones import ConfigFile, ZoneEditor
from workbench.writer import RunWriter

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
END = date(2026, 11, 1)
T0 = datetime(2026, 10, 31, 5, 0, tzinfo=UTC)
PLOTLY = "application/vnd.plotly.v1+json"
CONFIG_TEXT = """\
# the shop's settings (this comment must survive a save)
timezone: Asia/Kolkata
cameras:
  - id: door   # the front door
    source: clip.mp4
    lines:
      - name: entrance
        points: [[160, 0], [160, 240]]
        inside: [300, 120]
people:
  detector: motion   # fast, and right for a fixed camera
  confirm_s: 0.5
  min_person_px: 60
"""


def make_clip(path: Path, n: int = 40, w: int = 320, h: int = 240) -> Path:
    """A person-sized bright shape walking left to right across x=160, 10 fps."""
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (w, h))
    bg = np.random.default_rng(0).integers(60, 120, (h, w, 3), dtype=np.uint8)
    for i in range(n):
        im = bg.copy()
        x = 20 + i * 6
        cv2.rectangle(im, (x, 50), (x + 45, 210), (230, 230, 230), -1)
        cv2.circle(im, (x + 22, 40), 16, (200, 200, 255), -1)
        out.write(im)
    out.release()
    return path


def add_faces(store: Store) -> list[str]:
    """Two customers at camera 'door' with real JPEG key images; returns their ids."""
    ids = store.allocate_customer_ids(2)
    tracks = []
    for n, cid in enumerate(ids):
        for k in range(2):
            picture = np.full((64, 64, 3), 40 + 80 * n + 20 * k, np.uint8)
            tid = f"door-t{n}{k}"
            snap = store.save_snapshot(
                f"door/{tid}.jpg", cv2.imencode(".jpg", picture)[1].tobytes()
            )
            start = T0 + timedelta(hours=n, minutes=30 * k)
            tracks.append(
                {
                    "camera": "door", "track_id": tid, "start": start,
                    "end": start + timedelta(minutes=2), "customer_id": cid, "sightings": 3,
                    "embedded": 1, "quality": 0.5 + 0.1 * k, "match_distance": None,
                    "embedding": None, "snapshot": snap,
                }
            )  # fmt: skip
    with RunWriter(store, "file:door:faces", "door", "test", kind="video") as w:
        w.add("tracks", tracks)
    return ids


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A 3-day simulated store plus two customers with key images, a clip, a config file."""
    root = tmp_path_factory.mktemp("analyst")
    store = Store(root / "store", Config(store=root / "store", timezone="Asia/Kolkata"))
    simulate_shop(store, days=3, end=END, seed=1)
    faces = add_faces(store)
    clip = make_clip(root / "clip.mp4")
    (root / "workbench.yml").write_text(CONFIG_TEXT)
    return {"root": root, "store": store, "faces": faces, "clip": clip}


@pytest.fixture
def store_copy(site, tmp_path) -> Store:
    shutil.copytree(site["store"].root, tmp_path / "store")
    return Store(tmp_path / "store")


@pytest.fixture
def config_copy(site, tmp_path) -> Path:
    path = tmp_path / "workbench.yml"
    path.write_text(CONFIG_TEXT)
    shutil.copy(site["clip"], tmp_path / "clip.mp4")
    return path


# ---------------------------------------------------------------- notebooks end to end
@pytest.fixture(scope="module")
def executed(site, tmp_path_factory):
    """Every analyst notebook executed with papermill (in parallel); name -> notebook."""
    import nbformat
    import papermill as pm

    out = tmp_path_factory.mktemp("executed")
    audits = out / "audits"
    audits.mkdir()
    # hand counts saved earlier: the audit notebook compares them at once
    pd.DataFrame(
        {"frame": [10, 20, 30], "people": [1, 1, 1], "in": [0, 1, 0], "out": [0, 0, 0]}
    ).to_csv(audits / "door--clip.csv", index=False)
    store, config, clip = (
        str(site["store"].root),
        str(site["root"] / "workbench.yml"),
        str(site["clip"]),
    )
    runs = {
        "explore": {"store": store},
        "customers": {"store": store},
        "zones": {"config": config, "camera": "door", "video": clip},
        "audit": {
            "video": clip, "camera": "door", "config": config,
            "audit_dir": str(audits), "fps": 10.0,
        },
    }  # fmt: skip

    def run(name: str):
        target = out / f"{name}.ipynb"
        pm.execute_notebook(
            str(NOTEBOOKS / f"{name}.ipynb"), str(target), parameters=runs[name],
            kernel_name="python3", progress_bar=False, cwd=str(out), execution_timeout=300,
        )  # fmt: skip
        return nbformat.read(target, as_version=4)

    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        futures = {name: pool.submit(run, name) for name in runs}
        return {name: f.result() for name, f in futures.items()} | {"audits": audits}


def widget_models(nb, name: str) -> list[dict]:
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    return [m["state"] for m in state.values() if m["model_name"] == name]


def figure_widgets(nb) -> list[list[dict]]:
    """The traces of every plotly FigureWidget in the saved widget state."""
    return [m["_widget_data"] for m in widget_models(nb, "AnyModel") if "_widget_data" in m]


def static_figures(nb) -> list[dict]:
    return [
        o["data"][PLOTLY] for c in nb.cells if c.cell_type == "code"
        for o in c.outputs if PLOTLY in o.get("data", {})
    ]  # fmt: skip


def test_committed_notebooks_have_no_outputs_and_one_parameters_cell():
    import nbformat

    for name in ("explore", "customers", "zones", "audit"):
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), name
        assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1, name
        assert len(code) <= 5, f"{name} should stay thin"


def test_explore_notebook_draws_the_query_and_overview(executed):
    nb = executed["explore"]
    (chart,) = figure_widgets(nb)
    assert chart and chart[0]["type"] == "scatter" and sum(chart[0]["y"]) > 0
    figures = static_figures(nb)
    assert len(figures) == 2  # visits per day, weekday x hour (no crossings in this store)
    assert figures[1]["data"][0]["type"] == "heatmap"
    tables = [m["value"] for m in widget_models(nb, "HTMLModel") if "<table" in m["value"]]
    assert tables and "visits" in tables[0]


def test_customers_notebook_shows_cards_with_key_images(executed, site):
    nb = executed["customers"]
    images = widget_models(nb, "ImageModel")
    assert len(images) == 12  # one page of cards
    buttons = {m["description"] for m in widget_models(nb, "ButtonModel")}
    first_page = find_customers(site["store"]).head(12)["customer_id"]
    assert set(first_page) <= buttons


def test_zones_notebook_draws_the_frame_and_configured_line(executed):
    nb = executed["zones"]
    (traces,) = figure_widgets(nb)
    assert traces[0]["type"] == "image" and traces[0]["source"].startswith("data:image/jpeg")
    assert [t.get("name") for t in traces[1:]] == ["line entrance", None]  # the line, its 'in' star
    assert traces[1]["x"] == [160, 160] and traces[2]["x"] == [300]
    shown = nb.cells[-1].outputs[0]["data"]["text/plain"]
    assert "entrance" in shown and "[160" in shown


def test_audit_notebook_compares_saved_counts(executed):
    nb = executed["audit"]
    comparison = [t for t in figure_widgets(nb) if t]
    assert len(comparison) == 1 and [t["name"] for t in comparison[0]] == ["by hand", "system"]
    result = json.loads((executed["audits"] / "door--clip.json").read_text())
    assert result["frames"] == 3 and result["crossings_in_true"] == 1
    assert result["crossings_in_pred"] == 1  # the shape walks across the line once, inwards
    (summary,) = static_figures(nb)
    assert len(summary["data"]) == 4 and summary["data"][0]["x"][0].startswith("door")


# ---------------------------------------------------------------- ui_common
def test_guarded_handlers_show_errors_and_successes():
    from workbench.ui_common import status_line

    status = status_line()

    @guarded(status)
    def fail():
        raise WorkbenchError("no <such> thing")

    assert fail() is None and "#b00020" in status.value and "no &lt;such&gt; thing" in status.value
    assert guarded(status)(lambda: "done")() == "done" and "done" in status.value


def test_open_store_and_pictures(site, tmp_path):
    with pytest.raises(StoreError, match="no store at"):
        open_store(tmp_path / "nothing")
    store = open_store(site["store"].root)
    assert key_image(store, None) == placeholder_jpeg()
    assert key_image(store, "snapshots/gone.jpg") == placeholder_jpeg()
    image = grab_frame(site["clip"], index=30)
    assert image.shape == (240, 320, 3)
    assert image[120, 20 + 30 * 6 + 10].mean() > 200  # the shape has walked to x=200 by then
    with pytest.raises(SourceError, match="no frame 99"):
        grab_frame(site["clip"], index=99)
    with pytest.raises(SourceError, match="no picture within"):
        grab_frame("http://127.0.0.1:9/stream.mjpg", timeout_s=2)


# ---------------------------------------------------------------- ui_explore
def test_explore_filters_reach_the_sql(site):
    store = site["store"]
    cameras, first, last = store_extent(store)
    assert cameras == ["counter", "door"] and last == END and first == END - timedelta(days=2)
    sql = "SELECT count(*) AS n FROM visits WHERE ($camera::VARCHAR IS NULL OR camera = $camera)"
    every = run_sql(store, sql, None, None, None)["n"][0]
    door = run_sql(store, sql, None, None, "door")["n"][0]
    assert (
        0 < door < every
        and door == store.query("SELECT count(*) n FROM visits WHERE camera = 'door'")["n"][0]
    )
    with pytest.raises(QueryError, match="views: .*daily_summary"):
        run_sql(store, "SELECT * FROM no_such_view", None, None, None)


def test_explorer_reruns_on_filter_change_and_reports_bad_sql(site):
    app = Explorer(site["store"])  # rows: the counter's 3 days, the door's one
    assert len(app.result) == 3 + 1 and (app.x.value, app.y.value, app.color.value) == (
        "day",
        "visits",
        "camera",
    )
    app.camera.value = "door"
    assert set(app.result["camera"]) == {"door"} and "rows" in app.status.value
    assert sum(app.chart.figure.data[0].y) == 4  # the two door customers' four visits
    app.kind.value = "bar"
    assert app.chart.figure.data[0].type == "bar"
    app.start.value = END + timedelta(days=5)
    assert "after it ends" in app.status.value
    app.start.value = END - timedelta(days=2)
    app.sql.value = "SELECT nope FROM visits"
    app.run_button.click()
    assert "query failed" in app.status.value and "#b00020" in app.status.value
    app.sql.value = "SELECT camera, count(*) AS n FROM runs GROUP BY 1"
    app.run_button.click()
    assert list(app.result.columns) == ["camera", "n"] and "2 rows" in app.status.value


def test_guess_axes():
    df = pd.DataFrame({"day": ["a", "b"], "who": ["x", "y"], "n": [1, 2]})
    assert guess_axes(df) == ("day", "n", "who")
    assert guess_axes(pd.DataFrame({"n": [1]})) == ("n", None, None)


# ---------------------------------------------------------------- ui_customers
def _open(browser: CustomerBrowser, cid: str) -> None:
    browser.search.value = cid
    (card,) = browser.gallery.children
    card.children[1].click()
    assert browser.selected == cid, browser.status.value


def test_customer_cards_carry_key_images(store_copy, site):
    browser = CustomerBrowser(store_copy)
    a, _ = site["faces"]
    browser.search.value = a
    (card,) = browser.gallery.children
    stored = (store_copy.root / "snapshots/door/door-t01.jpg").read_bytes()
    assert card.children[0].value == stored  # the latest track's key image
    _open(browser, a)
    assert [i.value for i in browser.images.children][0] == stored  # best quality first
    assert len(browser.tracks.options) == 2


def test_customer_buttons_edit_the_store(store_copy, site):
    a, b = site["faces"]
    browser = CustomerBrowser(store_copy)
    _open(browser, a)
    browser.label_text.value = "Ravi"
    browser.label_button.click()
    assert (
        store_copy.query("SELECT label FROM customers WHERE customer_id = ?", [a])["label"][0]
        == "Ravi"
    )
    browser.staff_button.click()
    assert browser.staff_button.description == "Mark as customer"
    assert find_customers(store_copy, a, who=True)["customer_id"].tolist() == [a]
    browser.merge_text.value = b.lower()
    browser.merge_button.click()
    assert cust.show(store_copy, a)["customer"]["merged_ids"] == [b], browser.status.value
    browser.merged.value = b
    browser.unmerge_button.click()
    assert "separate" in browser.status.value
    browser.merge_text.value = b
    browser.merge_button.click()  # refused: marked as different people
    assert (
        "marked as different" in browser.status.value
        and not cust.show(store_copy, a)["customer"]["merged_ids"]
    )
    browser.tracks.value = ("door-t00",)
    browser.move_button.click()
    moved = store_copy.read_state("track_assignments")
    assert moved["track_id"].tolist() == ["door-t00"] and moved["customer_id"][0] != a


def test_forget_needs_the_box_ticked(store_copy, site):
    a, _ = site["faces"]
    browser = CustomerBrowser(store_copy)
    _open(browser, a)
    browser.forget_button.click()
    assert "tick" in browser.status.value and a in cust.known_ids(store_copy)
    browser.forget_sure.value = True
    browser.forget_button.click()
    assert "forgot" in browser.status.value and browser.selected is None
    assert a not in cust.known_ids(store_copy)
    assert not (store_copy.root / "snapshots/door/door-t00.jpg").exists()
    browser.label_button.click()  # nobody selected any more
    assert "pick a customer first" in browser.status.value


# ---------------------------------------------------------------- ui_zones
def _click(editor: ZoneEditor, x: float, y: float) -> None:
    """What the browser does: a plotly click on the picture reaches the trace's handlers."""
    editor.canvas.figure.data[0]._dispatch_on_click(Points([0], [x], [y], "", 0), None)


def test_clicks_draw_a_line_and_a_zone_and_save_them(config_copy):
    editor = ZoneEditor(config_copy, "door")  # the config's relative source: clip.mp4
    assert (editor.width, editor.height) == (320, 240) and editor.lines[0]["name"] == "entrance"
    for x, y in [(60, 10), (60, 230), (20, 120)]:
        _click(editor, x, y)
    assert (editor.points.value, editor.inside.value) == ("60,10 60,230", "20,120")
    editor.name.value = "aisle"
    editor.add_button.click()
    assert [ln["name"] for ln in editor.lines] == ["entrance", "aisle"], editor.status.value
    editor.kind.value = "zone"
    for x, y in [(200, 20), (300, 20), (300, 100), (200, 100)]:
        _click(editor, x, y)
    editor.name.value, editor.staff.value = "till", True
    editor.add_button.click()
    names = [t.name for t in editor.canvas.figure.data]
    assert "zone till (staff)" in names and "line aisle" in names
    editor.save_button.click()
    assert "saved 2 lines and 1 zones" in editor.status.value
    text = config_copy.read_text()
    assert "(this comment must survive a save)" in text and "# the front door" in text
    cam = load_config(config_copy).cameras[0]
    assert [ln.name for ln in cam.lines] == ["entrance", "aisle"]
    assert cam.lines[1].points == [[60, 10], [60, 230]] and cam.lines[1].inside == [20, 120]
    assert cam.zones[0].staff and cam.zones[0].points[2] == [300, 100]
    editor.items.value = ("line", 0)
    editor.remove_button.click()
    editor.save_button.click()
    assert [ln.name for ln in load_config(config_copy).cameras[0].lines] == ["aisle"]


def test_invalid_geometry_is_shown_and_never_saved(config_copy):
    before = config_copy.read_text()
    editor = ZoneEditor(config_copy, "door")
    editor.kind.value = "zone"
    editor.points.value = "10,10 100,100 100,10 10,100"  # a bow tie
    editor.add_button.click()
    assert "crosses itself" in editor.status.value and not editor.zones
    editor.points.value = "10,10 900,10 100,100"
    editor.add_button.click()
    assert "outside the 320x240 picture" in editor.status.value
    editor.kind.value = "line"
    editor.points.value, editor.inside.value = "10,10 10,200", "10,50"
    editor.add_button.click()
    assert "lies on the line" in editor.status.value
    editor.points.value = "10,10 oops"
    assert "is not a point" in editor.status.value
    editor.name.value, editor.points.value, editor.inside.value = "entrance", "5,5 5,200", "50,50"
    editor.add_button.click()
    assert "used twice" in editor.status.value and len(editor.lines) == 1
    assert config_copy.read_text() == before


def test_new_config_file_and_camera(tmp_path, site):
    path = tmp_path / "new.yml"
    editor = ZoneEditor(path, "side", video=site["clip"])
    editor.points.value, editor.inside.value = "100,0 100,240", "200,100"
    editor.add_button.click()
    editor.save_button.click()
    cam = load_config(path).cameras[0]
    assert cam.id == "side" and cam.lines[0].name == "line1"
    with pytest.raises(WorkbenchError, match="has no source"):
        ZoneEditor(path, "side")
    bad = tmp_path / "bad.yml"
    bad.write_text("cameras: [{id: door, lenses: 2}]")
    with pytest.raises(WorkbenchError, match="lenses: unknown key"):
        ConfigFile(bad)


# ---------------------------------------------------------------- ui_audit
def test_hand_counting_is_saved_at_every_press_and_resumes(tmp_path, config_copy):
    counter = HandCounter(tmp_path / "clip.mp4", "door", str(config_copy), tmp_path / "audits")
    assert len(counter.clip.frames) == 40 and [ln.name for ln in counter.lines] == ["entrance"]
    counter.people.value = 1
    for _ in range(3):
        counter.buttons["next"].click()
    counter.buttons["in"].click()
    counter.buttons["in"].click()
    counter.buttons["out"].click()
    saved = read_counts(tmp_path / "audits" / "door--clip.csv")
    assert saved.to_dict("list") == {
        "frame": [0, 1, 2, 3], "people": [1, 1, 1, 1], "in": [0, 0, 0, 2], "out": [0, 0, 0, 1]
    }  # fmt: skip
    counter.buttons["clear"].click()
    again = HandCounter(tmp_path / "clip.mp4", "door", str(config_copy), tmp_path / "audits")
    assert again.frame == 3 and len(again.counts) == 3  # resumes at the first uncounted frame
    again.position.value = 1
    assert again.people.value == 1
    (tmp_path / "audits" / "door--clip.csv").write_text("a,b\n1,2\n")
    with pytest.raises(WorkbenchError, match="not a hand-count file"):
        HandCounter(tmp_path / "clip.mp4", "door", str(config_copy), tmp_path / "audits")


def test_compare_counts_uses_the_audit_measures():
    line = camera_lines(Config(), "door", "100,0,100,200")[0]  # 'in' is towards -x
    tracks = pd.DataFrame(
        [(f, 1, 155 - 10 * f, 50, 175 - 10 * f, 180) for f in range(10)]  # walks right to left
        + [(f, 2, 10, 50, 30, 180) for f in range(5)],
        columns=["frame", "id", "x1", "y1", "x2", "y2"],
    )
    hand = pd.DataFrame(
        {"frame": [0, 4, 8], "people": [2, 1, 1], "in": [0, 1, 0], "out": [0, 0, 1]}
    )
    result = compare_counts(hand, tracks, [line], video_fps=5, confirm_s=0.2)
    assert result["count_mae"] == round((0 + 1 + 0) / 3, 3)  # frame 4: system saw 2, hand 1
    assert (result["crossings_in_pred"], result["crossings_out_pred"]) == (1, 0)
    assert (result["crossings_true"], result["crossings_pred"]) == (2, 1)
    with pytest.raises(WorkbenchError, match="count at least one frame"):
        compare_counts(hand.iloc[:0], tracks, [line], 5, 0.2)
    with pytest.raises(WorkbenchError, match="x1,y1,x2,y2"):
        camera_lines(Config(), "door", "1,2,3")


def test_audit_summary_is_per_camera(tmp_path):
    for cam, clip, frames, mae in [
        ("door", "a", 10, 0.5),
        ("door", "b", 30, 1.0),
        ("till", "c", 5, 0),
    ]:
        row = {"camera": cam, "clip": clip, "frames": frames, "count_mae": mae}
        row |= {f"crossings_{w}_{s}": 1 for w in ("in", "out") for s in ("true", "pred")}
        (tmp_path / f"{cam}--{clip}.json").write_text(json.dumps(row))
    summary = audit_summary(tmp_path).set_index("camera")
    assert summary.loc["door", "clips"] == 2 and summary.loc["door", "frames"] == 40
    assert summary.loc["door", "count_mae"] == round((5 + 30) / 40, 3)
    assert summary.loc["till", "crossings_in_true"] == 1
    assert audit_summary(tmp_path / "none").empty
