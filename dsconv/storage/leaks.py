"""Image digests, and leakage: the same image bytes in more than one split.

Both the conversion (as samples stream by) and `dsconv validate` (over a written dataset)
look for leakage, so this lives below both.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from dsconv.schemas.report import Leak


def image_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class LeakFinder:
    """Images whose bytes occur in more than one split, found by digest as samples stream by.

    Remembers where each image was first seen under the first 16 bytes of its digest (a
    collision is as unlikely as a SHA-256 one here, and the hex digest would double the
    per-image cost); only digests seen in two splits keep their full hash and every file.
    """

    _first: dict[bytes, tuple[str, str]] = field(default_factory=dict)
    _leaks: dict[bytes, tuple[str, dict[str, list[str]]]] = field(default_factory=dict)

    def add(self, split: str, file: str, digest: str) -> None:
        key = bytes.fromhex(digest[:32])
        first = self._first.setdefault(key, (split, file))
        leak = self._leaks.get(key)
        if leak is None:
            if first[0] == split:
                return
            leak = self._leaks[key] = (digest, {first[0]: [first[1]]})
        files = leak[1].setdefault(split, [])
        if file not in files and (split, file) != first:
            files.append(file)

    def leaks(self) -> list[Leak]:
        return [Leak(hash=digest, splits=list(found),
                     files=[f"{split}/{name}" for split, names in found.items() for name in names])
                for digest, found in self._leaks.values()]


def leak_warning(leaks: list[Leak]) -> str:
    files = "; ".join(", ".join(leak.files) for leak in leaks[:3])
    more = f" and {len(leaks) - 3} more" if len(leaks) > 3 else ""
    return (f"{len(leaks)} image(s) occur in more than one split (leakage): {files}{more}; "
            "see 'leakage' in conversion_report.json")
