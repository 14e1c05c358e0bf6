"""The recipe of a face student trained on people's labels plus distillation (`FaceTrainConfig`,
read by `distill.face.train_face`), the face teachers' names, where their labels are cached and
where the shared face arrays lie. No torch here: the command line reads these before anything
heavy loads."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

from edge.errors import ConfigError

#: The face teachers, by the names the command line takes (distill.face.TEACHERS builds them).
TEACHER_NAMES = ("fer", "facex")
#: Where the teachers' labels are cached unless --cache says otherwise: the checkout's
#: build/faces/cache, shared by `distill face-labels`, `distill evaluate-face` and
#: scripts/build_default_face.py (fer's labels of the shared arrays: about 3 minutes of a core).
TEACHER_CACHE = Path(__file__).resolve().parents[1] / "build" / "faces" / "cache"


@dataclass
class FaceTrainConfig:
    """A student trained on human labels (FER2013's train split, LFW-expressions' train people)
    and on the teachers' distributions together: loss = (1 - kd_weight) x class-weighted CE on the
    human label + kd_weight x T^2 KL(teacher_T || student_T). Class weights are n_c^-balance,
    normalised to mean 1 over the crops (balance 1: every class weighs the same in total).

    The defaults are the shipped face-expr's recipe (version 6; `affect-edge distill face-labels`
    and scripts/build_default_face.py train it), chosen on validation crops only. By 10-epoch
    runs, light augmentation scored 0.521 against camera augmentation's 0.510 and labels alone
    0.48. Versions 3 and 4 were this recipe with kd_weight 0.5 on `face_expr` (40,031 params)
    and `face_expr_res` (40,439; int8 TFLite 78,080 bytes, 28 of them per output channel of
    quantisation parameters while a depthwise channel holds 9 weights). Version 5 moved to
    `face_expr_plain` (seven full 3x3 convolutions, 16-24-24-32-32-48-44: 58,499 params, 8.81 M
    MACs; int8 TFLite 69,360 bytes): validation score 0.5927, against 0.5926 with identity
    shortcuts and 0.5896 for version 4. Version 6 is version 5 with kd_weight 0.3: 0.5994, against
    0.5921 for version 5's recipe with seed 1 (best epoch 32 of 40). README's face section has
    every run and its held-out figures."""

    shared: Path
    cache: Path
    teachers: tuple[str, ...] = ("fer",)
    weights: tuple[float, ...] | None = None
    temperature: float = 3.0
    kd_weight: float = 0.3
    balance: float = 0.5
    augment: str = "light"
    lfw: bool = True
    lfw_max: int = 4000  # LFW's train people give this many crops at most (a random draw)
    architecture: str = "face_expr_plain"
    arch_config: dict = field(default_factory=dict)
    epochs: int = 40
    batch_size: int = 128
    lr: float = 4e-3
    name: str = "face-expr"
    seed: int = 0
    log_adjust_grid: tuple[float, ...] = (-0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)


def recipe_defaults() -> dict:
    """FaceTrainConfig's defaults by field (the shipped recipe), for option defaults and help."""
    return {
        f.name: f.default_factory() if f.default is MISSING else f.default
        for f in fields(FaceTrainConfig)
        if f.name not in ("shared", "cache")
    }


def shared_face_arrays(shared: Path, names: tuple[str, ...]) -> list[Path]:
    """The shared face arrays `names` (stems of FACE_DATA) under `shared`/data/faces, each checked
    to exist (one line naming the missing file and --shared otherwise)."""
    faces = Path(shared) / "data" / "faces"
    paths = [faces / f"{name}.npz" for name in names]
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"{path} is missing: give --shared, the folder holding data/")
    return paths
