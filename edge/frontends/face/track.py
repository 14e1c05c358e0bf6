"""A tracker that follows faces between detections, so the detector need not run on every frame.

Each track keeps a face's last box and key points, their velocity per frame, and a stable id.
On a frame with detections, tracks and detections are matched greedily by IoU (best pairs first,
above `min_iou`); a matched track takes the detection (velocity updated, smoothed), an unmatched
detection starts a new track with the next id, and a track missing from `max_missed` detection
rounds in a row is dropped. On a frame without detection each track moves on by its velocity.

A track is confirmed once the detector has given it a score of at least `confirm_score`, or has
matched it in two detection rounds. An unconfirmed track (one detection, low score) is reported on
the frame that found it but is not carried onto the frames between detections: a box the detector
gave once at a low score (a textured spacesuit, a pattern on a wall) does not live on for the
`detect_every - 1` frames that follow. `confirm_score` is chosen with
scripts/face_detector_thresholds.py (README, face detector).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.frontends.face.detect import Face, iou

#: A detection this sure starts a confirmed track (a lower one needs a second detection round to
#: be carried between detections).
CONFIRM_SCORE = 0.8


@dataclass
class Track:
    id: int
    face: Face
    velocity: np.ndarray  # (4,) box change per frame
    age: int = 0  # frames since the last matching detection
    missed: int = 0  # detection rounds missed in a row
    hits: int = 1
    confirmed: bool = False


class Tracker:
    def __init__(
        self,
        min_iou: float = 0.3,
        max_missed: int = 2,
        smoothing: float = 0.5,
        confirm_score: float = CONFIRM_SCORE,
    ) -> None:
        self.min_iou = min_iou
        self.confirm_score = confirm_score
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
            track.confirmed = True  # two detection rounds agree
        for ti, track in enumerate(self.tracks):
            if ti not in used_t:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for di, det in enumerate(detections):
            if di not in used_d:
                det.id = self._next_id
                self._next_id += 1
                confirmed = det.score >= self.confirm_score
                self.tracks.append(Track(det.id, det, np.zeros(4, np.float32), confirmed=confirmed))
        return self.current()

    def predict(self) -> list[Face]:
        """A frame without detection: each track moves on by its velocity; unconfirmed ones (one
        detection at a low score) are kept for the next detection round but not reported."""
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
        """Faces of the live tracks that were matched in the latest detection round; an
        unconfirmed track only on the frame of its detection."""
        return [t.face for t in self.tracks if t.missed == 0 and (t.confirmed or t.age == 0)]
