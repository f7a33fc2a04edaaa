"""The `data` of every inbound event (what the CRM publishes on the inbound exchange)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator
from pydantic_core import PydanticCustomError

from .types import (
    CountryCode,
    CurrencyCode,
    Email,
    EntityId,
    IsoDate,
    Money,
    Name,
    NonNegativeMoney,
    OptionalText,
    PositiveMoney,
    PositiveQuantity,
    ProductTaxRate,
    Rate,
    SevdeskId,
)

__all__ = [
    "Address",
    "AmountDiscount",
    "Customer",
    "CustomerFields",
    "CustomerKind",
    "Deal",
    "DealClosed",
    "DealLine",
    "Discount",
    "EntityRef",
    "Fee",
    "Invoice",
    "InvoiceCancelled",
    "InvoiceDocument",
    "InvoiceLine",
    "Payload",
    "Payment",
    "PercentDiscount",
    "Product",
    "ProductFields",
    "TaxType",
]

TaxType = Literal["standard", "eu_intra_community", "eu_reverse_charge", "non_eu_export", "non_eu_service"]
CustomerKind = Literal["company", "person"]


class Payload(BaseModel):
    """Base of every event payload: unknown fields are refused (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- customer -------------------------------------------------------------------------------------


class Address(Payload):
    """Postal address; becomes the sevDesk ContactAddress."""

    street: OptionalText = None
    zip: OptionalText = None
    city: OptionalText = None
    # Required: sevDesk addresses need a country, and the tax rules depend on it.
    country: CountryCode


def _required_when_kind(kind: str, field: str) -> dict[str, Any]:
    return {
        "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
        "then": {"properties": {field: {"type": "string"}}, "required": [field]},
    }


class CustomerFields(Payload):
    """The fields shared by Customer and ImportedCustomer; not an event payload by itself."""

    # The kind rule of the validator below, for schema-only consumers.
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                _required_when_kind("company", "company_name"),
                _required_when_kind("person", "last_name"),
            ]
        }
    )

    id: EntityId | None
    kind: CustomerKind
    company_name: Name | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    customer_number: OptionalText = None
    email: Email = None
    phone: OptionalText = None
    address: Address | None = None
    vat_id: OptionalText = None
    tax_number: OptionalText = None
    sevdesk_id: SevdeskId | None = Field(
        default=None, description="Links to this existing sevDesk contact instead of creating one."
    )
    buyer_reference: OptionalText = Field(
        default=None,
        description="The buyer's reference on e-invoices (a public-sector buyer's Leitweg-ID); "
        "becomes the contact's buyerReference.",
    )
    e_invoice: StrictBool | None = Field(
        default=None,
        description="Whether this customer gets e-invoices; absent: the tenant's e_invoice setting decides.",
    )

    @model_validator(mode="after")
    def _names_fit_kind(self) -> Self:
        if self.kind == "company" and self.company_name is None:
            raise PydanticCustomError("customer_name", 'a customer of kind "company" needs company_name')
        if self.kind == "person" and self.last_name is None:
            raise PydanticCustomError("customer_name", 'a customer of kind "person" needs last_name')
        return self


class Customer(CustomerFields):
    """A CRM customer; a sevDesk Contact. For a company, first/last name name the contact person."""

    id: EntityId


# --- product --------------------------------------------------------------------------------------


class ProductFields(Payload):
    """The fields shared by Product and ImportedProduct; not an event payload by itself."""

    id: EntityId | None
    sku: OptionalText = None
    name: Name
    description: OptionalText = None
    net_price: NonNegativeMoney
    tax_rate: ProductTaxRate
    unit: OptionalText = Field(default=None, description="Mapped through the tenant's units setting.")
    active: StrictBool = True
    sevdesk_id: SevdeskId | None = Field(
        default=None, description="Links to this existing sevDesk part instead of creating one."
    )


class Product(ProductFields):
    """A CRM product; a sevDesk Part."""

    id: EntityId


# --- deal -----------------------------------------------------------------------------------------


class DealLine(Payload):
    product_id: EntityId | None = None
    name: Name
    description: OptionalText = None
    quantity: PositiveQuantity
    unit: OptionalText = None
    unit_net_price: NonNegativeMoney
    tax_rate: Rate
    discount_percent: Rate | None = None


class PercentDiscount(Payload):
    """A document discount of `value` percent of each tax rate group's net."""

    type: Literal["percent"]
    value: Rate


class AmountDiscount(Payload):
    """A net document discount, split over the tax rate groups in proportion to their nets."""

    type: Literal["amount"]
    value: NonNegativeMoney


Discount = Annotated[PercentDiscount | AmountDiscount, Field(discriminator="type")]


class Fee(Payload):
    name: Name
    net_amount: NonNegativeMoney
    tax_rate: Rate


class Deal(Payload):
    """A CRM deal: an offer (Order AN) while open, an invoice (RE) once won."""

    id: EntityId
    number: Name = Field(description="The deal number; sevsync finds the sevDesk order by it.")
    title: OptionalText = None
    customer: Customer
    currency: CurrencyCode
    date: IsoDate
    lines: Annotated[tuple[DealLine, ...], Field(min_length=1)]
    discount: Discount | None = None
    fees: tuple[Fee, ...] = ()
    tax_type: TaxType | None = Field(default=None, description="Overrides the tenant's default tax type.")
    payment_method: OptionalText = Field(
        default=None,
        description="A CRM payment method name, mapped through the tenant's payment_methods setting.",
    )


class DealClosed(Payload):
    """`data` of deal.lost and deal.cancelled."""

    id: EntityId
    reason: OptionalText = None


class EntityRef(Payload):
    """`data` of events that only name a record (customer.deleted)."""

    id: EntityId


# --- invoices issued by the CRM -------------------------------------------------------------------


class InvoiceLine(Payload):
    name: Name
    net_amount: Money
    tax_rate: Rate
    accounting_code: Name = Field(description="The booking account (SKR number, or a code the tenant maps).")


class InvoiceDocument(Payload):
    """The original document of an invoice: inline base64 or a url to fetch it from, never both.

    Only the shape is checked here; whether the bytes are a PDF or e-invoice XML, their size and the
    url's prefix are checked when the event is handled (a `document_invalid` failure, CONTRACT 9).
    """

    filename: Annotated[str, Field(min_length=1, max_length=1024)]
    content_type: Annotated[str, Field(min_length=1, max_length=255)]
    content_base64: Annotated[str, Field(min_length=1)] | None = Field(
        default=None, description="The document's bytes, base64 (standard alphabet, padded, no line breaks)."
    )
    url: Annotated[str, Field(min_length=1, max_length=2048)] | None = Field(
        default=None, description="Fetched once, only under a prefix in SEVSYNC_DOCUMENT_URL_PREFIXES."
    )

    # Each branch also holds the other source absent or null: `{"content_base64": ..., "url": null}`
    # is valid under exactly one, as the model accepts it.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["content_base64"],
                    "properties": {"content_base64": {"type": "string"}, "url": {"type": "null"}},
                },
                {
                    "required": ["url"],
                    "properties": {"url": {"type": "string"}, "content_base64": {"type": "null"}},
                },
            ]
        }
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.content_base64 is None) == (self.url is None):
            raise PydanticCustomError(
                "document_source", "a document needs exactly one of content_base64 and url"
            )
        return self


class Invoice(Payload):
    """An invoice the CRM issued with its own number; a sevDesk revenue Voucher."""

    id: EntityId
    number: Name
    customer_number: OptionalText = None
    customer_name: OptionalText = Field(
        default=None, description="Names the counterparty when no contact has customer_number."
    )
    date: IsoDate
    delivery_date: IsoDate | None = None
    currency: CurrencyCode
    tax_type: TaxType | None = None
    lines: Annotated[tuple[InvoiceLine, ...], Field(min_length=1)]
    payment_method: OptionalText = None
    document: InvoiceDocument | None = Field(
        default=None, description="The invoice's original document, attached to the voucher."
    )


class InvoiceCancelled(Payload):
    """`data` of invoice.cancelled: the cancellation document of invoice `id`."""

    id: EntityId = Field(description="The cancelled invoice's id.")
    number: Name = Field(description="The cancellation's own number.")
    date: IsoDate
    reason: OptionalText = None


# --- payments -------------------------------------------------------------------------------------


def _only_target(chosen: str, other: str) -> dict[str, Any]:
    return {"properties": {chosen: {"type": "string"}, other: {"type": "null"}}, "required": [chosen]}


class Payment(Payload):
    """A payment on a CRM-issued invoice (`invoice_id`) or on a won deal's invoice (`deal_id`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [_only_target("invoice_id", "deal_id"), _only_target("deal_id", "invoice_id")]
        }
    )

    id: EntityId
    invoice_id: EntityId | None = None
    deal_id: EntityId | None = None
    amount: PositiveMoney
    date: IsoDate
    payment_method: OptionalText = Field(default=None, description="Selects the sevDesk check account.")
    reference: OptionalText = Field(default=None, description="Used to find the bank transaction.")

    @model_validator(mode="after")
    def _exactly_one_target(self) -> Self:
        if (self.invoice_id is None) == (self.deal_id is None):
            got = "both" if self.invoice_id is not None else "neither"
            raise PydanticCustomError(
                "payment_target", "exactly one of invoice_id or deal_id must be set, not {got}", {"got": got}
            )
        return self
