"""Motion gating and region detection: skip what does not move, search only where it does."""

import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from workbench.faces import HogFaceDetector
from workbench.gating import DetectionPlan, detect_in
from workbench.motion import MotionDetector
from workbench.tracking import FaceTrack

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OBAMA = (
    Path(__file__).resolve().parents[2] / "shared/data/face-recognition-ageitgey/examples/obama.jpg"
)


def scene(rng: np.random.Generator, gain: float = 1.0, square_at: int | None = None):
    """A textured 640x360 frame with sensor noise, optionally a bright square at x=square_at."""
    base = np.tile(np.linspace(40, 200, 640, dtype=np.float32), (360, 1))
    base += 30 * np.sin(np.arange(360, dtype=np.float32) / 9)[:, None]
    if square_at is not None:
        base[150:230, square_at : square_at + 80] = 250
    noisy = base * gain + rng.normal(0, 6, base.shape)
    return cv2.cvtColor(np.clip(noisy, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def test_noise_and_exposure_changes_are_not_motion():
    rng = np.random.default_rng(0)
    motion = MotionDetector()
    assert len(motion.update(scene(rng))) == 0  # first frame: learns the background
    for gain in [1.0, 1.0, 1.15, 1.15, 0.9]:
        assert len(motion.update(scene(rng, gain))) == 0


def test_a_moving_object_is_found_where_it_is():
    rng = np.random.default_rng(1)
    motion = MotionDetector()
    motion.update(scene(rng))
    boxes = motion.update(scene(rng, square_at=300))
    assert len(boxes) == 1
    x1, y1, x2, y2 = boxes[0]
    assert x1 <= 300 and x2 >= 380 and y1 <= 150 and y2 >= 230
    assert x2 - x1 < 200 and y2 - y1 < 200  # the square, not the frame


def test_lights_switched_on_relearn_the_background():
    rng = np.random.default_rng(2)
    motion = MotionDetector()
    motion.update(scene(rng))
    bright = scene(rng) // 4 + np.uint8(180)  # contrast and level change everywhere
    assert len(motion.update(bright)) == 0
    assert len(motion.update(bright)) == 0  # the new scene is now the background


def track_at(x: float, velocity=None) -> FaceTrack:
    t = FaceTrack(1, np.array([x, 100, x + 60, 160], np.float32), T0, T0, sightings=2)
    t.velocity = None if velocity is None else np.array(velocity, np.float32)
    return t


def test_plan_skips_still_frames_and_refreshes():
    plan = DetectionPlan(min_face_px=40, refresh_s=10)
    shape, none = (360, 640, 3), np.zeros((0, 4), np.float32)
    np.testing.assert_array_equal(plan.regions(shape, T0, none, []), [[0, 0, 640, 360]])
    assert plan.regions(shape, T0 + timedelta(seconds=1), none, []) is None
    refresh = plan.regions(shape, T0 + timedelta(seconds=10.1), none, [])
    np.testing.assert_array_equal(refresh, [[0, 0, 640, 360]])


def test_plan_searches_around_motion_and_tracks_only():
    plan = DetectionPlan(min_face_px=40)
    shape, none = (360, 640, 3), np.zeros((0, 4), np.float32)
    plan.regions(shape, T0, none, [])
    ts = T0 + timedelta(seconds=0.2)
    motion = np.array([[500, 200, 560, 300]], np.float32)
    regions = plan.regions(shape, ts, motion, [track_at(50, velocity=[100, 0])])
    assert len(regions) == 2
    area = ((regions[:, 2:] - regions[:, :2]).prod(axis=1)).sum()
    assert area < 0.6 * 640 * 360
    # the track's region is ahead of it (it moves right at 100 px/s)
    track_region = regions[regions[:, 0].argmin()]
    assert track_region[2] > 50 + 60 + 20
    # a face standing still with nothing moving is looked at about once a second
    still = track_at(300, velocity=[0, 0])
    assert plan.regions(shape, ts + timedelta(seconds=0.2), none, [still]) is None
    assert plan.regions(shape, ts + timedelta(seconds=1.2), none, [still]) is not None


def test_new_faces_are_searched_for_less_often_than_tracks_are_followed():
    plan = DetectionPlan(min_face_px=40, search_interval_s=0.4)
    shape, none = (360, 640, 3), np.zeros((0, 4), np.float32)
    plan.regions(shape, T0, none, [])  # the first frame is searched whole
    motion = np.array([[500, 200, 560, 300]], np.float32)
    walking = track_at(50, velocity=[100, 0])
    at = [T0 + timedelta(seconds=0.2 * i) for i in range(1, 5)]
    searched = plan.regions(shape, at[0], motion, [walking])
    assert len(searched) == 2  # the moving area and the track
    followed = plan.regions(shape, at[1], motion, [walking])
    assert len(followed) == 1 and followed[0][2] < 500  # the track only
    assert plan.regions(shape, at[2], motion, [walking]).shape == (2, 4)  # 0.4 s later
    # with nobody tracked, a frame between searches is skipped
    assert plan.regions(shape, at[3], motion, []) is None


@pytest.mark.skipif(not OBAMA.exists(), reason="needs ../shared/data (face-recognition-ageitgey)")
def test_detecting_in_regions_finds_the_same_face_once():
    image = cv2.imread(str(OBAMA))
    detector = HogFaceDetector(40)
    whole = detector.detect(image)
    assert len(whole) == 1
    x1, y1, x2, y2 = whole.xyxy[0]
    h = y2 - y1
    around = np.array(
        [[x1 - h, y1 - h, x2 + h, y2 + h], [x1 - h / 2, y1 - h, x2 + 2 * h, y2 + h]], np.float32
    )
    around = np.clip(around, 0, [image.shape[1], image.shape[0]] * 2)
    found = detect_in(detector, image, around)
    assert len(found) == 1
    np.testing.assert_allclose(found.xyxy[0], whole.xyxy[0], atol=0.1 * h)
    assert len(detect_in(detector, image, np.array([[0, 0, 30, 30]], np.float32))) == 0


def test_decoding_ahead_keeps_order_errors_and_stops_early():
    from workbench.sources import prefetch

    assert list(prefetch(iter(range(100)), ahead=4)) == list(range(100))

    def broken():
        yield 1
        raise OSError("disk went away")

    got = []
    with pytest.raises(OSError, match="disk went away"):
        for x in prefetch(broken()):
            got.append(x)
    assert got == [1]
    endless = prefetch(iter(range(10**9)), ahead=2)
    assert next(endless) == 0
    endless.close()  # stops the reading thread instead of hanging

    # whether each frame was still being decoded when asked for: decoding set the pace
    def slow(n):
        for i in range(n):
            time.sleep(0.05)
            yield i

    waited: deque[bool] = deque()
    assert list(prefetch(slow(3), waited=waited)) == [0, 1, 2] and list(waited)[:3] == [True] * 3
    waited.clear()
    ahead = prefetch(iter(range(3)), ahead=4, waited=waited)
    assert next(ahead) == 0  # (the thread starts here)
    time.sleep(0.1)  # the rest decoded meanwhile
    assert list(ahead) == [1, 2] and list(waited)[1:] == [False] * 3


def test_a_quiet_scene_is_looked_at_half_as_often_and_motion_is_still_seen(tmp_path):
    """While nothing moves and nobody is tracked, every second sample is skipped; a change
    is seen at the next sample looked at (at most one sample later)."""
    import workbench.pipeline as pipeline
    from workbench.config import Config
    from workbench.sources import open_source

    rng = np.random.default_rng(3)
    video = tmp_path / "quiet.avi"
    out = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 360))
    for i in range(100):  # 10 s, a square appears at 6 s
        out.write(scene(rng, square_at=200 if i >= 60 else None))
    out.release()
    looked: list[tuple[int, int]] = []  # (frame, moving boxes)
    glance = pipeline.FaceTracks.glance

    def counting(self, frame):
        moving = glance(self, frame)
        looked.append((frame.index, len(moving)))
        return moving

    cfg = Config()
    cfg.people.enabled = False
    pipeline.FaceTracks.glance = counting
    try:
        steps = list(pipeline.perceive(open_source(video), cfg, "cam", "r"))
    finally:
        pipeline.FaceTracks.glance = glance
    samples = 100 // 2  # 5 fps from 10 fps
    quiet = [f for f, _ in looked if f < 60]
    assert len(quiet) <= (pipeline.QUIET_SAMPLES + 30 // 2) + 1  # half of the quiet ones
    first_moving = min(f for f, n in looked if n)
    assert 60 <= first_moving <= 62  # the next sample looked at
    assert len(looked) < samples and steps[-1].final


VIDEOS = Path(__file__).resolve().parents[2] / "shared/data"
OFFICE = VIDEOS / "intel-sample-videos/one-by-one-person-detection.mp4"
WALKWAY = VIDEOS / "facenet-pytorch-walkway/walkway_faces_1080p.mp4"


@pytest.mark.skipif(
    not OFFICE.exists() or not WALKWAY.exists(), reason="needs ../shared/data (two videos)"
)
def test_a_cut_between_scenes_is_told_from_the_samples_of_one():
    """The grey-level histograms of samples 0.2 s apart in one scene (someone walking
    through an office, a crowded walkway) correlate above SCENE_CUT_CORRELATION; across a
    cut from one of them to the other they do not."""
    from workbench.motion import MOTION_HEIGHT, shrink
    from workbench.pipeline import SCENE_CUT_CORRELATION, _histogram

    def samples(video: Path, every: int) -> list[np.ndarray]:
        cap, out = cv2.VideoCapture(str(video)), []
        for i in range(300):
            ok, frame = cap.read()
            if not ok:
                break
            if i % every == 0:
                grey = cv2.cvtColor(shrink(frame, MOTION_HEIGHT), cv2.COLOR_BGR2GRAY)
                out.append(_histogram(grey))
        return out

    office, walkway = samples(OFFICE, 6), samples(WALKWAY, 5)  # 5 a second
    assert len(office) >= 40 and len(walkway) >= 20
    for scene in (office, walkway):
        for a, b in zip(scene, scene[1:], strict=False):
            assert cv2.compareHist(a, b, cv2.HISTCMP_CORREL) >= SCENE_CUT_CORRELATION
    for a, b in ((office[-1], walkway[0]), (walkway[-1], office[0])):
        assert cv2.compareHist(a, b, cv2.HISTCMP_CORREL) < SCENE_CUT_CORRELATION
