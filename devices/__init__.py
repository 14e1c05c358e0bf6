"""Device profiles and sensor sources (audio, camera, EEG). Each source's library loads lazily."""
