"""Readers: one module a source format (with its options), the registry that finds them, and
the reader base they share."""
