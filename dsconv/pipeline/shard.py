"""Reading a split in order, whole or as one share of a sharded conversion.

`--num-shards n --shard-index i` makes a run convert only the index entries at positions
i, i+n, i+2n, … of each split, in reader order, so that n machines started by any scheduler
(a Slurm array, a Kubernetes indexed job, Ray tasks) each convert a share of one dataset
without talking to each other; `dsconv merge` joins their outputs (the parts).

Every sample, drop and warning gets a key: (position of its split in the reader, position of
its entry in the split's index). Keys say where in one whole run each record would be, which
is how a merge puts the parts back in that run's order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dsconv.converters.base import Key, Ledger
from dsconv.errors import DsconvError


@dataclass(frozen=True)
class Share:
    """Part `index` of `count`: the index entries whose position modulo `count` is `index`."""

    index: int = 0
    count: int = 1

    def positions(self, total: int) -> range:
        return range(self.index, total, self.count)


WHOLE = Share()


def parse_share(num_shards: int | None, shard_index: int | None) -> Share | None:
    """`--num-shards`/`--shard-index` → the share, or None for an ordinary (whole) run."""
    if num_shards is None and shard_index is None:
        return None
    if num_shards is None or shard_index is None:
        raise DsconvError("--num-shards and --shard-index go together (e.g. --num-shards 4 "
                          "--shard-index 0 … 3)")
    if num_shards < 1:
        raise DsconvError(f"--num-shards {num_shards}: give 1 or more")
    if not 0 <= shard_index < num_shards:
        raise DsconvError(f"--shard-index {shard_index}: must be 0 to {num_shards - 1} "
                          f"for --num-shards {num_shards}")
    return Share(shard_index, num_shards)


def addressable(reader: Any) -> bool:
    """Whether the reader indexes its entries up front and reads one on request
    (`AddressableReader`): only such a reader can skip the other parts' images."""
    return callable(getattr(reader, "items", None)) and callable(getattr(reader, "read", None))


def check_shardable(reader: Any) -> None:
    if not addressable(reader):
        raise DsconvError(f"--num-shards: the {reader.name} reader streams its source rather "
                          "than indexing it, so a part cannot skip the others' images")


def read_split(
    reader: Any, split: str, position: int, ledger: Ledger, share: Share = WHOLE
) -> tuple[Iterator[tuple[Key, Any]], int | None]:
    """The share's samples of one split with their keys, and how many entries that is (for a
    progress bar). The ledger is told which entry is being read, so each drop and warning is
    keyed where it was found."""
    if not addressable(reader):
        return _pulls(reader, split, position, ledger), reader.count(split)
    items = reader.items(split)
    positions = share.positions(len(items))
    return _entries(reader, split, position, items, positions, ledger), len(positions)


def _entries(reader: Any, split: str, position: int, items: Any, positions: range,
             ledger: Ledger) -> Iterator[tuple[Key, Any]]:
    for i in positions:
        key = (position, i)
        ledger.at(key)
        sample = reader.read(split, items[i])
        if sample is not None:
            yield key, sample


def _pulls(reader: Any, split: str, position: int, ledger: Ledger
           ) -> Iterator[tuple[Key, Any]]:
    """A streaming reader's samples, keyed by how many came before: what was dropped on the
    way to a sample shares its key."""
    samples = iter(reader.samples(split))
    for n in range(1 << 62):
        key = (position, n)
        ledger.at(key)
        sample = next(samples, None)
        if sample is None:
            return
        yield key, sample

