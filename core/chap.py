"""CHAP credentials and the one parser of the Secret that holds them.

The same Secret keys serve the target agent (it writes the credentials into LIO's ACLs) and
the CSI node plugin (it gets the Secret's data as node-stage secrets and writes them into the
initiator's node records): ``username`` and ``password``, plus ``mutualUsername`` and
``mutualPassword`` for mutual CHAP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from nearpath.core.errors import InvalidArgument

USERNAME_KEY = "username"
PASSWORD_KEY = "password"  # noqa: S105 (the Secret key, not a password)
MUTUAL_USERNAME_KEY = "mutualUsername"
MUTUAL_PASSWORD_KEY = "mutualPassword"  # noqa: S105 (the Secret key, not a password)
PASSWORD_KEYS = (PASSWORD_KEY, MUTUAL_PASSWORD_KEY)
MAX_USERNAME_LENGTH = 255


class InvalidChapSecret(InvalidArgument):
    """The Secret is missing or does not hold usable CHAP credentials; the message says why."""


@dataclass(frozen=True)
class ChapCredentials:
    username: str = ""
    password: str = field(default="", repr=False)
    mutual_username: str = ""
    mutual_password: str = field(default="", repr=False)

    @property
    def enabled(self) -> bool:
        return bool(self.username)

    @property
    def mutual(self) -> bool:
        return bool(self.mutual_username)

    def secrets(self) -> list[str]:
        """The values to mask wherever the credentials might show up."""
        return [s for s in (self.password, self.mutual_password) if s]


NO_CHAP = ChapCredentials()


def chap_from_secret(data: Mapping[str, str] | None, *, mutual: bool, source: str) -> ChapCredentials:
    """Validated credentials from a Secret's decoded data (``source`` names it in errors)."""
    if data is None:
        raise InvalidChapSecret(f"CHAP {source} not found")
    creds = ChapCredentials(
        data.get(USERNAME_KEY, ""),
        data.get(PASSWORD_KEY, ""),
        data.get(MUTUAL_USERNAME_KEY, "") if mutual else "",
        data.get(MUTUAL_PASSWORD_KEY, "") if mutual else "",
    )
    required = [(USERNAME_KEY, creds.username), (PASSWORD_KEY, creds.password)]
    if mutual:
        required += [(MUTUAL_USERNAME_KEY, creds.mutual_username), (MUTUAL_PASSWORD_KEY, creds.mutual_password)]
    missing = [key for key, value in required if not value]
    if missing:
        raise InvalidChapSecret(f"CHAP {source} lacks {', '.join(missing)}")
    for key, value in ((USERNAME_KEY, creds.username), (MUTUAL_USERNAME_KEY, creds.mutual_username)):
        if any(c.isspace() for c in value) or len(value) > MAX_USERNAME_LENGTH:
            raise InvalidChapSecret(f"CHAP {source}: {key} must be at most 255 characters without spaces")
    if mutual and creds.mutual_password == creds.password:
        raise InvalidChapSecret(f"CHAP {source}: {MUTUAL_PASSWORD_KEY} must differ from {PASSWORD_KEY}")
    return creds
