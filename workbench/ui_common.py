"""Small pieces shared by the analyst notebooks' widgets (``workbench.ui_*``).

A status line that shows what a button did or why it could not, the store a
notebook's ``parameters`` cell names, and pictures: key images from the store,
a frame grabbed from a video or camera, JPEG bytes for ``widgets.Image``.
"""

from __future__ import annotations

import functools
import html
import logging
import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from workbench.config import Config, load_config
from workbench.errors import SourceError, StoreError, WorkbenchError
from workbench.store import Store

log = logging.getLogger(__name__)

OK_COLOR, ERROR_COLOR = "#1b7f3b", "#b00020"


def status_line():
    """An empty ``widgets.HTML`` that ``say`` writes into."""
    import ipywidgets as widgets

    return widgets.HTML("", layout=widgets.Layout(min_height="1.5em"))


def say(status, text: str, error: bool = False) -> None:
    """Show ``text`` in a status line: green for done, red for an error (line breaks kept)."""
    color = ERROR_COLOR if error else OK_COLOR
    body = html.escape(text).replace("\n", "<br>")
    status.value = f'<div style="color:{color};white-space:normal">{body}</div>'


def guarded(status) -> Callable:
    """Decorator for widget handlers: a ``WorkbenchError`` is shown in ``status``, not raised.

    The handler's own message (its return value, when a string) is shown as success.
    """

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def handler(*args, **kwargs):
            try:
                result = fn(*args, **kwargs)
            except WorkbenchError as exc:
                say(status, str(exc), error=True)
                return None
            if isinstance(result, str):
                say(status, result)
            return result

        return handler

    return wrap


class FigureBox:
    """A plotly chart in ``.widget`` that handlers can replace: ``show(fig)``.

    Each ``show`` puts a new ``FigureWidget`` in the box (and closes the old one) instead
    of updating the displayed one: with plotly 7.1 and anywidget 0.11, changes made from
    Python to a FigureWidget already on the page (``add_traces``, layout) never reached
    the browser in Voila (checked with Chromium), while a new widget draws its figure,
    and clicks on it reach ``on_click(trace, points, state)``.
    """

    def __init__(self, fig=None, on_click: Callable | None = None):
        import ipywidgets as widgets

        self.on_click = on_click
        self.figure = None  # the FigureWidget on show, once there is one
        self.widget = widgets.Box(layout=widgets.Layout(width="100%"))
        if fig is not None:
            self.show(fig)

    def show(self, fig) -> None:
        import plotly.graph_objects as go

        old, self.figure = self.figure, go.FigureWidget(fig)
        if self.on_click is not None:
            for trace in self.figure.data:
                trace.on_click(self.on_click)
        self.widget.children = [self.figure]
        if old is not None:
            old.close()


def open_store(store: str | os.PathLike | Store, config: str | os.PathLike | None = None) -> Store:
    """The store a notebook works on: a folder (with the config file's settings, if given)."""
    if isinstance(store, Store):
        return store
    root = Path(store)
    if not (root / "events").is_dir() and not (root / "state").is_dir():
        raise StoreError(
            f"no store at {root}; set `store` in the parameters cell to a store folder "
            "(`workbench demo` builds one in data/demo)"
        )
    return Store(root, load_config(config)) if config else Store(root)


def load_or_default(config: str | os.PathLike | None) -> Config:
    """The config file's settings, or the defaults when no file is named."""
    return load_config(config) if config else Config()


def jpeg(image: np.ndarray, max_width: int | None = None, quality: int = 85) -> bytes:
    """JPEG bytes of a BGR picture, shrunk to ``max_width`` when wider."""
    if max_width and image.shape[1] > max_width:
        scale = max_width / image.shape[1]
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise WorkbenchError("cannot encode the picture as JPEG")
    return buf.tobytes()


@functools.cache
def placeholder_jpeg(width: int = 120, height: int = 120) -> bytes:
    """A grey picture with 'no image', for customers whose key image is missing or erased."""
    image = np.full((height, width, 3), 225, np.uint8)
    cv2.putText(image, "no image", (8, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (90,) * 3, 1)
    return jpeg(image)


def key_image(store: Store, relpath: str | None) -> bytes:
    """The key image at ``relpath`` (relative to the store), or the placeholder."""
    if isinstance(relpath, str) and relpath:  # NaN/None: no key image
        path = store.root / relpath
        try:
            return path.read_bytes()
        except OSError:
            log.debug("key image %s is missing", path)
    return placeholder_jpeg()


def grab_frame(
    source: str | int | os.PathLike, index: int = 0, timeout_s: float = 10
) -> np.ndarray:
    """One picture (BGR) from a video file, an image folder, a camera index or a stream URL.

    For files and folders, ``index`` picks the frame; a camera or stream gives its next frame.
    """
    from workbench.sources import open_source

    text = str(source).strip()
    if text.isdigit() or "://" in text:
        target = int(text) if text.isdigit() else text
        ms = int(timeout_s * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        cap = cv2.VideoCapture(target, cv2.CAP_ANY, params)
        try:
            ok, image = cap.read() if cap.isOpened() else (False, None)
        finally:
            cap.release()
        if not ok or image is None:
            raise SourceError(
                f"camera {text}: no picture within {timeout_s:g} s; check the camera is on, "
                "the URL and its password, or use a recorded clip instead"
            )
        return image
    src = open_source(text)
    try:
        for frame in src.frames():
            if frame.index >= index:
                return frame.image
    finally:
        src.close()
    raise SourceError(f"{text}: has no frame {index} (it has {src.frame_count or 0})")
