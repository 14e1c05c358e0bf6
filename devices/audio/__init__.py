"""Audio sources: files streamed from disk (`AudioFileSource`) and live sound cards (`MicrophoneSource`)."""

from devices.audio.file import AudioFileSource, read_audio
from devices.audio.microphone import MicrophoneSource

__all__ = ["AudioFileSource", "MicrophoneSource", "read_audio"]
