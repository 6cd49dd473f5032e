"""The seeds' approach to customer ids, kept as the reference the benchmarks compare with.

Every frame goes through face_recognition (HOG detection, upsample 1, then a 128-d
encoding of every face); each face takes the id of the first known face within the
tolerance 0.6, or becomes a new id. This is what the scripts workbench replaces do.
"""

from __future__ import annotations

import numpy as np

TOLERANCE = 0.6


class SeedsIdentifier:
    def __init__(self) -> None:
        self.known: list[np.ndarray] = []
        self.names: list[str] = []

    def faces(self, rgb: np.ndarray) -> list[tuple[tuple[int, int, int, int], str]]:
        """``((top, right, bottom, left), customer_id)`` for every face in one RGB frame."""
        import face_recognition

        locs = face_recognition.face_locations(rgb)
        out = []
        for loc, enc in zip(locs, face_recognition.face_encodings(rgb, locs), strict=True):
            matches = face_recognition.compare_faces(self.known, enc, tolerance=TOLERANCE)
            if True in matches:
                cid = self.names[matches.index(True)]
            else:
                cid = f"S{len(self.names) + 1:05d}"
                self.known.append(enc)
                self.names.append(cid)
            out.append((loc, cid))
        return out
