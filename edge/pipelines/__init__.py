"""Pipelines per modality: frames in, `AffectEvent`s out. Each owns a front end and an engine."""
