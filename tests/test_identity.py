"""Identity on real labelled faces: the audit command's figures and the open-set gallery."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workbench.audit import identity_scores
from workbench.cli import main
from workbench.identity import Gallery

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DLIB = SHARED / "dlib-examples"
AGEITGEY = SHARED / "face-recognition-ageitgey"
needs_shared = pytest.mark.skipif(
    not DLIB.exists() or not AGEITGEY.exists(),
    reason="needs ../shared/data (labelled real faces); absent in a user's clone",
)


def _audit_cli(*args):
    r = CliRunner().invoke(main, ["audit", "faces", *args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


@needs_shared
def test_audit_johns():
    """5 people x 11 face chips, in the CSV's order: every person one id, no false merge."""
    out = _audit_cli("--labels", str(DLIB / "johns_identities.csv"))
    assert out["images"] == 55 and out["faces_found"] == 55
    assert out["people_true"] == 5
    assert out["false_merges"] == 0
    assert out["pair_f1"] >= 0.97
    assert out["returning_recall"] >= 0.95


@needs_shared
def test_audit_ageitgey_single_faces(tmp_path):
    labels = pd.read_csv(AGEITGEY / "identities.csv")
    single = labels[labels["n_known_faces"] == 1][["file", "identity"]]
    csv = tmp_path / "singles.csv"
    single.to_csv(csv, index=False)
    out = _audit_cli("--labels", str(csv), "--root", str(AGEITGEY))
    assert out["images"] == len(single) == 23
    assert out["false_merges"] == 0
    assert out["pair_f1"] >= 0.97


@needs_shared
def test_audit_reports_bad_images(tmp_path):
    """No face, several faces, missing and corrupt files are reported, not crashed on."""
    shutil.copy(DLIB / "examples/faces/dogs.jpg", tmp_path / "dogs.jpg")
    shutil.copy(AGEITGEY / "examples/two_people.jpg", tmp_path / "two.jpg")
    shutil.copy(AGEITGEY / "examples/obama.jpg", tmp_path / "obama.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "l.csv").write_text(
        "file,identity\ndogs.jpg,dog\ntwo.jpg,barack_obama\nobama.jpg,barack_obama\n"
        "broken.jpg,x\ngone.jpg,y\n"
    )
    out = _audit_cli("--labels", str(tmp_path / "l.csv"))
    assert out["problems"] == {
        "missing": ["gone.jpg"],
        "unreadable": ["broken.jpg"],
        "no_face": ["dogs.jpg"],
        "multiple_faces": ["two.jpg"],
    }
    assert out["images"] == 5 and out["faces_found"] == 2 and out["identified"] == 2
    assert [a["customer_id"] is None for a in out["assignments"]] == [1, 0, 0, 1, 1]


def test_audit_rejects_a_wrong_csv(tmp_path):
    (tmp_path / "l.csv").write_text("path,name\na.jpg,x\n")
    r = CliRunner().invoke(main, ["audit", "faces", "--labels", str(tmp_path / "l.csv")])
    assert r.exit_code == 1
    assert "needs columns file,identity (missing file, identity)" in r.output
    r = CliRunner().invoke(main, ["audit", "faces", "--labels", str(tmp_path / "none.csv")])
    assert r.exit_code == 1 and "no such labels file" in r.output


@needs_shared
def test_bald_guys_are_four_customers(tmp_path):
    """dlib's collage of 4 men, several photos each: 4 customers after ingest + consolidate."""
    folder = tmp_path / "photo"
    folder.mkdir()
    shutil.copy(DLIB / "examples/faces/bald_guys.jpg", folder)
    store = tmp_path / "store"
    r = CliRunner().invoke(main, ["ingest", str(folder), "--camera", "door", "--store", str(store)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["customers", "consolidate", "--store", str(store)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["customers", "list", "--json", "--store", str(store)])
    customers = json.loads(r.output)
    assert len(customers) == 4, customers


def test_identity_scores():
    s = identity_scores(["a", "a", "b", "b", "a"], ["C1", "C1", "C2", "C1", None])
    assert s["false_merges"] == 1 and s["people_split"] == 1  # b is under C2 and C1
    assert s["returns"] == 3 and s["returning_recall"] == pytest.approx(1 / 3)
    # pairs: same truth (a,a)x3 + (b,b) = 4; same pred (C1) x3 pairs; both: (0,1) only
    assert s["pair_precision"] == pytest.approx(1 / 3) and s["pair_recall"] == pytest.approx(1 / 4)


def test_gallery_open_set_and_exclusion():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=128) * 0.05, rng.normal(size=128) * 0.05 + 0.1
    g = Gallery(keep=3)
    ids = iter(["C1", "C2", "C3", "C4"])
    d1 = g.decide(a[None], np.array([0.9]), 0.5, lambda: next(ids))
    d2 = g.decide((a + 0.001)[None], np.array([0.9]), 0.5, lambda: next(ids))
    assert (d1.customer_id, d1.is_new) == ("C1", True) and (d2.customer_id, d2.is_new) == (
        "C1",
        False,
    )
    # the same face while C1 is in view at the same time: someone else
    d3 = g.decide(a[None], np.array([0.9]), 0.5, lambda: next(ids), exclude={"C1"})
    assert d3.customer_id == "C2"
    d4 = g.decide(b[None] * 10, np.array([0.9]), 0.5, lambda: next(ids))
    assert d4.is_new
    # quality-weighted vote: two good faces of C1 outweigh one poor face nearer C2's exemplar
    assert g.decide(np.zeros((0, 128)), np.zeros(0), 0.5, lambda: "x").customer_id is None


def test_pooled_embedding_confirms_but_never_nominates():
    # five faces each 0.47 from a customer's exemplar, in different directions: their mean
    # is much nearer (about 0.21), but no single face is within 0.46
    rng = np.random.default_rng(1)
    exemplar = rng.normal(size=128).astype(np.float32) * 0.05
    g = Gallery(keep=3)
    g.enroll("C1", exemplar[None], [0.9])
    q, _ = np.linalg.qr(rng.normal(size=(128, 5)))
    faces = exemplar + 0.47 * q.T.astype(np.float32)
    assert np.linalg.norm(faces.mean(0) - exemplar) < 0.46
    d = g.decide(faces, np.full(5, 0.9), 0.46, lambda: "C2")
    assert (d.customer_id, d.is_new) == ("C2", True)
    # one face within the threshold nominates C1, and the pooled embedding confirms it
    faces[0] = exemplar + 0.3 * q[:, 0]
    g = Gallery(keep=3)
    g.enroll("C1", exemplar[None], [0.9])
    assert g.decide(faces, np.full(5, 0.9), 0.46, lambda: "C3").customer_id == "C1"


def test_poor_faces_are_held_to_the_stricter_distance():
    from workbench.config import RecognitionConfig
    from workbench.identity import MatchRule

    rule = MatchRule.from_config(RecognitionConfig())
    assert rule.low_quality_distance < rule.distance
    between = (rule.low_quality_distance + rule.distance) / 2
    rng = np.random.default_rng(2)
    exemplar = rng.normal(size=128).astype(np.float32) * 0.05
    step = rng.normal(size=128).astype(np.float32)
    face = exemplar + between * step / np.linalg.norm(step)
    poor, good = rule.low_quality_below - 0.1, rule.low_quality_below + 0.1
    # two poor faces are held to the stricter distance; a poor face against a good one is not
    cases = [(good, good, True), (poor, good, True), (good, poor, True), (poor, poor, False)]
    for enrolled_q, face_q, same in cases:
        g = Gallery(keep=3)
        g.enroll("C1", exemplar[None], [enrolled_q])
        d = g.decide(face[None], np.array([face_q]), rule, lambda: "C2")
        assert (d.customer_id == "C1") is same, (enrolled_q, face_q)
    # a bare distance is one rule for every quality (as before)
    g = Gallery(keep=3)
    g.enroll("C1", exemplar[None], [poor])
    assert g.decide(face[None], np.array([poor]), rule.distance, lambda: "C2").customer_id == "C1"


def test_a_face_near_someone_known_is_not_announced_new_from_its_first_faces(tmp_path):
    """A provisional identity (what alerts use) calls a face new only if it is new even
    with every distance PREVIEW_MARGIN times larger; nearer than that it waits for more
    faces or the track's end, where the final decision is taken as always."""
    from datetime import UTC, datetime

    from workbench.config import Config
    from workbench.pipeline import PREVIEW_MARGIN, Identifier
    from workbench.store import Store
    from workbench.tracking import FaceTrack

    cfg = Config()
    limit = cfg.recognition.match_distance
    rng = np.random.default_rng(2)
    known = rng.normal(size=128).astype(np.float32) * 0.05
    away = np.linalg.qr(rng.normal(size=(128, 1)))[0][:, 0].astype(np.float32)
    gallery = Gallery(cfg.recognition.gallery_size)
    gallery.enroll("K1", known[None], [0.95])
    identifier = Identifier(cfg, "door", Store(tmp_path / "store", cfg), gallery, "r")
    now = datetime(2026, 11, 21, 10, tzinfo=UTC)

    def track(tid: int, distance: float) -> FaceTrack:
        face = known + distance * away
        faces = [(0.95, face)] * 2
        return FaceTrack(tid, np.zeros(4, np.float32), now, now, sightings=10, faces=faces)

    assert identifier.preview(track(1, 0.8 * limit))["customer_id"] == "K1"
    near = (1 + PREVIEW_MARGIN) / 2 * limit  # beyond the limit, within the margin
    assert identifier.preview(track(2, near)) is None
    far = identifier.preview(track(3, 1.5 * PREVIEW_MARGIN * limit))
    assert far["is_new"] and far["customer_id"] not in (None, "K1")
    assert identifier.preview(track(3, 1.5 * PREVIEW_MARGIN * limit)) is None  # once each
    # the deferred track, ended, is decided as every track is: new (beyond the limit)
    (row,) = identifier.identify([track(2, near)], None)
    assert row["customer_id"] not in (None, "K1", far["customer_id"])
