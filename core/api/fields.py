"""The API's building blocks: the model base, CEL rule entries and the constrained strings.

Each constrained type carries both checks, the pydantic validator and the schema keyword (or
CEL rule) the CRD generator writes, so the API server and the code reject the same values.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

from nearpath.core import identifiers as ids
from nearpath.core import paths
from nearpath.core.quantity import QUANTITY_PATTERN, is_quantity

MAX_QUANTITY_LENGTH = 32


def cel(rule: str, message: str, field_path: str | None = None, reason: str | None = None) -> JsonDict:
    """One ``x-kubernetes-validations`` entry."""
    entry: JsonDict = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    if reason:
        entry["reason"] = reason
    return entry


class ApiModel(BaseModel):
    """Base of every API model: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON form, as stored in Kubernetes (aliases, no unset optionals)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def _check_quantity(value: str) -> str:
    if not is_quantity(value):
        raise ValueError(f"must be a quantity such as 10Gi, 500Mi or a number of bytes, not {value!r}")
    return value


# A quantity string ("10Gi"). Not int-or-string: the CEL size rule needs a bounded string
# (an unbounded one blows the API server's CEL cost budget), and "10Gi" is what people write.
Quantity = Annotated[
    str,
    Field(max_length=MAX_QUANTITY_LENGTH, json_schema_extra={"pattern": QUANTITY_PATTERN}),
    AfterValidator(_check_quantity),
]


def _check_initiator(value: str) -> str:
    if not ids.is_initiator_name(value):
        raise ValueError(
            f"{value!r} is not an iSCSI initiator name: expected iqn.YYYY-MM.reversed.domain[:id], "
            "eui.<16 hex digits> or naa.<16 or 32 hex digits>"
        )
    return value


InitiatorName = Annotated[
    str,
    AfterValidator(_check_initiator),
    Field(max_length=ids.MAX_IQN_LENGTH, json_schema_extra={"pattern": ids.INITIATOR_PATTERN}),
]
DnsLabel = Annotated[str, Field(min_length=1, max_length=63, pattern=ids.DNS_LABEL_PATTERN)]
NodeName = Annotated[str, Field(min_length=1, max_length=253, pattern=ids.DNS_SUBDOMAIN_PATTERN)]
# A path on a node that reaches LIO (nearpath.core.paths): the static rules. The admin's
# prefix allow-list is checked by the chart's admission policy, the CSI driver and the agent.
DiskPath = Annotated[
    str,
    AfterValidator(paths.check_path),
    Field(
        min_length=2,
        max_length=paths.MAX_PATH_LENGTH,
        json_schema_extra={"pattern": paths.PATH_PATTERN},
    ),
]
