"""A tracker that follows faces between detections, so the detector need not run on every frame.

Each track keeps a face's last box and key points, their velocity per frame, and a stable id.
On a frame with detections, tracks and detections are matched greedily by IoU (best pairs first,
above `min_iou`); a matched track takes the detection (velocity updated, smoothed), an unmatched
detection starts a new track with the next id, and a track missing from `max_missed` detection
rounds in a row is dropped. On a frame without detection each track moves on by its velocity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.frontends.face.detect import Face, iou


@dataclass
class Track:
    id: int
    face: Face
    velocity: np.ndarray  # (4,) box change per frame
    age: int = 0  # frames since the last matching detection
    missed: int = 0  # detection rounds missed in a row
    hits: int = 1


class Tracker:
    def __init__(self, min_iou: float = 0.3, max_missed: int = 2, smoothing: float = 0.5) -> None:
        self.min_iou = min_iou
        self.max_missed = max_missed
        self.smoothing = smoothing
        self.tracks: list[Track] = []
        self._next_id = 0

    def reset(self) -> None:
        self.tracks.clear()
        self._next_id = 0

    def update(self, detections: list[Face]) -> list[Face]:
        """Match a detection round to the tracks; returns the current faces, ids set."""
        pairs = []
        if self.tracks and detections:
            boxes = np.stack([d.box for d in detections])
            for ti, track in enumerate(self.tracks):
                for di, overlap in enumerate(iou(track.face.box, boxes)):
                    if overlap >= self.min_iou:
                        pairs.append((overlap, ti, di))
        used_t, used_d = set(), set()
        for _, ti, di in sorted(pairs, reverse=True):
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            track, det = self.tracks[ti], detections[di]
            step = (det.box - track.face.box) / max(track.age, 1)
            track.velocity = self.smoothing * track.velocity + (1 - self.smoothing) * step
            det.id = track.id
            track.face, track.age, track.missed = det, 0, 0
            track.hits += 1
        for ti, track in enumerate(self.tracks):
            if ti not in used_t:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for di, det in enumerate(detections):
            if di not in used_d:
                det.id = self._next_id
                self._next_id += 1
                self.tracks.append(Track(det.id, det, np.zeros(4, np.float32)))
        return self.current()

    def predict(self) -> list[Face]:
        """A frame without detection: each track moves on by its velocity."""
        for track in self.tracks:
            f = track.face
            shift = track.velocity
            centre_shift = np.array(
                [(shift[0] + shift[2]) / 2, (shift[1] + shift[3]) / 2], np.float32
            )
            track.face = Face(f.box + shift, f.score, f.keypoints + centre_shift, f.id)
            track.age += 1
        return self.current()

    def current(self) -> list[Face]:
        """Faces of the live tracks that were matched in the latest detection round."""
        return [t.face for t in self.tracks if t.missed == 0]
