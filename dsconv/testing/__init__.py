"""Tiny, randomly initialised checkpoints and datasets for tests and the offline demo.

They load through the same `from_pretrained` paths as real checkpoints, so a test or
`make demo` runs the real code without the network; they learn nothing useful. Built by
`dsconv sample model FAMILY DIR`. Importing these modules needs the `train` extra.
"""
