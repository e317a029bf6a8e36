"""A process-wide memory setting for long conversions, applied by the CLI."""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt() parameter
MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value


def keep_large_blocks_mapped() -> bool:
    """Stop glibc from raising its mmap threshold as large blocks are freed.

    glibc gives blocks over the threshold their own mappings, returned to the system when
    freed, and raises the threshold to the largest such block freed (up to 32 MB). Parsing a
    large annotation file frees one (the JSON text: 17 MB for 20,000 images); from then on each
    row group's 6 MB buffers come from the heap, which fragments and never shrinks, so peak
    memory grew with the dataset (+6 MB at 20,000 images; `benchmarks/convert.py --scale`).
    Setting the threshold explicitly keeps it where it starts. Returns whether it was set:
    only glibc has this setting.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):  # musl, or no C library by that name
        return False
