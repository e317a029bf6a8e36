"""`--classes`: keep some classes, rename or merge them, for every reader at once.

The map wraps the reader, so the tasks and the ledger only ever see the kept classes under
their new names, and the vocabulary becomes the kept classes in the order given. Every object
of a class left out is recorded as dropped with reason `class_filtered`; an image left with
no objects is kept (it is a true "none of these" example).

Forms: `dime,penny` (keep), `dime=10c,penny=1c` (keep and rename; two classes renamed to one
name merge), or a YAML file: a mapping old → new (an empty value keeps the name) or a list.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import yaml

from dsconv.converters.base import AddressableReader, DetectionSample, Ledger, Reader, Vocabulary
from dsconv.errors import DsconvError, InputError

REASON = "class_filtered"


@dataclass(frozen=True)
class ClassMap:
    """Source class → output class, in the order the output vocabulary takes."""

    mapping: dict[str, str]

    @classmethod
    def of(cls, spec: Mapping[str, str] | Sequence[str] | str | ClassMap) -> ClassMap:
        """From the API: `{"dime": "10c"}` (keep and rename), `["dime", "penny"]` (keep), or
        the CLI's string forms (`parse`)."""
        if isinstance(spec, ClassMap):
            return spec
        if isinstance(spec, str):
            return cls.parse(spec)
        if isinstance(spec, Mapping):
            return cls._from_pairs([(str(k), str(v or k)) for k, v in spec.items()], "classes")
        return cls._from_pairs([(str(name), str(name)) for name in spec], "classes")

    @classmethod
    def parse(cls, spec: str) -> ClassMap:
        """From `--classes`: a YAML file path, or `old[=new]` items separated by commas."""
        path = Path(spec)
        if path.suffix.lower() in (".yaml", ".yml") or path.is_file():
            return cls._from_yaml(path)
        pairs = []
        for item in spec.split(","):
            old, sep, new = (part.strip() for part in item.partition("="))
            if not old or (sep and not new):
                raise DsconvError(f"--classes {spec!r}: {item.strip()!r} is not name or old=new")
            pairs.append((old, new or old))
        return cls._from_pairs(pairs, f"--classes {spec!r}")

    @classmethod
    def _from_yaml(cls, path: Path) -> ClassMap:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(path, "no such file") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{mark.line + 1}:{mark.column + 1}" if mark else None
            problem = getattr(exc, "problem", exc)
            raise InputError(path, f"invalid YAML ({problem})", where) from None
        if isinstance(data, list):
            pairs = [(_name(path, item), _name(path, item)) for item in data]
        elif isinstance(data, dict):
            pairs = [(_name(path, k), _name(path, k if v is None else v)) for k, v in data.items()]
        else:
            raise InputError(path, "expected a mapping old: new, or a list of class names")
        return cls._from_pairs(pairs, str(path))

    @classmethod
    def _from_pairs(cls, pairs: list[tuple[str, str]], where: str) -> ClassMap:
        mapping: dict[str, str] = {}
        for old, new in pairs:
            if old in mapping:
                raise DsconvError(f"{where}: class {old!r} is given twice")
            mapping[old] = new
        if not mapping:
            raise DsconvError(f"{where}: no classes given")
        return cls(mapping)

    def vocabulary(self, source: Vocabulary) -> Vocabulary:
        """The output vocabulary; an error names any class the source does not have."""
        unknown = [c for c in self.mapping if c not in source.classes]
        if unknown:
            raise DsconvError(f"--classes: {', '.join(map(repr, unknown))} not in the source's "
                              f"classes ({', '.join(source.classes)})")
        return Vocabulary(list(dict.fromkeys(self.mapping.values())), source.noun)


def _name(path: Path, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InputError(path, f"class name {value!r} is not text (quote it)")
    return str(value)


class ClassFilter:
    """A reader that yields another reader's samples with the class map applied."""

    def __init__(self, reader: Reader, ledger: Ledger, classes: ClassMap) -> None:
        self.reader = reader
        self.ledger = ledger
        self.classes = classes
        self.name = reader.name
        self.description = reader.description
        self._vocabulary = classes.vocabulary(reader.vocabulary())

    def __getattr__(self, attr: str) -> Any:
        """Anything else a reader offers (e.g. `has_splits`) comes from the wrapped one."""
        if attr == "reader":
            raise AttributeError(attr)
        return getattr(self.reader, attr)

    def vocabulary(self) -> Vocabulary:
        return self._vocabulary

    def splits(self) -> list[str]:
        return self.reader.splits()

    def count(self, split: str) -> int | None:
        return self.reader.count(split)

    def samples(self, split: str) -> Iterator[DetectionSample]:
        for sample in self.reader.samples(split):
            yield self._filtered(sample)

    def read(self, split: str, item: Any) -> DetectionSample | None:
        """One index entry of the wrapped reader (see `IndexedReader.read`), filtered."""
        sample = cast(AddressableReader, self.reader).read(split, item)
        return None if sample is None else self._filtered(sample)

    def _filtered(self, sample: DetectionSample) -> DetectionSample:
        mapping = self.classes.mapping
        kept = []
        for obj in sample.objects:
            if obj.category in mapping:
                kept.append(replace(obj, category=mapping[obj.category]))
            else:
                self.ledger.drop_object(sample.split, sample.file_name, REASON,
                                        detail=f"class {obj.category!r}")
        sample.objects = kept
        return sample
