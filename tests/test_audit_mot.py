"""MOTChallenge data as it comes: sequence folders of frames, and MOT16/17/20 distractors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workbench.audit_counting import (
    audit_counting,
    drop_distractors,
    read_distractors,
    read_mot,
    score,
)
from workbench.cli import main
from workbench.config import Config
from workbench.errors import SourceError, WorkbenchError
from workbench.pipeline import ingest
from workbench.sources import open_source
from workbench.store import Store

TUD = Path(__file__).resolve().parents[2] / "shared" / "data" / "tud-campus"
needs_tud = pytest.mark.skipif(
    not (TUD / "gt" / "gt.txt").exists(),
    reason="needs ../shared/data/tud-campus (TUD-Campus.mp4 and gt/gt.txt)",
)

SEQINFO = "[Sequence]\nname={name}\nimDir=img1\nframeRate={fps}\nseqLength={n}\nimExt=.jpg\n"


def sequence(folder: Path, frames: list[np.ndarray], fps: float = 7) -> Path:
    (folder / "img1").mkdir(parents=True)
    for i, image in enumerate(frames, 1):
        cv2.imwrite(str(folder / "img1" / f"{i:06d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    (folder / "seqinfo.ini").write_text(SEQINFO.format(name=folder.name, fps=fps, n=len(frames)))
    return folder


def test_a_mot_sequence_folder_is_frames_of_one_view_at_its_frame_rate(tmp_path):
    seq = sequence(tmp_path / "SEQ-01", [np.full((48, 64, 3), i * 20, np.uint8) for i in range(10)])
    for given in (seq, seq / "img1"):  # the sequence, or its frames' folder
        source = open_source(given)
        assert not source.stills and source.fps == 7 and source.frame_count == 10
        frames = list(source.frames(step=2))
        assert [f.index for f in frames] == [0, 2, 4, 6, 8]
        assert frames[1].ts - frames[0].ts == timedelta(seconds=2 / 7)
        assert abs(float(frames[2].image.mean()) - 80) < 2  # in name order
    # a folder of photos stays photos
    assert open_source(seq / "img1").stills is False and open_source(_photos(tmp_path)).stills
    # a broken seqinfo.ini is named, with what to fix
    (seq / "seqinfo.ini").write_text("[Sequence]\nimDir=img1\n")
    with pytest.raises(SourceError, match="seqinfo.ini.*frameRate"):
        open_source(seq)
    (seq / "seqinfo.ini").write_text(
        SEQINFO.format(name="x", fps=7, n=10).replace("img1", "frames")
    )
    with pytest.raises(SourceError, match="frames.*missing"):
        open_source(seq)


def _photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.jpg"), np.zeros((48, 64, 3), np.uint8))
    return folder


def test_predictions_on_mot17_distractors_are_neither_right_nor_wrong(tmp_path):
    gt = tmp_path / "gt.txt"
    # frame 1: a pedestrian (class 1) and a static person (class 7, not scored); frame 2:
    # the pedestrian, and a person on a vehicle (class 2) overlapping them
    gt.write_text(
        "1,1,10,10,40,100,1,1,1.0\n1,2,200,10,40,100,0,7,1.0\n"
        "2,1,10,10,40,100,1,1,1.0\n2,3,20,10,40,100,0,2,1.0\n"
    )
    truth, distractors = read_mot(gt), read_distractors(gt)
    assert truth["id"].tolist() == [1, 1] and distractors["id"].tolist() == [2, 3]
    pred = pd.DataFrame(
        [
            (0, 7, 10, 10, 50, 110),  # the pedestrian
            (0, 8, 201, 10, 241, 110),  # the static person: left out
            (0, 9, 400, 10, 440, 110),  # nobody: a false positive
            (1, 7, 11, 10, 51, 110),  # the pedestrian, whom the distractor overlaps
        ],
        columns=["frame", "id", "x1", "y1", "x2", "y2"],
    )
    kept = drop_distractors(pred, truth, distractors)
    assert kept["id"].tolist() == [7, 9, 7]
    s = score(truth, kept, [0, 1])
    assert s["precision"] == pytest.approx(2 / 3, abs=1e-3) and s["recall"] == 1.0
    assert score(truth, pred, [0, 1])["precision"] == pytest.approx(2 / 4, abs=1e-3)
    # MOT15 files (10 columns) have no classes, so no distractors
    mot15 = tmp_path / "gt15.txt"
    mot15.write_text("1,1,10,10,40,100,1,-1,-1,-1\n")
    assert read_distractors(mot15).empty


@needs_tud
def test_audit_counting_reads_a_mot_sequence_folder_and_its_own_truth(tmp_path):
    cap, frames = cv2.VideoCapture(str(TUD / "TUD-Campus.mp4")), []
    while (image := cap.read()[1]) is not None:
        frames.append(image)
    seq = sequence(tmp_path / "TUD-Campus", frames, fps=25)
    (seq / "gt").mkdir()
    (seq / "gt" / "gt.txt").write_bytes((TUD / "gt" / "gt.txt").read_bytes())
    runner = CliRunner()
    results = []
    for given in (seq, seq / "img1"):
        out = runner.invoke(main, ["audit", "counting", str(given), "--json"])
        assert out.exit_code == 0, out.output
        results.append(json.loads(out.output))
    a, b = results
    assert a["frames"] == 71 and a["fps"] == 25 and a["people_true"] == 8
    timing = {"wall_s", "ms_per_frame"}
    assert {k: v for k, v in a.items() if k not in timing} == {
        k: v for k, v in b.items() if k not in timing
    }
    # the same people as in the video (re-compressed: figures move by a little)
    assert a["count_mae"] <= 1.1 and a["idf1"] >= 0.55
    # ingest counts the sequence's people too, over its 2.8 s (not 71 photos a second apart)
    store = Store(tmp_path / "store", Config())
    ingest([seq], "campus", store, Config(), start=datetime(2026, 11, 20, 10, tzinfo=UTC))
    tracks = store.query('SELECT count(*) AS n, max("end") - min(start) AS span FROM person_tracks')
    span = tracks["span"][0].total_seconds()
    assert tracks["n"][0] >= 5 and 2.0 <= span <= 70 / 25
    # without a truth of its own, the truth must be given; photos cannot be tracked
    out = runner.invoke(main, ["audit", "counting", str(TUD / "TUD-Campus.mp4")])
    assert out.exit_code != 0 and "--truth" in out.output
    photos = _photos(tmp_path)
    out = runner.invoke(
        main, ["audit", "counting", str(photos), "--truth", str(seq / "gt" / "gt.txt")]
    )
    assert out.exit_code != 0 and "seqinfo.ini" in out.output


def test_audit_counting_without_truth_or_frame_rate_is_a_clear_error(tmp_path):
    with pytest.raises(WorkbenchError, match="--truth"):
        audit_counting(_photos(tmp_path), None, Config())
