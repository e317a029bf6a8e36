"""A process-wide memory setting for long conversions, applied by the CLI."""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt() parameters
MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value
TRIM_THRESHOLD = 32 * 1024 * 1024


def keep_large_blocks_mapped() -> bool:
    """Stop glibc from raising its mmap threshold as large blocks are freed.

    glibc gives blocks over the threshold their own mappings, returned to the system when
    freed, and raises the threshold to the largest such block freed (up to 32 MB). Parsing a
    large annotation file frees one (the JSON text: 17 MB for 20,000 images); from then on
    large buffers came from the heap, which fragments and never shrinks, so peak memory grew
    with the dataset (`benchmarks/convert.py --scale`). Setting the thresholds fixes them: the
    mmap one where glibc starts, the trim one about where glibc's own raise would take it, so
    that freed heap is kept for the next image read instead of being returned and faulted in
    again for every image. Returns whether they were set: only glibc has these settings.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                    and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError):  # musl, or no C library by that name
        return False
