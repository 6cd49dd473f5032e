"""The face tracker keeps a walking face one track at sparse detection rates."""

from datetime import UTC, datetime, timedelta

import numpy as np

from workbench.detections import Detections
from workbench.faces import cut_by_frame
from workbench.tracking import FaceTracker

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def box(cx: float, cy: float, h: float = 80.0) -> list[float]:
    return [cx - h / 2, cy - h / 2, cx + h / 2, cy + h / 2]


def run(
    tracker: FaceTracker, frames: list[list[list[float]]], fps: float = 5.0, scores=None
) -> list[list[int]]:
    ids = []
    for i, boxes in enumerate(frames):
        score = np.ones(len(boxes)) if scores is None else np.asarray(scores[i])
        dets = Detections(np.array(boxes, np.float32).reshape(-1, 4), score.astype(np.float32))
        ids.append(tracker.update(dets, T0 + timedelta(seconds=i / fps)).tracker_id.tolist())
    return ids


def test_walking_face_is_one_track():
    # 80 px face moving 110 px (1.4 face heights) per detection at 5 fps, slowing to a stop
    xs = [100, 210, 320, 420, 500, 550, 570, 575, 575, 575]
    ids = run(FaceTracker(), [[box(x, 200)] for x in xs])
    assert len({i[0] for i in ids}) == 1


def test_two_people_walking_past_each_other_keep_their_tracks():
    left = [100 + 100 * i for i in range(8)]
    right = [900 - 100 * i for i in range(8)]
    ids = run(FaceTracker(), [[box(a, 150), box(b, 400)] for a, b in zip(left, right, strict=True)])
    assert len({i[0] for i in ids}) == 1 and len({i[1] for i in ids}) == 1
    assert ids[0][0] != ids[0][1]


def test_a_face_far_away_or_of_another_size_is_someone_else():
    tracker = FaceTracker()
    ids = run(tracker, [[box(100, 200)], [box(700, 200)], [box(700, 200, h=200)]])
    assert len({i[0] for i in ids}) == 3


def test_stopping_after_walking_keeps_the_track():
    # moving fast, then suddenly still: the constant-velocity guess is wrong, "stopped" is right
    xs = [100, 220, 340, 340, 340]
    ids = run(FaceTracker(), [[box(x, 200)] for x in xs])
    assert len({i[0] for i in ids}) == 1


def test_weak_detections_extend_tracks_but_never_start_one():
    xs = [100, 150, 200, 250]
    # a weak detection alone (background clutter) is dropped
    assert run(FaceTracker(), [[box(500, 300)]], scores=[[-0.3]]) == [[]]
    # a face found once confidently, then only weakly, stays one track
    ids = run(FaceTracker(), [[box(x, 200)] for x in xs], scores=[[1.0], [-0.3], [-0.4], [-0.2]])
    assert len({i[0] for i in ids}) == 1 and all(len(i) == 1 for i in ids)


def test_track_ends_after_the_gap():
    tracker = FaceTracker(max_gap_s=1.0)
    ids = run(tracker, [[box(100, 200)], [], [], [], [], [], [], [box(100, 200)]])
    assert ids[0][0] != ids[-1][0]
    assert [t.sightings for t in tracker.pop_ended()] == [1]


def test_faces_cut_by_the_frame_edge():
    shape = (360, 640, 3)
    assert cut_by_frame(np.array([0, 100, 60, 160], np.float32), shape)
    assert cut_by_frame(np.array([600, 100, 639, 139], np.float32), shape)
    assert not cut_by_frame(np.array([300, 100, 360, 160], np.float32), shape)


def test_a_glimpse_is_counted_but_not_identified(make_store):
    from workbench.config import Config
    from workbench.identity import Gallery
    from workbench.pipeline import Identifier
    from workbench.tracking import FaceTrack

    store = make_store()
    emb = np.random.default_rng(0).normal(size=128).astype(np.float32) * 0.05
    glimpse = FaceTrack(1, np.array(box(100, 100)), T0, T0, sightings=1, faces=[(0.9, emb)])
    seen = FaceTrack(2, np.array(box(100, 100)), T0, T0, sightings=2, faces=[(0.9, emb)])
    for stills, expected in [(False, [None, "C"]), (True, ["C", "C"])]:
        identifier = Identifier(Config(), "door", store, Gallery(), "run", stills=stills)
        rows = identifier.identify([glimpse, seen], None)
        got = {r["track_id"]: r["customer_id"] for r in rows}
        assert [(got[f"run-{i}"] or "")[:1] or None for i in (1, 2)] == expected
