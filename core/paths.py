"""Which disk paths nearpath accepts: the static rules and the admin's prefix allow-list.

A disk path (``source.path``, ``nodePaths[].path``, ``backing.local.directory``, the
StorageClass ``directory`` and ``devices``) reaches LIO's control string
(``fd_dev_name=<path>,fd_dev_size=...``), which the kernel splits on ``,`` and newlines, and
it names something on a node. Three places enforce the rules:

- static (here, in the models and as CEL in the generated CRD): absolute, at most
  :data:`MAX_PATH_LENGTH` characters, no control character, no ``,``, no ``.``/``..`` segment,
  no empty segment;
- the admin's allow-list (chart value ``security.allowedPathPrefixes``): a
  ValidatingAdmissionPolicy in the chart, the CSI controller and the target agent check
  :func:`under_prefixes`;
- the agent at apply time (the only place that sees the node): symlinks resolved, the
  result re-checked, mounted/held/root devices refused (``nearpath.target.confinement``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_PATH_LENGTH = 512
DEFAULT_LOCAL_DIRECTORY = "/var/lib/nearpath/volumes"
DEFAULT_ALLOWED_PREFIXES: tuple[str, ...] = ("/dev/disk/by-id/", "/dev/disk/by-path/", DEFAULT_LOCAL_DIRECTORY + "/")

# JSON-schema pattern (RE2 on the API server; no CEL cost): absolute, segments without control
# characters or ',', no empty, "." or ".." segment; a trailing "/" is allowed.
_CH = r"[^/\x00-\x1f\x7f,]"
_CH_NO_DOT = r"[^/.\x00-\x1f\x7f,]"
_SEGMENT = rf"({_CH_NO_DOT}{_CH}*|\.{_CH_NO_DOT}{_CH}*|\.\.{_CH}+)"
PATH_PATTERN = rf"^(/{_SEGMENT})+/?$"
_PATH_RE = re.compile(PATH_PATTERN)
_FORBIDDEN_CHAR_RE = re.compile(r"[\x00-\x1f\x7f,]")


def path_problem(value: str) -> str | None:
    """Why ``value`` is not an acceptable disk path, or None."""
    if len(value) > MAX_PATH_LENGTH:
        return f"must be at most {MAX_PATH_LENGTH} characters"
    if not value.startswith("/") or len(value) < 2:
        return "must be an absolute path"
    if _FORBIDDEN_CHAR_RE.search(value):
        return "must not contain ',' or control characters (LIO's control string splits on them)"
    if not _PATH_RE.match(value):
        return "must not contain '.', '..' or empty path segments"
    return None


def check_path(value: str) -> str:
    """Pydantic validator form of :func:`path_problem`."""
    problem = path_problem(value)
    if problem:
        raise ValueError(f"{problem}, not {value!r}"[:200])
    return value


def normalise_prefix(prefix: str) -> str:
    return prefix if prefix.endswith("/") else prefix + "/"


def under_prefixes(path: str, prefixes: Iterable[str]) -> bool:
    """Whether ``path`` is one of ``prefixes`` or inside one of them.

    A prefix is a directory or one exact path: ``/dev/disk/by-id/`` allows
    ``/dev/disk/by-id/x``, not ``/dev/disk/by-idx``; ``/dev/loop20`` allows exactly that
    device (and anything below it, were it a directory).
    """
    return any(path == p.rstrip("/") or path.startswith(normalise_prefix(p)) for p in prefixes)


def prefixes_text(prefixes: Iterable[str]) -> str:
    return ", ".join(normalise_prefix(p) for p in prefixes)
