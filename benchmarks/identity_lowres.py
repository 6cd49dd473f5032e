"""How low-resolution faces change embedding distances, and the stricter threshold for them.

Small faces, shown larger than they were captured (a 37 px face on a 60 px box), embed
closer to each other than sharp faces do, whether they are one person or two. This
measures it on the labelled sets of ``identity_roc.py`` and calibrates
``recognition.low_quality_match_distance`` and ``low_quality_below``:

* every photo is used as it is and, in each of ``--draws`` draws, scaled down so its
  face (the median face of a group photo) is 35-45 px tall (INTER_AREA; the height drawn
  per file and draw), then shown ``--show`` times larger (INTER_CUBIC; 1.5 by default,
  as the door-footage week renders small sources), and detected and embedded like any
  photo;
* per draw, pairs are pooled over the photos as they are and that draw's scaled ones:
  genuine pairs are two different images of one person (never one image with its own
  scaled copy), impostor pairs two labelled people or two faces of one group photo in
  the same version; they are binned by the better of the two face qualities (a pair
  is held to the stricter distance when both faces are poor, as in ``MatchRule``);
* calibration: the impostor pairs whose faces are both below ``--cut`` sit closer
  than those above it; the 1st percentile of their distances (thousands of pairs, so
  measurable, unlike the closest few) moves by a shift, and the stricter distance is
  ``match_distance`` minus that shift (its median over the draws, rounded down to 0.01),
  which holds poor pairs to the false-match rate good pairs have at ``match_distance``
  in that tail. Shown beside it: the largest threshold with no false match at all
  below the cut, per draw (it moves with the draw: it rests on a handful of pairs), and
  which group photo holds those pairs;
* open-set replay (``identity_roc.replay``) of each version with one distance for every
  quality and with the rule.

Run from the project root::

    python benchmarks/identity_lowres.py [--show 1.5] [--cut 0.8] [--draws 3]
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from pathlib import Path

import cv2
import identity_roc as roc
import numpy as np

FACE_PX = (35.0, 45.0)
GRID = np.round(np.arange(0.30, 0.60 + 1e-9, 0.01), 2)
BINS = [0.0, 0.6, 0.7, 0.8, 0.9, 1.01]


def _scaled_loader(show: float, draw: int):
    """A replacement for ``identity_roc._faces`` that sees the photo at 35-45 px."""
    from workbench.faces import PHOTO_MAX_SIDE, photo_faces

    def load(path: Path):
        image = cv2.imread(str(path))
        if image is None:
            raise SystemExit(f"cannot read {path.name}; is the shared data complete?")
        rgb, faces = photo_faces(image)
        if not faces:
            return image, rgb, faces
        work = min(1.0, PHOTO_MAX_SIDE / max(image.shape[:2]))
        heights = np.array([f.box[3] - f.box[1] for f in faces]) / work
        rng = np.random.default_rng([zlib.crc32(path.name.encode()), draw])
        s = rng.uniform(*FACE_PX) / float(np.median(heights))
        small = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        shown = cv2.resize(small, None, fx=show, fy=show, interpolation=cv2.INTER_CUBIC)
        rgb, faces = photo_faces(shown)
        return shown, rgb, faces

    return load


def load(data: Path, show: float, draws: int) -> list[list[tuple[str, roc.Face]]]:
    """Per draw: (version, face) for every face of the labelled sets, as they are and scaled."""
    full, _ = roc.load_sets(data)
    original = roc._faces
    out = []
    try:
        for draw in range(draws):
            roc._faces = _scaled_loader(show, draw)
            low, _ = roc.load_sets(data)
            out.append(
                [
                    (v, f)
                    for v, sets in (("full", full), ("low", low))
                    for fs in sets.values()
                    for f in fs
                ]
            )
    finally:
        roc._faces = original
    return out


def pairs(faces: list[tuple[str, roc.Face]]) -> dict[str, np.ndarray]:
    ver = np.array([v for v, _ in faces], object)
    f = [x for _, x in faces]
    emb = np.stack([x.emb for x in f]).astype(np.float64)
    q = np.array([x.quality for x in f])
    ident = np.array([x.identity or "" for x in f], object)
    unit = np.array([f"{x.set}/{x.unit}" for x in f], object)
    fold = np.array(["A" if x.set in roc.FOLDS["A"] else "B" for x in f], object)
    lab = ident != ""
    i, j = np.triu_indices(len(f), 1)
    genuine = lab[i] & lab[j] & (ident[i] == ident[j]) & (unit[i] != unit[j])
    companions = ~lab[i] & ~lab[j] & (unit[i] == unit[j]) & (ver[i] == ver[j])
    impostor = (lab[i] & lab[j] & (ident[i] != ident[j])) | companions
    keep = (genuine | impostor) & (fold[i] == fold[j])
    return {
        "d": np.linalg.norm(emb[i] - emb[j], axis=1)[keep],
        "genuine": genuine[keep],
        "qmax": np.maximum(q[i], q[j])[keep],
        "fold": fold[i][keep],
        "photo": np.where(companions, unit[i], "")[keep],
        "kind": np.where(ver[i] == ver[j], ver[i] + "-" + ver[j], "full-low")[keep],
    }


def zero_fm(d_imp: np.ndarray) -> float | None:
    """The largest grid threshold with no impostor pair within it."""
    ok = GRID[[not (d_imp <= t).any() for t in GRID]]
    return float(ok.max()) if len(ok) else None


def _pct(x: np.ndarray, t: float) -> str:
    return f"{100 * (x <= t).mean():.0f}%" if len(x) else "-"


def report(faces, p: dict, distance: float) -> list[str]:
    """Face qualities and pairs binned by the better quality, for one draw."""
    d, gen, qmax = p["d"], p["genuine"], p["qmax"]
    out = ["## Face quality of the two versions (draw 0)", ""]
    out += ["| version | faces | quality min / median / max |", "| --- | --- | --- |"]
    for v in ("full", "low"):
        qs = np.array([f.quality for w, f in faces if w == v])
        out.append(f"| {v} | {len(qs)} | {qs.min():.2f} / {np.median(qs):.2f} / {qs.max():.2f} |")
    out += ["", "## Pairs by the better of their two face qualities (draw 0)", ""]
    out += [
        "| better quality | genuine | impostor | TMR at 0.40 / 0.43 / 0.46 | false matches at "
        f"0.43 / {distance} | closest impostors |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for lo, hi in zip(BINS[:-1], BINS[1:], strict=True):
        s = (qmax >= lo) & (qmax < hi)
        g, m = d[gen & s], d[~gen & s]
        tmr = " / ".join(_pct(g, t) for t in (0.40, 0.43, 0.46))
        fm = f"{int((m <= 0.43).sum())} / {int((m <= distance).sum())}"
        close = ", ".join(f"{x:.3f}" for x in np.sort(m)[:3])
        out.append(f"| {lo:.1f}-{min(hi, 1):.1f} | {len(g)} | {len(m)} | {tmr} | {fm} | {close} |")
    out += ["", "By version (draw 0):", ""]
    out += ["| pair | genuine | impostor | impostor 1st percentile | closest impostors |"]
    out += ["| --- | --- | --- | --- | --- |"]
    for kind in ("full-full", "full-low", "low-low"):
        s = p["kind"] == kind
        g, m = d[gen & s], d[~gen & s]
        close = ", ".join(f"{x:.3f}" for x in np.sort(m)[:3])
        out.append(f"| {kind} | {len(g)} | {len(m)} | {np.percentile(m, 1):.3f} | {close} |")
    return out


def calibrate(all_pairs: list[dict], cut: float, distance: float) -> tuple[float, list[str]]:
    """The stricter distance (see the module docstring) and its table, one row per draw."""
    out = ["", f"## Calibration: pairs below quality {cut} against pairs above it", ""]
    out += [
        "| draw | impostor pairs below / above | 1st percentile below / above | shift | "
        f"{distance} - shift | no false match below, up to | closest impostor pair below |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    ends = []
    for k, p in enumerate(all_pairs):
        below, imp = p["qmax"] < cut, ~p["genuine"]
        lo, hi = p["d"][imp & below], p["d"][imp & ~below]
        p_lo, p_hi = np.percentile(lo, 1), np.percentile(hi, 1)
        ends.append(distance - (p_hi - p_lo))
        c = int(np.argmin(np.where(imp & below, p["d"], np.inf)))
        where = p["photo"][c].split("/")[-1] or "two labelled people"
        out.append(
            f"| {k} | {len(lo)} / {len(hi)} | {p_lo:.3f} / {p_hi:.3f} | {p_hi - p_lo:.3f} | "
            f"{ends[-1]:.3f} | {zero_fm(lo)} | {p['d'][c]:.3f} ({where}) |"
        )
    chosen = float(np.floor(np.median(ends) * 100 + 1e-9) / 100)
    out += [
        "",
        f"Chosen: `low_quality_match_distance` = {chosen} (median over draws, rounded down).",
    ]
    tmr = []
    for p in all_pairs:
        g = p["d"][p["genuine"] & (p["qmax"] < cut)]
        tmr.append(f"{_pct(g, chosen)} at {chosen} / {_pct(g, distance)} at {distance} of {len(g)}")
    out.append(f"Genuine pairs below {cut} within it, per draw: {'; '.join(tmr)}.")
    return chosen, out


def replays(versions: dict[str, list], rule, distance: float) -> list[str]:
    out = ["", "## Open-set replay (each image a track, in file order)", ""]
    out += [
        "| version | fold | rule | ids / people | pair F1 | false merges | people split |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for v, faces in versions.items():
        for fold, names in roc.FOLDS.items():
            fs = [f for f in faces if f.set in names]
            truth = roc._truth(fs)
            for label, r in ((f"{distance} for all", distance), ("quality rule", rule)):
                s = roc.clustering_scores(truth, roc.replay(fs, r))
                out.append(
                    f"| {v} | {fold} | {label} | {s['ids']} / {s['people']} | "
                    f"{s['f1']:.3f} | {s['false_merges']} | {s['people_split']} |"
                )
    return out


def main(argv: list[str] | None = None) -> int:
    from workbench.config import RecognitionConfig
    from workbench.identity import MatchRule

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=roc.DEFAULT_DATA, help="shared data folder")
    ap.add_argument("--show", type=float, default=1.5, help="small faces shown this much larger")
    ap.add_argument("--cut", type=float, default=RecognitionConfig().low_quality_below)
    ap.add_argument("--draws", type=int, default=3, help="draws of the 35-45 px face heights")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"no shared data at {args.data}; pass --data", file=sys.stderr)
        return 2
    rec = RecognitionConfig()
    t0 = time.perf_counter()
    draws = load(args.data, args.show, args.draws)
    all_pairs = [pairs(faces) for faces in draws]
    print(f"# low-resolution faces\n\nmachine: {roc.machine()}")
    print(f"command: python benchmarks/identity_lowres.py {' '.join(sys.argv[1:])}".rstrip())
    lines = report(draws[0], all_pairs[0], rec.match_distance)
    chosen, table = calibrate(all_pairs, args.cut, rec.match_distance)
    if chosen != rec.low_quality_match_distance:
        table.append(f"(the configured default is {rec.low_quality_match_distance})")
    rule = MatchRule(rec.match_distance, chosen, args.cut)
    versions = {"full": [f for v, f in draws[0] if v == "full"]}
    versions |= {f"low, draw {k}": [f for v, f in fs if v == "low"] for k, fs in enumerate(draws)}
    print("\n".join(lines + table + replays(versions, rule, rec.match_distance)))
    print(f"\nwall {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
