"""``notebooks/audit.ipynb``: hand-count a sample clip, then compare with the system's counts.

Step through the clip's frames; for each one say how many people are in view, and
press "in" or "out" on the frame where someone crosses the camera's counting line.
Every press is saved at once to ``<audit_dir>/<camera>--<clip>.csv`` (frame, people,
in, out), so a closed notebook loses nothing and counting resumes where it stopped.

The comparison runs people detection and tracking on the same frames as
``workbench audit counting`` does (``workbench.audit_counting.track_video``) and
scores it with that command's measures: ``count_mae`` (people in view, mean absolute
error over the hand-counted frames), ``crossings_true`` / ``crossings_pred`` (and
their in/out parts) over the camera's configured lines. Each comparison is saved as
JSON beside the counts; ``audit_summary`` gathers them per camera.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from workbench.audit_counting import _crossings, audit_line, track_video
from workbench.config import Config
from workbench.config_people import LineConfig
from workbench.errors import WorkbenchError
from workbench.sources import open_source
from workbench.store import _atomic_write
from workbench.ui_common import FigureBox, guarded, jpeg, load_or_default, status_line

COLUMNS = ["frame", "people", "in", "out"]
MAX_FRAMES = 1500  # frames held in memory (as JPEG) for stepping through a clip


@dataclass
class Clip:
    """The frames of a clip the audit looks at: every ``step``-th, as JPEG for display."""

    path: Path
    fps: float  # the video's own frame rate
    step: int
    width: int
    height: int
    frames: list[int] = field(default_factory=list)  # video frame numbers (0-based)
    pictures: list[bytes] = field(default_factory=list)


def load_clip(video: str | os.PathLike, fps: float | None = None, max_width: int = 960) -> Clip:
    """Decode ``video`` at ``fps`` frames per second (default: every frame), as the audit does."""
    source = open_source(video)
    try:
        step = 1 if fps is None else max(1, round(source.fps / fps))
        clip = Clip(Path(video), source.fps, step, 0, 0)
        for frame in source.frames(step):
            if len(clip.frames) >= MAX_FRAMES:
                raise WorkbenchError(
                    f"{video}: more than {MAX_FRAMES} frames to count; cut a shorter sample "
                    "or set a lower `fps` in the parameters cell"
                )
            clip.height, clip.width = frame.image.shape[:2]
            clip.frames.append(frame.index)
            clip.pictures.append(jpeg(frame.image, max_width))
    finally:
        source.close()
    if not clip.frames:
        raise WorkbenchError(f"{video}: no frames could be read")
    return clip


def counts_path(audit_dir: str | os.PathLike, camera: str, video: str | os.PathLike) -> Path:
    return Path(audit_dir) / f"{camera}--{Path(video).stem}.csv"


def read_counts(path: Path) -> pd.DataFrame:
    """Hand counts saved earlier (empty when there are none yet)."""
    if not path.exists():
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in COLUMNS})
    try:
        df = pd.read_csv(path)
        return df[COLUMNS].astype("int64")
    except (ValueError, KeyError, pd.errors.ParserError) as exc:
        raise WorkbenchError(
            f"{path}: not a hand-count file ({exc}); it needs columns {','.join(COLUMNS)}: "
            "move it away to start counting afresh"
        ) from None


def camera_lines(config: Config, camera: str, line: str | None = None) -> list[LineConfig]:
    """The lines crossings are counted on: ``line`` (x1,y1,x2,y2, as the CLI's --line),
    else the camera's configured lines."""
    if line:
        try:
            x1, y1, x2, y2 = (float(v) for v in line.split(","))
        except ValueError:
            raise WorkbenchError(
                f"line {line!r}: write the line's two ends as x1,y1,x2,y2 (pixels)"
            ) from None
        return [audit_line((x1, y1, x2, y2))]
    for cam in config.cameras:
        if cam.id == camera:
            return list(cam.lines)
    return []


def compare_counts(
    hand: pd.DataFrame,
    tracks: pd.DataFrame,
    lines: list[LineConfig],
    video_fps: float,
    confirm_s: float,
) -> dict:
    """The audit measures of the system's ``tracks`` (frame, id, x1, y1, x2, y2) against hand counts."""
    if hand.empty:
        raise WorkbenchError("count at least one frame by hand before comparing")
    per_frame = tracks.groupby("frame")["id"].nunique()
    system = per_frame.reindex(hand["frame"], fill_value=0).to_numpy()
    result = {
        "frames": int(len(hand)),
        "people_true_max": int(hand["people"].max()),
        "people_pred": int(tracks[tracks["frame"] <= hand["frame"].max()]["id"].nunique()),
        "count_mae": round(float(abs(system - hand["people"].to_numpy()).mean()), 3),
        "crossings_in_true": int(hand["in"].sum()),
        "crossings_out_true": int(hand["out"].sum()),
    }
    found = {"in": 0, "out": 0}
    seen = tracks[tracks["frame"] <= hand["frame"].max()]
    for ln in lines:
        if not seen.empty:
            for k, v in _crossings(seen, ln, video_fps, confirm_s).items():
                found[k] += v
    result.update(
        lines=[ln.name for ln in lines],
        crossings_in_pred=found["in"],
        crossings_out_pred=found["out"],
        crossings_true=result["crossings_in_true"] + result["crossings_out_true"],
        crossings_pred=found["in"] + found["out"],
    )
    return result


def comparison_figure(hand: pd.DataFrame, tracks: pd.DataFrame, result: dict):
    """People in view per frame, by hand and by the system, with the crossing totals."""
    import plotly.graph_objects as go

    system = tracks.groupby("frame")["id"].nunique()
    fig = go.Figure()
    fig.add_scatter(x=hand["frame"], y=hand["people"], mode="markers+lines", name="by hand")
    fig.add_scatter(x=system.index, y=system.values, mode="lines", name="system")
    crossings = (
        f"in: {result['crossings_in_true']} by hand, {result['crossings_in_pred']} system; "
        f"out: {result['crossings_out_true']} by hand, {result['crossings_out_pred']} system"
    )
    return fig.update_layout(
        title=f"People in view (count MAE {result['count_mae']})<br><sub>{crossings}</sub>",
        xaxis_title="frame",
        yaxis_title="people",
    )


def audit_summary(audit_dir: str | os.PathLike) -> pd.DataFrame:
    """Every saved comparison in ``audit_dir``, one row per camera (totals over its clips)."""
    rows = [json.loads(p.read_text()) for p in sorted(Path(audit_dir).glob("*.json"))]
    if not rows:
        return pd.DataFrame(columns=["camera", "clips", "frames", "count_mae"])
    df = pd.DataFrame(rows)
    df["abs_error"] = df["count_mae"] * df["frames"]
    sums = ["frames", "abs_error", "crossings_in_true", "crossings_in_pred"]
    sums += ["crossings_out_true", "crossings_out_pred"]
    out = df.groupby("camera").agg(clips=("clip", "nunique"), **{c: (c, "sum") for c in sums})
    out["count_mae"] = (out.pop("abs_error") / out["frames"]).round(3)
    return out.reset_index()


def summary_figure(summary: pd.DataFrame):
    """Crossings by hand and by the system per camera, with each camera's count MAE."""
    import plotly.graph_objects as go

    fig = go.Figure(layout={"title": "Crossings by hand and by the system, per camera"})
    if summary.empty:
        return fig.update_layout(title="no audits yet: count a clip and compare")
    cams = [f"{c} (MAE {m})" for c, m in zip(summary["camera"], summary["count_mae"])]
    for who in ("true", "pred"):
        name = "by hand" if who == "true" else "system"
        for way in ("in", "out"):
            col = f"crossings_{way}_{who}"
            fig.add_bar(x=cams, y=summary[col], name=f"{way}, {name}")
    return fig.update_layout(barmode="group", yaxis_title="crossings")


class HandCounter:
    """Frame-by-frame hand counting of a clip for one camera (``.widget``), and ``comparison()``."""

    def __init__(
        self,
        video: str | os.PathLike,
        camera: str,
        config: str | None = None,
        audit_dir: str | os.PathLike = "audits",
        fps: float | None = None,
        line: str | None = None,
    ):
        import ipywidgets as w

        self.config = load_or_default(config)
        self.camera = camera
        self.fps = fps
        self.lines = camera_lines(self.config, camera, line)
        self.clip = load_clip(video, fps)
        self.path = counts_path(audit_dir, camera, video)
        self.counts = read_counts(self.path).set_index("frame")
        self._tracks: pd.DataFrame | None = None

        self.status = status_line()
        self.picture = w.Image(format="jpeg", layout=w.Layout(max_width="960px"))
        self.position = w.IntSlider(
            description="Frame", min=0, max=len(self.clip.frames) - 1, continuous_update=False
        )
        self.people = w.BoundedIntText(description="People", min=0, max=500)
        buttons = {
            "prev": w.Button(description="Previous", icon="arrow-left"),
            "next": w.Button(description="Count, next", icon="arrow-right", button_style="primary"),
            "in": w.Button(description="in +1", button_style="success"),
            "out": w.Button(description="out +1", button_style="warning"),
            "clear": w.Button(description="Clear frame"),
        }
        self.buttons = buttons
        act = guarded(self.status)
        buttons["prev"].on_click(lambda _: act(self.step)(-1))
        buttons["next"].on_click(lambda _: act(self.count_and_next)())
        buttons["in"].on_click(lambda _: act(self.crossing)("in"))
        buttons["out"].on_click(lambda _: act(self.crossing)("out"))
        buttons["clear"].on_click(lambda _: act(self.clear_frame)())
        self.position.observe(lambda _: act(self.show)(), names="value")
        self.totals = w.HTML()
        names = ", ".join(ln.name for ln in self.lines) or "none: the camera has no lines"
        self.widget = w.VBox(
            [
                w.HTML(f"<b>{camera}</b>: {self.clip.path.name}; counting lines: {names}"),
                self.picture,
                self.position,
                w.HBox([buttons["prev"], self.people, buttons["next"]]),
                w.HBox([buttons["in"], buttons["out"], buttons["clear"], self.totals]),
                self.status,
            ]
        )
        first_uncounted = next(
            (i for i, f in enumerate(self.clip.frames) if f not in self.counts.index), 0
        )
        self.position.value = first_uncounted
        self.show()

    @property
    def frame(self) -> int:
        """The video frame number on screen."""
        return self.clip.frames[self.position.value]

    def show(self) -> None:
        self.picture.value = self.clip.pictures[self.position.value]
        if self.frame in self.counts.index:
            self.people.value = int(self.counts.at[self.frame, "people"])
        self._totals()

    def _totals(self) -> None:
        c = self.counts
        here = c.loc[self.frame] if self.frame in c.index else None
        mark = f" (this frame: in {here['in']}, out {here['out']})" if here is not None else ""
        self.totals.value = (
            f"counted {len(c)} of {len(self.clip.frames)} frames; "
            f"in {int(c['in'].sum())}, out {int(c['out'].sum())}{mark}"
        )

    def _record(self, **add: int) -> None:
        row = self.counts.loc[self.frame] if self.frame in self.counts.index else None
        self.counts.loc[self.frame, "people"] = int(self.people.value)
        for key in ("in", "out"):
            self.counts.loc[self.frame, key] = (0 if row is None else int(row[key])) + add.get(
                key, 0
            )
        self.counts = self.counts.astype("int64").sort_index()
        self.save()
        self._totals()

    def save(self) -> None:
        """Write the hand counts (atomically), so nothing counted is lost."""
        table = self.counts.reset_index()[COLUMNS]
        _atomic_write(self.path, lambda p: table.to_csv(p, index=False))

    def step(self, frames: int) -> None:
        self.position.value = min(max(0, self.position.value + frames), self.position.max)

    def count_and_next(self) -> None:
        """Record the people count for this frame and move on (the count carries over)."""
        self._record()
        if self.position.value < self.position.max:
            self.step(1)
            self.show()

    def crossing(self, direction: str) -> None:
        """Someone crossed the line here going ``direction`` ('in' or 'out')."""
        self._record(**{direction: 1})

    def clear_frame(self) -> None:
        self.counts = self.counts.drop(index=self.frame, errors="ignore")
        self.save()
        self._totals()

    # ---------------------------------------------------------------- comparison
    def system_tracks(self) -> pd.DataFrame:
        """People tracked by the system on the clip (computed once)."""
        if self._tracks is None:
            self._tracks, _facts = track_video(self.clip.path, self.config, self.fps)
        return self._tracks

    def compare(self) -> dict:
        """Score the system against the hand counts; saved as JSON beside them."""
        hand = self.counts.reset_index()
        result = compare_counts(
            hand,
            self.system_tracks(),
            self.lines,
            self.clip.fps,
            self.config.people.confirm_s,
        )
        result = {"camera": self.camera, "clip": self.clip.path.name, **result}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(
            self.path.with_suffix(".json"), lambda p: p.write_text(json.dumps(result, indent=1))
        )
        return result

    def comparison(self):
        """A "Compare" button with the figure and the measures (run at once if counts exist)."""
        import ipywidgets as w

        table = w.HTML()
        status = status_line()
        button = w.Button(description="Compare with the system", icon="balance-scale")
        chart = FigureBox()

        @guarded(status)
        def run(_=None) -> str:
            result = self.compare()
            fig = comparison_figure(self.counts.reset_index(), self.system_tracks(), result)
            chart.show(fig)
            table.value = pd.DataFrame([result]).T.to_html(header=False, border=0)
            return f"saved to {self.path.with_suffix('.json')}"

        button.on_click(run)
        if len(self.counts):
            run()
        else:
            status.value = "count some frames above, then press Compare"
        return w.VBox([w.HBox([button, status]), chart.widget, table])
