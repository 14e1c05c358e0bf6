"""Electrode graphs from where the electrodes sit: the HiSTN student's regions and neighbours for
any set of 10-20 electrodes, read off MNE's standard 10-20 montage.

HiSTN groups the electrodes into four regions, a ring around the head: left-anterior,
left-posterior, right-posterior, right-anterior (DREAMER's AF3 F7 F3 FC5 | T7 P7 O1 | O2 P8 T8 |
FC6 F4 F8 AF4), and filters each region over a graph of its electrodes. From positions:

- **hemisphere** from the electrode's left-right coordinate (within ``midline_m`` of the midline
  it is a midline electrode, which joins the side of its half that has fewer electrodes, left on
  a tie, as `distill.students.histn.regions_for` does);
- **anterior or posterior** from the front-back coordinate (in front of the head's origin, which
  sits just in front of the C line: FC and FT are anterior, C and T posterior, as HiSTN's regions);
- **neighbours**: inside each region, the shortest scalp links that join all its electrodes (the
  minimum spanning tree over straight-line distance, so a region of n electrodes has n - 1 edges,
  as the hand-written chains have, but each edge joins electrodes that are next to each other on
  the head, whatever order a headset lists them in).

`listed_graph` is the graph the students were built with before: `regions_for` and a chain in
the listed order. `montage_graph(...).arch_config()` gives `histn` its ``regions`` and ``edges``.
MNE is imported only here, offline (distill); the device never needs it for the graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.errors import ConfigError

#: MNE's standard 10-20 montage (``standard_1020``, named ``colin27_1020`` from MNE 1.13).
MONTAGES = ("colin27_1020", "standard_1020")
#: Electrodes closer than this to the midline (metres, left-right) are midline electrodes.
MIDLINE_M = 0.005
#: Region names in ring order (HiSTN's, DREAMER's).
REGIONS = ("left-anterior", "left-posterior", "right-posterior", "right-anterior")


@dataclass(frozen=True)
class ElectrodeGraph:
    """Channels in input order, regions in ring order (each region's electrodes in input order),
    and the edges inside the regions as (a, b) pairs, a listed before b."""

    channels: tuple[str, ...]
    regions: tuple[tuple[str, ...], ...]
    edges: tuple[tuple[str, str], ...]

    def arch_config(self) -> dict:
        """The `histn` keyword arguments that build this graph."""
        return {"regions": [list(r) for r in self.regions], "edges": [list(e) for e in self.edges]}

    def region_edges(self, region: Sequence[str]) -> set[frozenset[str]]:
        inside = set(region)
        return {frozenset(e) for e in self.edges if set(e) <= inside}


def standard_positions() -> dict[str, np.ndarray]:
    """Every electrode of MNE's standard 10-20 montage: (x right, y front, z up) in metres."""
    import mne

    for name in MONTAGES:
        if name in mne.channels.get_builtin_montages():
            montage = mne.channels.make_standard_montage(name)
            return {k: np.asarray(v) for k, v in montage.get_positions()["ch_pos"].items()}
    raise ConfigError(f"MNE {mne.__version__} has none of the montages {', '.join(MONTAGES)}")


def positions(channels: Sequence[str]) -> dict[str, np.ndarray]:
    """The montage position of each channel, by its name in any case (``FP1`` is Fp1); a name the
    10-20 montage lacks is a one-line `ConfigError`."""
    known = standard_positions()
    by_lower = {k.lower(): k for k in known}
    missing = [c for c in channels if c.lower() not in by_lower]
    if missing:
        raise ConfigError(
            f"electrode(s) {', '.join(missing)} are not in MNE's 10-20 montage (it has "
            f"{', '.join(list(known)[:12])}, ...); give 10-20 names"
        )
    return {c: known[by_lower[c.lower()]] for c in channels}


def minimum_tree(names: Sequence[str], where: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    """Prim's minimum spanning tree over straight-line distance; ties go to the earlier name."""
    if len(names) < 2:
        return []
    inside, edges = [names[0]], []
    while len(inside) < len(names):
        best = None
        for a in inside:
            for b in names:
                if b in inside:
                    continue
                d = float(np.linalg.norm(where[a] - where[b]))
                if best is None or d < best[0] - 1e-12:
                    best = (d, a, b)
        _, a, b = best
        inside.append(b)
        edges.append((a, b) if names.index(a) < names.index(b) else (b, a))
    return sorted(edges, key=lambda e: (names.index(e[0]), names.index(e[1])))


def montage_graph(channels: Sequence[str], midline_m: float = MIDLINE_M) -> ElectrodeGraph:
    """The HiSTN graph of `channels` from their positions (module docstring)."""
    channels = tuple(channels)
    if len(set(c.lower() for c in channels)) != len(channels):
        raise ConfigError(f"electrodes must differ: {', '.join(channels)}")
    where = positions(channels)
    groups: dict[str, list[str]] = {r: [] for r in REGIONS}
    midline = []
    for c in channels:
        x, y = where[c][0], where[c][1]
        part = "anterior" if y > 0 else "posterior"
        if abs(x) <= midline_m:
            midline.append((c, part))
        else:
            groups[f"{'left' if x < 0 else 'right'}-{part}"].append(c)
    for c, part in midline:
        left, right = groups[f"left-{part}"], groups[f"right-{part}"]
        (left if len(left) <= len(right) else right).append(c)
    regions = tuple(tuple(sorted(g, key=channels.index)) for g in (groups[r] for r in REGIONS) if g)
    edges = tuple(e for r in regions for e in minimum_tree(list(r), where))
    return ElectrodeGraph(channels, regions, edges)


def listed_graph(channels: Sequence[str]) -> ElectrodeGraph:
    """The graph the students were built with by hand: `regions_for` (DREAMER's four regions for
    its 14 electrodes) and, inside each region, a chain in the region's listed order."""
    from distill.students.histn import regions_for

    regions = tuple(tuple(r) for r in regions_for(channels))
    edges = tuple((r[i], r[i + 1]) for r in regions for i in range(len(r) - 1))
    return ElectrodeGraph(tuple(channels), regions, edges)


def total_length_m(graph: ElectrodeGraph) -> float:
    """The summed straight-line length of the graph's edges (metres)."""
    where = positions(graph.channels)
    return float(sum(np.linalg.norm(where[a] - where[b]) for a, b in graph.edges))
