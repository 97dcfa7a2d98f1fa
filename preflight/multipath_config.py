"""A reader of dm-multipath's configuration syntax (the output of ``multipath -t``).

``multipath -t`` prints the configuration multipathd uses: built-in defaults and hardware
table merged with /etc/multipath.conf and its config_dir drop-ins. Sections nest with braces;
settings are ``key value`` lines; values may be double-quoted; ``#`` starts a comment.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field


@dataclass
class Section:
    name: str
    settings: list[tuple[str, str]] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)

    def get(self, key: str) -> str | None:
        """The last value of ``key`` (later settings win, as in multipath)."""
        values = [v for k, v in self.settings if k == key]
        return values[-1] if values else None

    def values(self, key: str) -> list[str]:
        return [v for k, v in self.settings if k == key]

    def sections(self, name: str) -> list[Section]:
        return [c for c in self.children if c.name == name]

    def section(self, name: str) -> Section:
        """The merged top-level section ``name`` (empty when absent)."""
        merged = Section(name)
        for child in self.sections(name):
            merged.settings += child.settings
            merged.children += child.children
        return merged


def _tokens(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return line.split("#", 1)[0].split()


def parse(text: str) -> Section:
    root = Section("")
    stack = [root]
    for raw in text.splitlines():
        tokens = _tokens(raw)
        if not tokens:
            continue
        if tokens == ["}"]:
            if len(stack) > 1:
                stack.pop()
            continue
        if tokens[-1] == "{":
            child = Section(tokens[0])
            stack[-1].children.append(child)
            stack.append(child)
            continue
        stack[-1].settings.append((tokens[0], " ".join(tokens[1:])))
    return root


def matches(pattern: str, value: str) -> bool:
    """multipath's regex match: ``!`` in front negates; an invalid pattern matches nothing."""
    negate = pattern.startswith("!")
    try:
        found = re.search(pattern[1:] if negate else pattern, value) is not None
    except re.error:
        return False
    return found != negate


def device_matches(device: Section, vendor: str, product: str) -> bool:
    wanted_vendor = device.get("vendor")
    wanted_product = device.get("product")
    if wanted_vendor is None and wanted_product is None:
        return False
    return (wanted_vendor is None or matches(wanted_vendor, vendor)) and (
        wanted_product is None or matches(wanted_product, product)
    )
