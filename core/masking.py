"""Masking of secret values in anything that may be logged or returned."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

MASK = "***"


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of every non-empty secret in ``text`` with ``***``.

    Longer secrets are replaced first so a secret that contains another is fully masked.
    """
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def mask_argv(argv: Sequence[str], secrets: Iterable[str]) -> list[str]:
    values = list(secrets)
    return [mask_text(arg, values) for arg in argv]
