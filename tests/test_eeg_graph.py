"""The HiSTN student's electrode graph built from where electrodes sit (MNE's 10-20 montage),
against the graphs written by hand for the Emotiv 14, Cyton 8 and Muse 4 layouts, and through
`distill eeg --graph montage`."""

from __future__ import annotations

import pytest

pytest.importorskip("mne")
pytest.importorskip("torch")

from distill.eeg_graph import listed_graph, montage_graph, total_length_m
from edge.errors import ConfigError

EMOTIV = ("AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4")
CYTON = ("Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2")
MUSE = ("TP9", "AF7", "AF8", "TP10")


def edge_set(edges) -> set[frozenset[str]]:
    return {frozenset(e) for e in edges}


@pytest.mark.parametrize("channels", [CYTON, MUSE], ids=["cyton8", "muse4"])
def test_cyton_and_muse_graphs_from_positions_equal_the_hand_written_ones(channels):
    built, by_hand = montage_graph(channels), listed_graph(channels)
    assert built.regions == by_hand.regions
    assert edge_set(built.edges) == edge_set(by_hand.edges)


def test_cyton_regions_are_hemisphere_by_front_and_back():
    assert montage_graph(CYTON).regions == (
        ("Fp1",),
        ("C3", "P7", "O1"),
        ("C4", "P8", "O2"),
        ("Fp2",),
    )
    assert montage_graph(MUSE).regions == (("AF7",), ("TP9",), ("TP10",), ("AF8",))


def test_emotiv_regions_are_dreamers_and_its_frontal_chains_were_not_neighbours():
    built, by_hand = montage_graph(EMOTIV), listed_graph(EMOTIV)
    # DREAMER's four regions, in HiSTN's ring order, come out of the positions.
    assert (
        built.regions
        == by_hand.regions
        == (
            ("AF3", "F7", "F3", "FC5"),
            ("T7", "P7", "O1"),
            ("O2", "P8", "T8"),
            ("FC6", "F4", "F8", "AF4"),
        )
    )
    # The posterior chains are the nearest neighbours; the frontal chains follow the headset's
    # channel listing (AF3-F7-F3-FC5), which skips the closest pair on the head (AF3-F3, 36 mm,
    # against AF3-F7, 60 mm).
    for region in built.regions[1:3]:
        assert built.region_edges(region) == by_hand.region_edges(region)
    assert built.region_edges(built.regions[0]) == edge_set(
        [("AF3", "F3"), ("F3", "FC5"), ("F7", "FC5")]
    )
    assert by_hand.region_edges(by_hand.regions[0]) == edge_set(
        [("AF3", "F7"), ("F7", "F3"), ("F3", "FC5")]
    )
    assert built.region_edges(built.regions[3]) == edge_set(
        [("AF4", "F4"), ("F4", "FC6"), ("F8", "FC6")]
    )
    assert total_length_m(built) == pytest.approx(0.4894, abs=1e-3)
    assert total_length_m(by_hand) == pytest.approx(0.5678, abs=1e-3)


def test_any_10_20_set_and_any_spelling():
    names = ("FP1", "fp2", "Fz", "Cz", "Pz", "O1", "O2", "T7", "T8")
    graph = montage_graph(names)
    assert sorted(c for r in graph.regions for c in r) == sorted(names)
    assert all(len(graph.region_edges(r)) == len(r) - 1 for r in graph.regions)  # a tree each
    with pytest.raises(ConfigError, match="not in MNE's 10-20 montage"):
        montage_graph(("Fp1", "EXG Channel 0"))


def test_distill_eeg_graph_montage_builds_and_records_the_graph(tmp_path, capsys):
    from distill.checkpoint import Checkpoint
    from edge.cli.main import main

    mat, ckpt = tmp_path / "syn.mat", tmp_path / "eeg.pt"
    argv = ["distill", "eeg", "--dreamer", str(mat), "--write-synthetic", "1"]
    argv += ["--electrodes", "emotiv-14", "--graph", "montage", "--epochs", "1"]
    argv += ["--steps-per-epoch", "1", "-o", str(ckpt)]
    assert main(argv) == 0
    assert "edges AF3-F3, F7-FC5, F3-FC5" in capsys.readouterr().out
    saved = Checkpoint.load(ckpt)
    graph = montage_graph(EMOTIV).arch_config()
    assert saved.config["regions"] == graph["regions"]
    assert saved.config["edges"] == graph["edges"]
    model = saved.build()  # the export rebuilds the same graph from the checkpoint
    assert model.edges == graph["edges"]
