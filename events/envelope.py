"""The envelope every event travels in, inbound and outbound."""

from __future__ import annotations

import re
from typing import Annotated, Any, Generic, Self, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator
from pydantic_core import PydanticCustomError

from .types import AwareDatetime, TenantId, Version, utc_now

__all__ = ["MAX_EVENT_TYPE_LENGTH", "DataT", "Envelope", "EventType", "envelope_type"]

DataT = TypeVar("DataT", bound=BaseModel)

MAX_EVENT_TYPE_LENGTH = 255  # the longest AMQP routing key, which the event type is used as

# Any routing-key-sized string is a well-formed event type; whether sevsync handles it is a
# separate question (answered by the registry), so that an unknown type is reported as such.
EventType = Annotated[str, Field(min_length=1, max_length=MAX_EVENT_TYPE_LENGTH)]

_CANONICAL_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


class Envelope(BaseModel, Generic[DataT]):
    """One event: who it is for, what happened, and when, around a typed `data` payload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID = Field(
        description="The idempotency key; also the AMQP message_id.",
        json_schema_extra={"pattern": f"^{_CANONICAL_UUID.pattern}$"},
    )
    event_type: EventType = Field(description="Also the routing key.")
    tenant_id: TenantId
    occurred_at: AwareDatetime
    version: Version = Field(description="Grows with every change of the entity in the CRM.")
    # SerializeAsAny: an Envelope[BaseModel] (or an unparametrized one) must still dump the
    # payload's own fields, not those of the declared base class (which has none).
    data: SerializeAsAny[DataT]

    @field_validator("event_id", mode="before")
    @classmethod
    def _canonical_uuid(cls, value: Any) -> Any:
        # Only the hyphenated form: event_id doubles as message_id and dead-letter key, and
        # "{...}", "urn:uuid:" or bare-hex spellings would make one event look like several.
        if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value) is None:
            raise PydanticCustomError("uuid", 'must be a UUID like "0b6f0c7e-6f1a-4c77-9a63-6d2f3c1f5d10"')
        return value

    @classmethod
    def new(
        cls,
        event_type: str,
        tenant_id: str,
        version: int,
        data: DataT,
        event_id: UUID | None = None,
    ) -> Self:
        """An envelope for an event sevsync emits now: a fresh `event_id` unless one is given."""
        return cls(
            event_id=event_id if event_id is not None else uuid4(),
            event_type=event_type,
            tenant_id=tenant_id,
            occurred_at=utc_now(),
            version=version,
            data=data,
        )

    def to_json_bytes(self) -> bytes:
        """The compact UTF-8 JSON body this event is published as."""
        # The serializer's own bytes: what `model_dump_json()` decodes to text, without the round trip.
        return self.__pydantic_serializer__.to_json(self)


# An envelope for any payload, held here for good: pydantic caches parametrized classes only weakly,
# so writing `Envelope[BaseModel]` at each use rebuilt the class whenever the cache had dropped it
# (a third of a millisecond, on the path of every outbound message).
ANY_ENVELOPE: type[Envelope[BaseModel]] = Envelope[BaseModel]


def envelope_type(model: type[DataT]) -> type[Envelope[DataT]]:
    """`Envelope[model]` for a model class held in a variable (pydantic caches the class)."""
    # mypy cannot subscript with a variable; pydantic can, and returns the cached subclass.
    return Envelope[model]  # type: ignore[valid-type]
