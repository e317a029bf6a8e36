"""YAML from a dataset folder (`data.yaml`), loaded safely and bounded.

Only plain data (PyYAML's `SafeLoader`), with aliases counted as the nodes they repeat and nesting
bounded, so that a billion-laughs file or one nested thousands deep is an error naming its
line, never memory or a recursion crash.
"""

from __future__ import annotations

import reprlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsconv.errors import InputError
from dsconv.storage.files import (
    excerpt,
)

if TYPE_CHECKING:
    import yaml



MAX_YAML_NODES = 250_000  # each alias counted as the nodes it repeats; 10k names take 10k
MAX_YAML_DEPTH = 64
yaml_repr = reprlib.Repr()  # a value from a YAML file, quoted in an error: short whatever it is


class YamlLimit(Exception):
    """A YAML document over one of the limits; `place` is line:column."""

    def __init__(self, problem: str, place: str) -> None:
        super().__init__(problem)
        self.place = place


@lru_cache(maxsize=1)
def bounded_loader() -> type[yaml.SafeLoader]:
    """PyYAML's SafeLoader, refusing a document whose aliases expand past MAX_YAML_NODES
    nodes or that nests past MAX_YAML_DEPTH: `safe_load` shares an aliased list, but merge
    keys copy it and anything that walks the result (`str`, a name per entry) expands it.
    The counting is done while composing, in Python; with libyaml the events come from C
    (100k names: 1.4 s, against 7.9 s all in Python)."""
    import yaml
    from yaml.composer import Composer
    from yaml.constructor import SafeConstructor
    from yaml.resolver import Resolver

    base: type = yaml.SafeLoader
    if yaml.__with_libyaml__:
        from yaml._yaml import CParser

        class CEventLoader(Composer, CParser, SafeConstructor, Resolver):  # type: ignore[misc]
            def __init__(self, stream: str) -> None:
                CParser.__init__(self, stream)
                SafeConstructor.__init__(self)
                Resolver.__init__(self)
                Composer.__init__(self)

        base = CEventLoader

    class BoundedLoader(base):  # type: ignore[misc,valid-type]
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.nodes = 0
            self.depth = 0
            self.sizes: dict[str, int] = {}  # anchor → nodes under it, itself included

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent):
                self.grow(self.sizes.get(event.anchor or "", 1), event)
                return super().compose_node(parent, index)
            self.grow(1, event)
            start = self.nodes
            self.depth += 1
            if self.depth > MAX_YAML_DEPTH:
                raise YamlLimit(f"nested more than {MAX_YAML_DEPTH} levels deep",
                                 mark_place(event.start_mark))
            try:
                node = super().compose_node(parent, index)
            finally:
                self.depth -= 1
            anchor = getattr(event, "anchor", None)
            if anchor is not None:
                self.sizes[anchor] = self.nodes - start + 1
            return node

        def grow(self, count: int, event: Any) -> None:
            self.nodes += count
            if self.nodes > MAX_YAML_NODES:
                raise YamlLimit(f"more than {MAX_YAML_NODES:,} YAML nodes once aliases "
                                 "(*name) are expanded", mark_place(event.start_mark))

    return BoundedLoader


def mark_place(mark: Any) -> str:
    return f"{mark.line + 1}:{mark.column + 1}"


def load_yaml(file: Path, text: str) -> dict[str, Any]:
    import yaml  # here, not at the top: the VOC reader imports this module and needs no YAML

    loader = bounded_loader()(text)
    try:
        data = loader.get_single_data()
    except YamlLimit as exc:
        raise InputError(file, str(exc), exc.place) from None
    except yaml.YAMLError as exc:
        raise InputError(file, f"invalid YAML: {yaml_problem(exc)}",
                         yaml_place(exc, text)) from None
    except (ValueError, OverflowError) as exc:  # an int of 5,000 digits, a date that is not
        raise InputError(file, f"invalid YAML value: {excerpt(str(exc), 120)}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise InputError(file, "top level is not a mapping")
    return data


def yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's own text spans several lines; errors are printed on one."""
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
    problem = " ".join(str(problem).split())
    return problem if len(problem) <= 200 else problem[:200] + "…"


def yaml_place(exc: yaml.YAMLError, text: str) -> str | None:
    """line:col of the problem; a bad character (ReaderError) only knows its offset."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return mark_place(mark)
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        before = text[:position]
        return f"{before.count(chr(10)) + 1}:{position - before.rfind(chr(10))}"
    return None
