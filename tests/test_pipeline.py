"""The face pipeline on real footage (../shared/data), through the CLI a user runs."""

import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workbench.cli import main
from workbench.faces import HogFaceDetector, embed, landmarks
from workbench.store import Store

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
AGEITGEY = SHARED / "face-recognition-ageitgey" / "examples"
CLIP = AGEITGEY / "short_hamilton_clip.mp4"

pytestmark = pytest.mark.skipif(
    not CLIP.exists(), reason="needs ../shared/data (real footage); absent in a user's clone"
)


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def reference_embedding(image: Path) -> np.ndarray:
    bgr = cv2.imread(str(image))
    dets = HogFaceDetector(40).detect(bgr)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    biggest = dets.xyxy[int(np.argmax(dets.wh[:, 1]))]
    return embed(rgb, landmarks(rgb, biggest))


@pytest.fixture(scope="module")
def hamilton(tmp_path_factory) -> Store:
    base = tmp_path_factory.mktemp("hamilton")
    config = base / "workbench.yml"
    config.write_text("store: store\ntimezone: Asia/Kolkata\ncameras:\n  - id: stage\n")
    root = base / "store"
    result = run(
        "--config",
        config,
        "ingest",
        CLIP,
        "--camera",
        "stage",
        "--start",
        "2026-11-20T19:00:00",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    return Store(root)


def test_singer_is_one_customer_and_audience_others(hamilton):
    tracks = hamilton.query(
        'SELECT track_id, customer_id, start, "end", embedding FROM tracks WHERE customer_id IS NOT NULL ORDER BY start'
    )
    singer_ref = reference_embedding(AGEITGEY / "lin-manuel-miranda.png")
    dist = np.array([np.linalg.norm(np.array(e) - singer_ref) for e in tracks.embedding])
    singer = tracks[dist < 0.6]
    others = tracks[dist > 0.65]
    # the singer is seen in a far shot at the start and a close-up later: one customer for both
    assert len(singer) >= 2, tracks
    assert singer.customer_id.nunique() == 1
    singer_id = singer.customer_id.iloc[0]
    # the audience at the end: other customers, none merged with him
    assert len(others) >= 1
    assert singer_id not in set(others.customer_id)
    visits = hamilton.query("SELECT * FROM visits WHERE customer_id = ?", [singer_id])
    assert len(visits) == 1
    assert visits.dwell_s.iloc[0] > 5  # from the first shot to the end of the close-up


def test_export_visits_with_offsets(hamilton, tmp_path):
    out = tmp_path / "visits.csv"
    result = run("export", "visits", "--out", out, "--store", hamilton.root)
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out)
    assert list(df.columns[:6]) == ["visit_id", "customer_id", "camera", "start", "end", "dwell_s"]
    assert len(df) == len(hamilton.query("SELECT * FROM visits"))
    assert df.start.str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+05:30$").all(), df.start
    assert df.start.iloc[0].startswith("2026-11-20T19:00")
    for suffix in (".parquet", ".xlsx"):
        assert (
            run(
                "export", "customers", "--out", tmp_path / f"c{suffix}", "--store", hamilton.root
            ).exit_code
            == 0
        )
    assert (
        len(pd.read_parquet(tmp_path / "c.parquet"))
        == hamilton.query("SELECT count(*) n FROM customers").n[0]
    )


def test_key_image_per_visit(hamilton):
    visits = hamilton.query("SELECT snapshot FROM visits")
    for snap in visits.snapshot:
        image = cv2.imread(str(hamilton.root / snap))
        assert image is not None and image.shape[0] > 40


def counts(store: Store) -> tuple[int, int, int, int]:
    return tuple(
        int(store.query(f"SELECT count(*) AS n FROM {t}").n[0])
        for t in ("sightings", "tracks", "visits", "customers")
    )


def test_reingest_leaves_same_counts(hamilton, tmp_path):
    store_copy = tmp_path / "store"
    shutil.copytree(hamilton.root, store_copy)
    before = counts(Store(store_copy))
    result = run(
        "ingest",
        CLIP,
        "--camera",
        "stage",
        "--start",
        "2026-11-20T19:00:00+05:30",
        "--store",
        store_copy,
        "--quiet",
    )
    assert result.exit_code == 0
    assert counts(Store(store_copy)) == before
    # customer ids are stable across the re-ingest: the gallery recognises the same people
    assert set(Store(store_copy).query("SELECT customer_id FROM customers").customer_id) == set(
        hamilton.query("SELECT customer_id FROM customers").customer_id
    )


def test_video_cut_off_midway_keeps_what_was_read(tmp_path):
    # an MJPEG AVI (as many DVRs write) whose end is lost: the header still promises every frame
    avi = tmp_path / "cut.avi"
    cap = cv2.VideoCapture(str(CLIP))
    out = cv2.VideoWriter(str(avi), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 360))
    for _ in range(150):
        ok, frame = cap.read()
        out.write(frame)
    out.release()
    data = avi.read_bytes()
    avi.write_bytes(data[: int(len(data) * 0.7)])
    store = tmp_path / "store"
    result = run(
        "ingest",
        avi,
        "--camera",
        "stage",
        "--start",
        "2026-11-20T19:00:00Z",
        "--store",
        store,
        "--quiet",
    )
    assert result.exit_code == 1
    assert (
        "truncated or corrupt" in result.output
        and "frames before it were processed" in result.output
    )
    s = Store(store)
    assert s.query("SELECT status FROM runs").status.tolist() == ["partial"]
    assert (
        int(s.query("SELECT count(*) n FROM sightings").n[0]) > 0
    )  # the frames before the cut are kept


def test_a_video_file_is_decoded_on_one_thread_and_skipped_frames_are_only_grabbed():
    """Every ``step``-th frame comes out, in order and as a plain decode gives it, from a
    capture that decodes on one FFmpeg thread (ingest decodes beside detection already)."""
    from workbench.sources import open_source

    source = open_source(CLIP)
    assert source._cap.get(cv2.CAP_PROP_N_THREADS) == 1
    frames = [f for _, f in zip(range(4), source.frames(3), strict=False)]
    source.close()
    cap = cv2.VideoCapture(str(CLIP))
    plain = [cap.read()[1] for _ in range(10)]
    cap.release()
    assert [f.index for f in frames] == [0, 3, 6, 9]
    for f in frames:
        assert np.array_equal(f.image, plain[f.index])


def test_corrupt_and_missing_files_are_clear_errors(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).bytes(50_000))
    store = tmp_path / "store"
    result = run("ingest", junk, "--camera", "c", "--store", store)
    assert result.exit_code == 1
    assert "cannot decode this file as video" in result.output
    assert not (store / "events").exists() or not list((store / "events").rglob("*.parquet"))
    result = run("ingest", tmp_path / "nope.mp4", "--camera", "c", "--store", store)
    assert result.exit_code == 1 and "no such video file" in result.output


def test_image_folder_with_non_images(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, name in enumerate(["obama.jpg", "obama2.jpg", "biden.jpg"]):
        shutil.copy(AGEITGEY / name, folder / f"{i:03d}.jpg")
    (folder / "notes.txt").write_text("not an image")
    (folder / "999.jpg").write_text("not really a jpeg")
    store = tmp_path / "store"
    result = run(
        "ingest",
        folder,
        "--camera",
        "c",
        "--start",
        "2026-01-05T10:00:00Z",
        "--store",
        store,
        "--quiet",
    )
    assert result.exit_code == 1  # problems are reported...
    assert "notes.txt" not in result.output or "skipped 1 files" in result.output
    assert "999.jpg: not a readable image" in result.output
    faces = Store(store).query("SELECT customer_id FROM tracks WHERE customer_id IS NOT NULL")
    assert len(faces) == 3  # ...and the good images are in the store
    assert faces.customer_id.nunique() == 2  # Obama twice, Biden once


def _cut(src: Path, out: Path, first: int, last: int) -> Path:
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.set(cv2.CAP_PROP_POS_FRAMES, first)
    writer = None
    for _ in range(first, last):
        ok, frame = cap.read()
        if not ok:
            break
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        writer.write(frame)
    writer.release()
    cap.release()
    return out


def test_workers_give_the_same_customers_as_one_process(tmp_path):
    """Two files perceived by two worker processes: identity is still decided in time
    order in one process, so tracks and customer ids are exactly those of one process."""
    from workbench.config import Config
    from workbench.pipeline import ingest

    cap = cv2.VideoCapture(str(CLIP))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    # the singer in both halves: customers of the first file come back in the second
    clips = [
        _cut(CLIP, tmp_path / "a.mp4", 0, n // 2),
        _cut(CLIP, tmp_path / "b.mp4", n // 2, n),
    ]
    start = pd.Timestamp("2026-11-20T19:00:00+05:30").to_pydatetime()
    tracks = {}
    for workers in (1, 2):
        store = Store(tmp_path / f"store{workers}")
        results = ingest(
            clips, "stage", store, Config(), start=start, progress=False, workers=workers
        )
        assert [Path(r.path).name for r in results] == ["a.mp4", "b.mp4"]
        tracks[workers] = store.query(
            'SELECT source, start, "end", sightings, embedded, customer_id FROM tracks '
            "JOIN runs USING (run_id) ORDER BY start, source"
        )
    assert len(tracks[1]) >= 2
    assert tracks[1].customer_id.notna().any()
    pd.testing.assert_frame_equal(tracks[1], tracks[2])


def test_live_tracks_are_identified_before_they_end(tmp_path):
    """Observers (alert rules) hear a provisional identity while the face is still in view;
    a track that was new then keeps that id when it ends and is still new."""
    from workbench.config import Config
    from workbench.identity import Gallery
    from workbench.pipeline import ingest_source
    from workbench.sources import open_source

    class Listener:
        def __init__(self):
            self.seen: dict[str, list[dict]] = {}

        def observe(self, table, rows):
            self.seen.setdefault(table, []).extend(rows)

    listener = Listener()
    store = Store(tmp_path / "store")
    cap = cv2.VideoCapture(str(CLIP))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    clip = _cut(CLIP, tmp_path / "start.mp4", 0, n // 3)
    ingest_source(
        open_source(clip), "stage", store, Config(), Gallery(), progress=False, observers=[listener]
    )
    early = pd.DataFrame(listener.seen["identified"])
    final = pd.DataFrame(listener.seen["tracks"]).set_index("track_id")
    assert len(early) >= 1
    heard_before_end = 0
    for row in early.itertuples():
        track = final.loc[row.track_id]
        assert row.ts <= track.end
        heard_before_end += row.ts < track.end  # while the face was still in view
        assert (store.root / row.snapshot).is_file()
        if row.is_new:
            assert track.customer_id == row.customer_id
    assert heard_before_end >= 1
    # every track identified at its end was heard of before it ended, even one too short
    # for two good faces (previewed when its face was looked for and not found)
    identified = final[final.customer_id.notna()]
    assert set(identified.index) <= set(early.track_id)
    assert (early.groupby("track_id").size() == 1).all()  # once each


def test_tracks_embed_only_the_faces_they_keep(monkeypatch):
    """A track keeps chips of its best faces and computes descriptors only for those it
    holds when identity is wanted (a preview, its end), not for each better face on the way."""
    import workbench.pipeline as pipeline
    from workbench.config import Config
    from workbench.sources import open_source

    computed, embed_chips = [], pipeline.embed_chips

    def counting(chips):
        computed.append(len(chips))
        return embed_chips(chips)

    monkeypatch.setattr(pipeline, "embed_chips", counting)
    kept = replaced = 0
    for step in pipeline.perceive(open_source(CLIP), Config(), "stage", "r"):
        for tracks, _ in step.ended:
            for track in tracks:
                kept += len(track.faces)
                assert not track.chips  # only descriptors travel on
                assert len(track.faces) <= Config().recognition.embeddings_per_track
        replaced += sum(len(t.faces) for t in step.ready)  # embedded at the preview
    assert kept >= 5
    # each kept face embedded once; at most the preview's faces more (replaced since)
    assert kept <= sum(computed) <= kept + replaced
