"""Field types shared by every event payload.

Each type is an `Annotated` alias carrying a small rule object that gives pydantic both the
validator and the JSON Schema, so the published schema and the runtime check cannot drift apart.
Error messages never repeat the offending value (event bodies may hold personal data), except
where the value is a short code such as a country.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Final

from pydantic import Field, GetCoreSchemaHandler
from pydantic import GetJsonSchemaHandler as _JsonHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from .countries import COUNTRY_CODES

__all__ = [
    "MAX_VERSION",
    "SUPPORTED_CURRENCIES",
    "AwareDatetime",
    "CountryCode",
    "CurrencyCode",
    "DecimalString",
    "Email",
    "EntityId",
    "IsoDate",
    "Money",
    "Name",
    "NonNegativeMoney",
    "OptionalText",
    "PositiveMoney",
    "PositiveQuantity",
    "ProductTaxRate",
    "Quantity",
    "Rate",
    "SevdeskId",
    "TenantId",
    "Version",
    "is_supported_currency",
    "utc_now",
]


def _fail(kind: str, message: str, /, **context: Any) -> PydanticCustomError:
    # A custom error keeps the message exactly as written (a ValueError would get "Value error, ").
    return PydanticCustomError(kind, message, context or None)


def _type_word(value: Any) -> str:
    """How a wrong JSON value is named in messages, without showing the value itself."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# --- decimals -------------------------------------------------------------------------------------

# Plain decimal notation only: what a CRM gets from printing a decimal type. Exponents, "+", spaces,
# thousands separators and commas are refused rather than guessed at.
_DECIMAL_SHAPE: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


@dataclass(frozen=True, slots=True)
class DecimalString:
    """Rule for a decimal carried as a JSON string (money, quantities, rates).

    A JSON number is refused because binary floats cannot hold cents exactly, and a CRM sending
    numbers would otherwise work by accident until the first 0.1 + 0.2.
    """

    example: str
    places: int
    int_digits: int
    signed: bool = False
    positive: bool = False
    maximum: Decimal | None = None
    allowed: tuple[Decimal, ...] | None = None
    # Only needed where the bounds cannot be derived (maximum, allowed values).
    pattern_override: str | None = None

    @property
    def pattern(self) -> str:
        if self.pattern_override is not None:
            return self.pattern_override
        sign = "-?" if self.signed else ""
        not_zero = r"(?!0(?:\.0+)?$)" if self.positive else ""
        integer = rf"(?:0|[1-9][0-9]{{0,{self.int_digits - 1}}})"
        fraction = rf"(?:\.[0-9]{{1,{self.places}}})?" if self.places else ""
        return f"^{sign}{not_zero}{integer}{fraction}$"

    def describe(self) -> str:
        parts = [f"Decimal number as a JSON string, e.g. {self.example!r}"]
        parts.append(f"at most {self.places} decimal places" if self.places else "no decimal places")
        if self.allowed is not None:
            parts.append("one of " + ", ".join(str(v) for v in self.allowed))
        elif self.positive:
            parts.append("greater than 0")
        elif not self.signed:
            parts.append("not negative")
        if self.maximum is not None and self.allowed is None:
            parts.append(f"at most {self.maximum}")
        return "; ".join(parts) + "."

    def validate(self, value: Any) -> Decimal:
        if isinstance(value, Decimal):
            # Python callers (the worker building outbound events) may pass Decimals; they go
            # through the same checks as text so that what we emit always parses back.
            if not value.is_finite():
                raise _fail("decimal_string", "must be a finite decimal")
            if value.is_zero():
                value = value.copy_abs()
            text = format(value, "f")
        elif isinstance(value, str):
            text = value
        else:
            raise _fail(
                "decimal_string",
                'must be a decimal string like "{example}", not {got}',
                example=self.example,
                got=_type_word(value),
            )
        return self._check_text(text)

    def _check_text(self, text: str) -> Decimal:
        if not _DECIMAL_SHAPE.fullmatch(text):
            raise _fail(
                "decimal_string",
                'must be a decimal string like "{example}" '
                '(digits with an optional "-" and "."; no exponent, spaces or commas)',
                example=self.example,
            )
        negative = text.startswith("-")
        integer, _, fraction = text.lstrip("-").partition(".")
        if len(integer) > 1 and integer.startswith("0"):
            raise _fail("decimal_leading_zero", "must not have leading zeros")
        if len(fraction) > self.places:
            raise _fail(
                "decimal_places",
                "has {got} decimal places, at most {places} allowed",
                got=len(fraction),
                places=self.places,
            )
        if len(integer) > self.int_digits:
            raise _fail(
                "decimal_too_large",
                "is too large: at most {digits} digits before the decimal point",
                digits=self.int_digits,
            )
        number = Decimal(text)
        if negative and not self.signed:
            raise _fail("decimal_negative", "must not be negative")
        if number.is_zero():
            number = number.copy_abs()  # "-0.00" is just zero
        if self.allowed is not None:
            if number not in self.allowed:
                raise _fail(
                    "decimal_not_allowed",
                    "must be one of {allowed}",
                    allowed=", ".join(str(v) for v in self.allowed),
                )
        elif self.positive and number <= 0:
            raise _fail("decimal_not_positive", "must be greater than 0")
        if self.maximum is not None and number > self.maximum:
            raise _fail("decimal_too_large", "must be at most {maximum}", maximum=str(self.maximum))
        return number

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                _decimal_to_json, when_used="json"
            ),
        )

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: _JsonHandler) -> JsonSchemaValue:
        return {
            "type": "string",
            "pattern": self.pattern,
            "examples": [self.example],
            "description": self.describe(),
        }


def _decimal_to_json(value: Decimal) -> str:
    # "f" never produces an exponent, so the output matches the pattern it was validated against.
    return format(value, "f")


_MONEY_DIGITS: Final = 12  # below a trillion: far above any invoice, far below overflow anywhere
_QUANTITY_DIGITS: Final = 9

Money = Annotated[Decimal, DecimalString(example="49.90", places=2, int_digits=_MONEY_DIGITS, signed=True)]
"""An amount in the document currency, may be negative (e.g. a credit line on a CRM invoice)."""

NonNegativeMoney = Annotated[Decimal, DecimalString(example="49.90", places=2, int_digits=_MONEY_DIGITS)]
PositiveMoney = Annotated[
    Decimal, DecimalString(example="49.90", places=2, int_digits=_MONEY_DIGITS, positive=True)
]
Quantity = Annotated[Decimal, DecimalString(example="2.5", places=4, int_digits=_QUANTITY_DIGITS)]
PositiveQuantity = Annotated[
    Decimal, DecimalString(example="2.5", places=4, int_digits=_QUANTITY_DIGITS, positive=True)
]
Rate = Annotated[
    Decimal,
    DecimalString(
        example="19",
        places=4,
        int_digits=3,
        maximum=Decimal(100),
        pattern_override=r"^(?:100(?:\.0{1,4})?|(?:0|[1-9][0-9]?)(?:\.[0-9]{1,4})?)$",
    ),
]
"""A percentage from 0 to 100 (tax rates, discounts)."""

ProductTaxRate = Annotated[
    Decimal,
    DecimalString(
        example="19",
        places=4,
        int_digits=3,
        allowed=(Decimal(0), Decimal(7), Decimal(19)),
        pattern_override=r"^(?:0|7|19)(?:\.0{1,4})?$",
    ),
]
"""The tax rates sevDesk accepts on a Part."""


# --- strings --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _PatternString:
    """A string that must match `pattern` in full; `message` explains the rule without the value."""

    pattern: str
    message: str
    kind: str
    description: str
    examples: tuple[str, ...] = ()

    def validate(self, value: Any) -> str:
        if not isinstance(value, str):
            raise _fail(self.kind, "{message}, not {got}", message=self.message, got=_type_word(value))
        if re.fullmatch(self.pattern, value) is None:
            raise _fail(self.kind, self.message)
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(self.validate)

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: _JsonHandler) -> JsonSchemaValue:
        result: JsonSchemaValue = {
            "type": "string",
            "pattern": f"^{self.pattern}$",
            "description": self.description,
        }
        if self.examples:
            result["examples"] = list(self.examples)
        return result


TenantId = Annotated[
    str,
    _PatternString(
        pattern=r"[A-Za-z0-9_.-]{1,64}",
        message='must be 1-64 characters of letters, digits, "_", "." or "-"',
        kind="tenant_id",
        description="The tenant (one sevDesk account): 1-64 characters of A-Z, a-z, 0-9, _ . -",
        examples=("acme",),
    ),
]

# Ids are opaque keys: surrounding whitespace or control characters are refused rather than
# stripped, because stripping would silently turn one CRM record's key into another's.
_ID_EDGE: Final = r"[^\s\x00-\x1f\x7f]"
EntityId = Annotated[
    str,
    _PatternString(
        pattern=rf"{_ID_EDGE}(?:[^\x00-\x1f\x7f]{{0,198}}{_ID_EDGE})?",
        message="must be 1-200 characters without control characters or surrounding whitespace",
        kind="entity_id",
        description="A CRM record id (opaque, 1-200 characters).",
        examples=("cust-1001",),
    ),
]

SevdeskId = Annotated[
    str,
    _PatternString(
        pattern=r"[1-9][0-9]{0,19}",
        message='must be a sevDesk id: a string of digits like "12345"',
        kind="sevdesk_id",
        description="The id of a sevDesk object, as a string of digits.",
        examples=("12345",),
    ),
]

CurrencyCode = Annotated[
    str,
    _PatternString(
        pattern=r"[A-Z]{3}",
        message='must be a three-letter uppercase ISO 4217 currency code like "EUR"',
        kind="currency",
        description="ISO 4217 currency code. Only EUR is synced; others fail with unsupported_currency.",
        examples=("EUR",),
    ),
]

SUPPORTED_CURRENCIES: Final = frozenset({"EUR"})


def is_supported_currency(code: str) -> bool:
    """Whether sevsync can book documents in this currency (anything else: `unsupported_currency`)."""
    return code in SUPPORTED_CURRENCIES


@dataclass(frozen=True, slots=True)
class _TrimmedString:
    """Free text that is stripped of surrounding whitespace.

    `required`: the stripped text must be non-empty (names). Otherwise blank text becomes None, since
    CRMs commonly send "" for "not set" and sevDesk should then get nothing rather than "".
    """

    max_length: int
    required: bool
    description: str

    def validate(self, value: Any) -> str | None:
        if value is None and not self.required:
            return None
        if not isinstance(value, str):
            raise _fail("text", "must be a string, not {got}", got=_type_word(value))
        # The length is checked before stripping so that the JSON Schema (which cannot strip) agrees.
        if len(value) > self.max_length:
            raise _fail("text_too_long", "must be at most {max} characters", max=self.max_length)
        text = value.strip()
        if text:
            return text
        if self.required:
            raise _fail("text_blank", "must not be empty or blank")
        return None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(self.validate)

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: _JsonHandler) -> JsonSchemaValue:
        text: JsonSchemaValue = {"type": "string", "maxLength": self.max_length}
        if self.required:
            text["pattern"] = r"\S"  # unanchored: at least one non-blank character
            text["description"] = self.description
            return text
        return {"anyOf": [text, {"type": "null"}], "description": self.description}


Name = Annotated[str, _TrimmedString(max_length=255, required=True, description="Non-blank text; trimmed.")]
OptionalText = Annotated[
    str | None,
    _TrimmedString(max_length=10_000, required=False, description="Optional text; trimmed; blank is null."),
]


@dataclass(frozen=True, slots=True)
class _EmailRule:
    """A deliberately loose e-mail check: one "@", no spaces. Blank means not set."""

    def validate(self, value: Any) -> str | None:
        text = _OPTIONAL_SHORT.validate(value)
        if text is not None and re.fullmatch(r"[^@\s]+@[^@\s]+", text) is None:
            raise _fail("email", 'must be an e-mail address like "billing@example.com"')
        return text

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(self.validate)

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: _JsonHandler) -> JsonSchemaValue:
        return {
            "anyOf": [
                {"type": "string", "maxLength": 254, "pattern": r"^\s*[^@\s]+@[^@\s]+\s*$"},
                {"type": "null"},
            ],
            "description": "E-mail address; trimmed, blank means null.",
        }


_OPTIONAL_SHORT: Final = _TrimmedString(max_length=254, required=False, description="")
Email = Annotated[str | None, _EmailRule()]


# --- codes ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CountryRule:
    def validate(self, value: Any) -> str:
        if not isinstance(value, str) or re.fullmatch(r"[A-Z]{2}", value) is None:
            # Lowercase is refused, not upper-cased: the contract's codes are uppercase and a CRM
            # sending "de" has a bug worth seeing before it reaches tax decisions.
            raise _fail("country", 'must be an uppercase ISO 3166-1 alpha-2 country code like "DE"')
        if value not in COUNTRY_CODES:
            raise _fail("country", "'{code}' is not an assigned ISO 3166-1 alpha-2 country code", code=value)
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(self.validate)

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: _JsonHandler) -> JsonSchemaValue:
        return {
            "type": "string",
            "enum": sorted(COUNTRY_CODES),
            "description": "ISO 3166-1 alpha-2 country code, uppercase.",
        }


CountryCode = Annotated[str, _CountryRule()]


# --- dates and times ------------------------------------------------------------------------------

_DATE_SHAPE: Final = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_DATETIME_SHAPE: Final = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


@dataclass(frozen=True, slots=True)
class _DateRule:
    def validate(self, value: Any) -> date:
        # datetime is a subclass of date; a timestamp where a day is meant is a caller bug.
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if not isinstance(value, str) or re.fullmatch(_DATE_SHAPE, value) is None:
            raise _fail("date", 'must be an ISO date string "YYYY-MM-DD" like "2026-11-20"')
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise _fail("date", "is not a valid calendar date") from None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.validate,
            serialization=core_schema.plain_serializer_function_ser_schema(date.isoformat, when_used="json"),
        )

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: _JsonHandler) -> JsonSchemaValue:
        return {"type": "string", "format": "date", "pattern": f"^{_DATE_SHAPE}$", "examples": ["2026-11-20"]}


IsoDate = Annotated[date, _DateRule()]


def _datetime_to_json(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


@dataclass(frozen=True, slots=True)
class _AwareDatetimeRule:
    def validate(self, value: Any) -> datetime:
        if isinstance(value, datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                raise _fail("datetime", "must carry a UTC offset")
            return value
        if not isinstance(value, str) or re.fullmatch(_DATETIME_SHAPE, value) is None:
            raise _fail(
                "datetime",
                'must be an ISO 8601 date-time with a UTC offset like "2026-11-20T10:15:00Z"',
            )
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise _fail("datetime", "is not a valid date-time") from None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                _datetime_to_json, when_used="json"
            ),
        )

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: _JsonHandler) -> JsonSchemaValue:
        return {
            "type": "string",
            "format": "date-time",
            "pattern": f"^{_DATETIME_SHAPE}$",
            "examples": ["2026-11-20T10:15:00Z"],
        }


AwareDatetime = Annotated[datetime, _AwareDatetimeRule()]


def utc_now() -> datetime:
    """The current time, timezone-aware, for `occurred_at` of events sevsync emits."""
    return datetime.now(UTC)


# --- numbers --------------------------------------------------------------------------------------

MAX_VERSION: Final = 2**63 - 1  # fits Postgres bigint, where the worker stores synced versions
Version = Annotated[int, Field(strict=True, ge=0, le=MAX_VERSION)]
