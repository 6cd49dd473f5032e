"""Customer ids on labelled photos: workbench's identity logic vs the seeds' approach.

    python benchmarks/identity_audit.py [--data ../shared/data] [--json]

Both replay the same images in the same order, each image a new sighting:

* workbench: ``workbench.audit.audit_faces`` (quality gate, quality-weighted vote,
  gallery of exemplars, ``recognition.match_distance``);
* seeds: ``face_recognition.face_locations`` + ``face_encodings`` on the image, then
  ``compare_faces(known, encoding, tolerance=0.6)``: the first known face that
  matches gives the id, else a new id is appended to the known faces.

Scores: pair precision/recall/F1 over pairs of images, false merges (ids holding more
than one person), people split, returning recall (see ``workbench.audit``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from workbench.audit import audit_faces, identity_scores, read_labels

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def seeds_ids(files: list[Path]) -> tuple[list[str | None], float]:
    """The seeds' loop over still images."""
    import face_recognition

    known: list = []
    ids: list[str | None] = []
    t0 = time.perf_counter()
    for f in files:
        image = face_recognition.load_image_file(f)
        encodings = face_recognition.face_encodings(image, face_recognition.face_locations(image))
        if not encodings:
            ids.append(None)
            continue
        enc = encodings[0]
        match = face_recognition.compare_faces(known, enc, tolerance=0.6) if known else []
        if True in match:
            ids.append(f"S{match.index(True) + 1}")
        else:
            known.append(enc)
            ids.append(f"S{len(known)}")
    return ids, time.perf_counter() - t0


def sets(data: Path, tmp: Path) -> dict[str, tuple[Path, Path]]:
    """Name -> (labels CSV, root): the one-face-per-image labelled sets in the shared data."""
    ag = data / "face-recognition-ageitgey"
    single = pd.read_csv(ag / "identities.csv")
    single = single[single["n_known_faces"] == 1][["file", "identity"]]
    single.to_csv(tmp / "ageitgey.csv", index=False)
    cf = data / "compreface-sample-images"
    faces = pd.read_csv(cf / "faces_annotations.csv", dtype=str, keep_default_na=False)
    faces = faces[faces["identity"] != ""]
    faces.assign(file="images/" + faces["file"])[["file", "identity"]].to_csv(
        tmp / "compreface.csv", index=False
    )
    return {
        "johns": (data / "dlib-examples" / "johns_identities.csv", data / "dlib-examples"),
        "ageitgey": (tmp / "ageitgey.csv", ag),
        "compreface": (tmp / "compreface.csv", cf),
    }


KEYS = ["pair_precision", "pair_recall", "pair_f1", "false_merges", "people_split"]
KEYS += ["returning_recall", "customers_pred", "people_true", "wall_s"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.data.exists():
        print(f"no shared data at {args.data}; pass --data", file=sys.stderr)
        return 2
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (csv, root) in sets(args.data, Path(tmp)).items():
            wb = audit_faces(csv, root)
            labels = read_labels(csv)
            ids, wall = seeds_ids([root / f for f in labels["file"]])
            seeds = identity_scores(labels["identity"].tolist(), ids)
            seeds["wall_s"] = round(wall, 2)
            out[name] = {
                "images": len(labels),
                "workbench": {k: wb[k] for k in KEYS},
                "seeds": {k: round(v, 4) if isinstance(v, float) else v for k, v in seeds.items()},
            }
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print("| set | images | method | " + " | ".join(KEYS) + " |")
    print("|" + " --- |" * (len(KEYS) + 3))
    for name, r in out.items():
        for method in ("workbench", "seeds"):
            vals = " | ".join(str(r[method].get(k, "")) for k in KEYS)
            print(f"| {name} | {r['images']} | {method} | {vals} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
