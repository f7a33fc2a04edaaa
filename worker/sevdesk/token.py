"""A tenant's sevDesk API token, kept apart from the HTTP client: storing, sealing and checking a
token need no network stack."""

from __future__ import annotations


class ApiToken:
    """A tenant's sevDesk API token. Its repr and str never show the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        value = value.strip()
        if not value:
            raise ValueError("the API token is empty")
        if any(ch.isspace() or not ch.isprintable() for ch in value):
            raise ValueError("the API token contains whitespace or control characters")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "ApiToken('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiToken) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
