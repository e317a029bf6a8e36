"""Datasets on disk: the Parquet layout, the streaming writer, reading shards back, image
bytes, and safe file access."""
