"""Audio sources: files now; live sound cards (sounddevice) come with the speech pipeline."""

from devices.audio.wav import WavAudio, read_wav

__all__ = ["WavAudio", "read_wav"]
