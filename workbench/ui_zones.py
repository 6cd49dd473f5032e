"""``notebooks/zones.ipynb``: draw a camera's counting lines and zones on its picture and save
them to the config file.

Click on the picture (a plotly ``FigureWidget``: works in JupyterLab and Voila,
offline) or type the points: a line is two clicks for its ends and a third on the
side people walk *in* to; a zone is one click per corner. Everything is checked
by the same validation as ``workbench.yml`` itself (``workbench.config``), plus
"inside the picture", before it is added or saved; the file keeps its comments
(ruamel.yaml), and only the camera's ``lines:`` and ``zones:`` change.
"""

from __future__ import annotations

import base64
import copy
import os
from pathlib import Path

import numpy as np

from workbench.config import CameraConfig, Config, parse_config
from workbench.config_people import check_in_frame
from workbench.errors import ConfigError, WorkbenchError
from workbench.store import _atomic_write
from workbench.ui_common import FigureBox, grab_frame, guarded, jpeg, status_line

COLORS = ["#e63946", "#2a9d8f", "#f4a261", "#457b9d", "#9b5de5", "#ffb703"]


def _yaml():
    from ruamel.yaml import YAML

    y = YAML()  # round trip: comments, key order and quoting survive
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _number(v: float) -> float | int:
    v = round(float(v), 1)
    return int(v) if v.is_integer() else v


def parse_points(text: str, what: str = "points") -> list[list[float]]:
    """``"100,200 300,200"`` -> ``[[100, 200], [300, 200]]``; ConfigError for anything else."""
    points = []
    for pair in text.replace(";", " ").split():
        try:
            x, y = (float(v) for v in pair.split(","))
        except ValueError:
            raise ConfigError(
                f"{what}: {pair!r} is not a point; write x,y pairs (pixels) separated by spaces, "
                "e.g. '100,200 300,200'"
            ) from None
        points.append([_number(x), _number(y)])
    return points


class ConfigFile:
    """A ``workbench.yml`` whose cameras' lines and zones can be replaced and saved.

    A missing file, or a camera missing from it, is created by the first save.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.data = _yaml().load(self.path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            self.data = {}
        except Exception as exc:  # ruamel's parser errors have no common base worth naming
            raise ConfigError(f"{self.path}: not valid YAML: {exc}") from None
        if not isinstance(self.data, dict):
            raise ConfigError(f"{self.path}: the top level must be a mapping of settings")
        self.config = parse_config(self.data, str(self.path))

    def camera(self, camera_id: str) -> CameraConfig:
        """The camera's settings; a camera not in the file yet is added (saved by the first save)."""
        if not any(c.id == camera_id for c in self.config.cameras):
            from ruamel.yaml.comments import CommentedMap

            self.data.setdefault("cameras", []).append(CommentedMap(id=camera_id))
            self.config = parse_config(self.data, str(self.path))
        return next(c for c in self.config.cameras if c.id == camera_id)

    def _node(self, camera_id: str):
        return next(c for c in self.data["cameras"] if c.get("id") == camera_id)

    def with_geometry(self, camera_id: str, lines: list[dict], zones: list[dict]) -> Config:
        """The whole config validated with this camera's lines and zones replaced."""
        data = copy.deepcopy(self.data)
        node = next(c for c in data["cameras"] if c.get("id") == camera_id)
        node["lines"], node["zones"] = lines, zones
        return parse_config(data, str(self.path))

    def save_geometry(self, camera_id: str, lines: list[dict], zones: list[dict]) -> Config:
        """Validate, then write the camera's lines and zones into the file (atomically)."""
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        config = self.with_geometry(camera_id, lines, zones)

        def flow(points):
            seq = CommentedSeq([CommentedSeq(p) for p in points])
            for p in seq:
                p.fa.set_flow_style()
            seq.fa.set_flow_style()
            return seq

        def item(d: dict) -> CommentedMap:
            m = CommentedMap(d)
            for key in ("points", "inside"):
                if key in m:
                    m[key] = flow(m[key]) if key == "points" else flow([m[key]])[0]
            return m

        node = self._node(camera_id)
        for key, items in (("lines", lines), ("zones", zones)):
            if items:
                node[key] = CommentedSeq([item(d) for d in items])
            else:
                node.pop(key, None)

        def write(tmp: Path) -> None:
            with open(tmp, "w", encoding="utf-8") as fh:
                _yaml().dump(self.data, fh)

        _atomic_write(self.path, write)
        self.config = config
        return config


class ZoneEditor:
    """The camera's picture with its lines and zones, click/typed entry, Add, Remove, Save."""

    def __init__(
        self,
        config: str | os.PathLike,
        camera: str,
        video: str | os.PathLike | None = None,
        frame: int = 0,
    ):
        import ipywidgets as w
        import plotly.graph_objects as go

        self.file = ConfigFile(config)
        cam = self.file.camera(camera)
        self.camera_id = camera
        source = video or cam.source
        if source is None:
            raise ConfigError(
                f"camera {camera!r} has no source: in {self.file.path}; set `video` in the "
                "parameters cell to a recording from this camera"
            )
        self.image = grab_frame(self._near_config(source), frame)
        self.height, self.width = self.image.shape[:2]
        self.lines = [ln.model_dump(mode="json") for ln in cam.lines]
        self.zones = [z.model_dump(mode="json") for z in cam.zones]

        self.status = status_line()
        self.kind = w.ToggleButtons(options=["line", "zone"], description="Draw a")
        self.name = w.Text(description="Name", placeholder="door")
        self.points = w.Text(description="Points", placeholder="x,y x,y ... (or click)")
        self.inside = w.Text(description="'In' side", placeholder="x,y (line: 3rd click)")
        self.staff = w.Checkbox(description="staff area (zone)")
        self.add_button = w.Button(description="Add", button_style="primary")
        self.clear_button = w.Button(description="Clear points")
        self.items = w.Select(description="Drawn", rows=5)
        self.remove_button = w.Button(description="Remove")
        self.save_button = w.Button(description=f"Save to {self.file.path.name}", icon="save")
        self.add = guarded(self.status)(self._add)
        self.remove = guarded(self.status)(self._remove)
        self.save = guarded(self.status)(self._save)
        self.add_button.on_click(lambda _: self.add())
        self.remove_button.on_click(lambda _: self.remove())
        self.save_button.on_click(lambda _: self.save())
        self.clear_button.on_click(lambda _: self.clear())
        for box in (self.points, self.inside, self.kind):
            box.observe(lambda _: self._typed(), names="value")
        self._holding = False  # True while several fields change at once: one redraw after

        src = "data:image/jpeg;base64," + base64.b64encode(jpeg(self.image, quality=80)).decode()
        self.picture = go.Image(source=src, hovertemplate="x %{x}, y %{y}<extra></extra>")
        self.picture_layout = dict(
            height=int(min(720, 900 * self.height / self.width)) + 40,
            margin=dict(l=10, r=10, t=30, b=10),
            showlegend=True,
            legend=dict(orientation="h", y=1.02, yanchor="bottom"),
            xaxis=dict(showgrid=False, range=[0, self.width]),
            yaxis=dict(showgrid=False, range=[self.height, 0], scaleanchor="x"),
        )
        self.canvas = FigureBox(on_click=self.on_click)
        self.draw()
        self.widget = w.VBox(
            [
                self.canvas.widget,
                w.HBox([self.kind, self.name, self.staff]),
                w.HBox([self.points, self.inside, self.add_button, self.clear_button]),
                w.HBox([self.items, w.VBox([self.remove_button, self.save_button])]),
                self.status,
            ]
        )

    def _near_config(self, source: str | int | os.PathLike) -> str | int | os.PathLike:
        """A relative file path in the config is taken relative to the config file's folder."""
        if isinstance(source, str) and "://" not in source and not source.isdigit():
            near = self.file.path.parent / source
            if not Path(source).is_absolute() and near.exists():
                return near
        return source

    # ---------------------------------------------------------------- entry
    def on_click(self, _trace, points, _state) -> None:
        """FigureWidget click handler: the clicked pixel becomes the next point."""
        if points.xs:
            self.click(points.xs[0], points.ys[0])

    def click(self, x: float, y: float) -> None:
        """A click at picture pixel (x, y): a line's 1st/2nd end then its 'in' side; a zone corner."""
        pair = f"{_number(x)},{_number(y)}"
        if self.kind.value == "line" and len(parse_points(self.points.value)) >= 2:
            self.inside.value = pair
        else:
            self.points.value = f"{self.points.value} {pair}".strip()

    def _typed(self) -> None:
        if not self._holding:
            guarded(self.status)(self.draw)()

    def clear(self) -> None:
        """Forget the points entered so far."""
        self._holding = True
        try:
            self.points.value = self.inside.value = ""
        finally:
            self._holding = False
        self.draw()

    def pending(self) -> dict:
        """The line or zone typed or clicked so far, as its config entry."""
        name = self.name.value.strip()
        if not name:
            n = len(self.lines if self.kind.value == "line" else self.zones) + 1
            name = f"{self.kind.value}{n}"
        item = {"name": name, "points": parse_points(self.points.value)}
        if self.kind.value == "line":
            inside = parse_points(self.inside.value, "'in' side")
            if len(inside) != 1:
                raise ConfigError(
                    "'in' side: give one point (x,y) on the side people walk in to; "
                    "clicking a third time sets it"
                )
            item["inside"] = inside[0]
        else:
            item["staff"] = bool(self.staff.value)
        return item

    def check(self, lines: list[dict], zones: list[dict]) -> Config:
        """Validate the camera with these lines and zones: the config's rules and the picture size."""
        config = self.file.with_geometry(self.camera_id, lines, zones)
        cam = next(c for c in config.cameras if c.id == self.camera_id)
        check_in_frame(cam, self.width, self.height)
        return config

    def _add(self) -> str:
        item = self.pending()
        kind = self.kind.value
        lines = self.lines + [item] if kind == "line" else self.lines
        zones = self.zones + [item] if kind == "zone" else self.zones
        self.check(lines, zones)
        self.lines, self.zones = lines, zones
        self.name.value = ""
        self.clear()
        return f"{kind} {item['name']!r} added; press Save to write it to {self.file.path.name}"

    def _remove(self) -> str:
        if self.items.value is None:
            raise WorkbenchError("pick a line or zone in the list first")
        kind, index = self.items.value
        removed = (self.lines if kind == "line" else self.zones).pop(index)
        self.draw()
        return f"{kind} {removed['name']!r} removed; press Save to write the change"

    def _save(self) -> str:
        self.check(self.lines, self.zones)
        self.file.save_geometry(self.camera_id, self.lines, self.zones)
        return (
            f"saved {len(self.lines)} lines and {len(self.zones)} zones of camera "
            f"{self.camera_id!r} to {self.file.path}"
        )

    # ---------------------------------------------------------------- drawing
    def draw(self) -> None:
        """Redraw the lines, zones and the points entered so far over the picture."""
        import plotly.graph_objects as go

        traces = []
        for i, ln in enumerate(self.lines):
            color = COLORS[i % len(COLORS)]
            (x1, y1), (x2, y2) = ln["points"]
            traces.append(
                go.Scatter(
                    x=[x1, x2], y=[y1, y2], mode="lines+markers", name=f"line {ln['name']}",
                    line=dict(color=color, width=4), legendgroup=f"l{i}",
                )
            )  # fmt: skip
            traces.append(
                go.Scatter(
                    x=[ln["inside"][0]], y=[ln["inside"][1]], mode="markers+text", text=["in"],
                    textposition="top center", marker=dict(color=color, size=12, symbol="star"),
                    legendgroup=f"l{i}", showlegend=False,
                )
            )  # fmt: skip
        for i, z in enumerate(self.zones):
            pts = np.asarray(z["points"] + z["points"][:1], float)
            traces.append(
                go.Scatter(
                    x=pts[:, 0], y=pts[:, 1], mode="lines", fill="toself", opacity=0.45,
                    name=f"zone {z['name']}" + (" (staff)" if z.get("staff") else ""),
                    line=dict(color=COLORS[(i + 3) % len(COLORS)], width=3),
                )
            )  # fmt: skip
        pending = parse_points(self.points.value)
        if pending:
            pts = np.asarray(pending + (pending[:1] if self.kind.value == "zone" else []), float)
            traces.append(
                go.Scatter(
                    x=pts[:, 0], y=pts[:, 1], mode="lines+markers", name="new",
                    line=dict(color="white", dash="dash", width=2), marker=dict(size=9),
                )
            )  # fmt: skip
        inside = parse_points(self.inside.value, "'in' side")
        if inside and self.kind.value == "line":
            traces.append(
                go.Scatter(
                    x=[inside[0][0]], y=[inside[0][1]], mode="markers", name="new: in side",
                    marker=dict(color="white", size=12, symbol="star"),
                )
            )  # fmt: skip
        self.canvas.show(go.Figure(data=[self.picture, *traces], layout=self.picture_layout))
        self.items.options = [
            (f"line {ln['name']}", ("line", i)) for i, ln in enumerate(self.lines)
        ]
        self.items.options += tuple(
            (f"zone {z['name']}", ("zone", i)) for i, z in enumerate(self.zones)
        )
