"""Untrusted text (class names, paths, commands, questions) put into Markdown that the Hub
renders with HTML: escaped so that it shows as written and never becomes markup or a link.
"""

from __future__ import annotations

import ast
import re


def fenced(text: str, language: str) -> list[str]:
    """A code block whose fence is longer than any backtick run inside the text."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", text, fence]


_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "`": "&#96;", "[": "&#91;", "]": "&#93;",
            "*": "&#42;", "\\": "&#92;", "|": "\\|"}
_ESCAPE_RE = re.compile("|".join(map(re.escape, _ESCAPES)))
_CODE_SPAN_RE = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.DOTALL)


def md_text(text: str) -> str:
    """Untrusted text as one line of Markdown that shows it as written: HTML, code, link,
    emphasis and table syntax escaped (as entities, which the Hub shows as the characters)."""
    return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group()], " ".join(str(text).split()))


def md_code(text: str) -> str:
    """Untrusted text as an inline code span on one line (no markup is read inside one); a
    backtick, which would end the span early, becomes a quote."""
    return "`" + " ".join(str(text).split()).replace("`", "'") + "`"


def no_html(paragraph: str) -> str:
    """A paragraph of Markdown whose raw HTML is shown as text: `<` outside code spans
    becomes `&lt;`. Idempotent, so a card regenerated from itself stays the same."""
    out, start = [], 0
    for match in _CODE_SPAN_RE.finditer(paragraph):
        out += [paragraph[start:match.start()].replace("<", "&lt;"), match.group()]
        start = match.end()
    out.append(paragraph[start:].replace("<", "&lt;"))
    return "".join(out)


def parenthesised(text: str) -> str:
    """`_text` that also escapes parentheses, for text the card's parser reads between them."""
    return md_text(text).replace("(", "&#40;").replace(")", "&#41;")


def python_literal(text: str) -> object:
    """A Python string literal's value (what `python_string` wrote), or None."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def python_string(text: str) -> str:
    """A double-quoted Python string literal (what the Load example and its parser use)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
