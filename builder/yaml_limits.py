"""Reading README front matter as YAML within fixed bounds.

YAML aliases let a few hundred bytes name a value of hundreds of megabytes (``&a [x, x, …]``,
``&b [*a, *a, …]``, …): the parser shares one node, but whatever walks the value afterwards
(validation, an error message quoting it) expands it. So the composed node graph is measured
*before* anything is built from it, counting every alias as the value it stands for, and refused
past small budgets. A front matter within them costs a few milliseconds to read, whatever it holds.
Anchors and aliases themselves stay allowed: a few of them, expanding to a small value, are fine.
"""

from __future__ import annotations

import re
import reprlib
from dataclasses import dataclass
from typing import Any

import yaml

from core.errors import ConfigError

MAX_FRONT_MATTER_BYTES = 64 * 1024  # the YAML between the '---' lines; HF's are a few hundred bytes
MAX_VALUES = 5000  # scalars, lists and mappings, each alias counted as all it stands for
MAX_TEXT_TOTAL = 256 * 1024  # characters of all scalars, aliases expanded
MAX_DEPTH = 8  # levels of nested lists and mappings (the front matter itself is level 1)
MAX_TEXT = 1024  # characters in any one value (specific keys have lower limits)
MAX_KEY_TEXT = 100  # characters in any one key
MAX_ITEMS = 1000  # entries in any one list or mapping
QUOTE_MAX = 80  # characters of a value quoted in an error message

# The pure-Python loader: its error marks and messages are the ones users saw before (line of the
# problem, not of the end of the stream); front matter is at most 64 KiB, so its speed is no concern.
_Loader = yaml.SafeLoader


def quote(value: Any, limit: int = QUOTE_MAX) -> str:
    """``repr(value)``, cut to ``limit`` characters with "…": an error message never grows with the input."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = short.maxlong = limit
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = 6
    short.maxlevel = 3
    text = short.repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class _Measure:
    values: int
    chars: int
    height: int


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _children(node: yaml.Node) -> list[tuple[str, yaml.Node]]:
    """A node's children, each with the key it is under ('' for list items)."""
    if isinstance(node, yaml.SequenceNode):
        return [(f"[{i}]", item) for i, item in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        pairs: list[tuple[str, yaml.Node]] = []
        for key, value in node.value:
            label = _cut(key.value, 40) if isinstance(key, yaml.ScalarNode) else "?"
            pairs += [(f"{label} (key)", key), (label, value)]
        return pairs
    return []


def _where(node: yaml.Node, path: str, first_line: int) -> str:
    line = f"line {node.start_mark.line + first_line}" if node.start_mark is not None else "the front matter"
    return f"'{_cut(path, 120)}' ({line})" if path else line


def text_limit(path: str, limits: dict[str, int]) -> int:
    """How many characters the value at ``path`` may have: its key's own limit, else the general one."""
    return MAX_KEY_TEXT if path.endswith("(key)") else min(limits.get(path, MAX_TEXT), MAX_TEXT)


def _check_node(node: yaml.Node, path: str, first_line: int, limits: dict[str, int]) -> None:
    """Limits on one node on its own: the length of a text, the entries of a list or mapping."""
    if isinstance(node, yaml.ScalarNode):
        limit = text_limit(path, limits)
        if len(node.value) > limit:
            raise ConfigError(f"README.md front matter: the value at {_where(node, path, first_line)} has "
                              f"{len(node.value)} characters; at most {limit} are allowed")
    elif len(node.value) > MAX_ITEMS:
        kind = "list" if isinstance(node, yaml.SequenceNode) else "mapping"
        raise ConfigError(f"README.md front matter: the {kind} at {_where(node, path, first_line)} has "
                          f"{len(node.value)} entries; at most {MAX_ITEMS} are allowed")


def _finish(node: yaml.Node, sizes: dict[int, _Measure], first_line: int) -> _Measure:
    children = [sizes[id(child)] for _, child in _children(node)]
    own_chars = len(node.value) if isinstance(node, yaml.ScalarNode) else 0
    measure = _Measure(values=1 + sum(c.values for c in children), chars=own_chars + sum(c.chars for c in children),
                       height=(0 if isinstance(node, yaml.ScalarNode) else 1) + max((c.height for c in children), default=0))
    if measure.values > MAX_VALUES or measure.chars > MAX_TEXT_TOTAL:
        raise ConfigError(
            "README.md front matter is too large once its aliases (*name) are expanded: more than "
            f"{MAX_VALUES} values or {MAX_TEXT_TOTAL // 1024} KiB of text (at {_where(node, '', first_line)}); "
            "write the values out, or use fewer aliases"
        )
    if measure.height > MAX_DEPTH:
        raise ConfigError(f"README.md front matter nests lists and mappings more than {MAX_DEPTH} levels deep "
                          f"(at {_where(node, '', first_line)})")
    return measure


def check_graph(root: yaml.Node, first_line: int = 1, limits: dict[str, int] | None = None) -> None:
    """Refuse a composed document that is too large, too deep or self-referencing, counting each
    alias as the value it stands for. Shared nodes are measured once, so this is linear in the
    document's size however much its aliases would expand."""
    sizes: dict[int, _Measure] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, str, bool]] = [(root, "", False)]
    while stack:
        node, path, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            sizes[key] = _finish(node, sizes, first_line)
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise ConfigError(f"README.md front matter: the alias at {_where(node, path, first_line)} refers to "
                              "a value that contains it (a value cannot include itself)")
        _check_node(node, path, first_line, limits or {})
        on_path.add(key)
        stack.append((node, path, True))
        if len(on_path) > MAX_DEPTH + 1:
            raise ConfigError(f"README.md front matter nests lists and mappings more than {MAX_DEPTH} levels deep "
                              f"(at {_where(node, path, first_line)})")
        for label, child in _children(node):
            if id(child) not in sizes:
                stack.append((child, f"{path}.{label}" if path and not label.startswith("[") else path + label, False))


_KEY_LINE = re.compile(r"\s*([A-Za-z_][\w-]{0,99})\s*:")


def too_large(lines: list[str], first_line: int, limits: dict[str, int]) -> ConfigError:
    """The refusal of a front matter over :data:`MAX_FRONT_MATTER_BYTES`: it names the key of an
    overlong line when there is one (a 5 MB title is the usual cause), else the size limit."""
    for number, line in enumerate(lines, start=first_line):
        if len(line) > MAX_TEXT:
            match = _KEY_LINE.match(line)
            where = f"'{match.group(1)}' (line {number})" if match else f"line {number}"
            limit = text_limit(match.group(1), limits) if match else MAX_TEXT
            return ConfigError(f"README.md front matter: the value at {where} has more than {MAX_TEXT} characters; "
                               f"at most {limit} are allowed")
    return ConfigError(f"README.md front matter is larger than {MAX_FRONT_MATTER_BYTES // 1024} KiB, the most allowed "
                       "(the settings between the '---' lines)")


def load_front_matter(body: str, first_line: int, limits: dict[str, int] | None = None) -> Any:
    """The front matter's value, built only after its node graph passed :func:`check_graph`.
    ``limits``: the most characters some top-level keys may hold (others: :data:`MAX_TEXT`)."""
    if len(body.encode("utf-8", errors="replace")) > MAX_FRONT_MATTER_BYTES:
        raise too_large(body.splitlines(), first_line, limits or {})
    loader = _Loader(body)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError as exc:
            raise ConfigError(f"README.md front matter nests lists and mappings more than {MAX_DEPTH} levels deep") from exc
        if node is None:
            return None
        check_graph(node, first_line, limits)
        return loader.construct_document(node)
    finally:
        loader.dispose()
