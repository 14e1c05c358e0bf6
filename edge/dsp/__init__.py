"""The compiled DSP front end: the same code computes training features and device features.

Speech: `StreamingLogMel` / `log_mel`. EEG: `SosFilterBank`, `BandDifferentialEntropy` (a
comparator in `bench/dsp.py`). Both: `Resampler` / `resample`. Kernels are Cython (`_*.pyx`);
the modules here check inputs and give clear errors.
"""

from edge.dsp.designs import EEG_BANDS, stored_sos
from edge.dsp.entropy import BandDifferentialEntropy
from edge.dsp.filters import SosFilterBank
from edge.dsp.logmel import LogMelConfig, StreamingLogMel, log_mel
from edge.dsp.mel import mel_filterbank
from edge.dsp.resample import Resampler, resample

__all__ = [
    "EEG_BANDS",
    "BandDifferentialEntropy",
    "LogMelConfig",
    "Resampler",
    "SosFilterBank",
    "StreamingLogMel",
    "log_mel",
    "mel_filterbank",
    "resample",
    "stored_sos",
]
