"""Tiny checkpoints and datasets for tests and the offline demo."""
