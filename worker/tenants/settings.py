"""A tenant's sync settings (CONTRACT section 5), stored as JSON in `tenant_integration.settings`."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

TaxType = Literal["standard", "eu_intra_community", "eu_reverse_charge", "non_eu_export", "non_eu_service"]
TAX_TYPES: tuple[TaxType, ...] = (
    "standard",
    "eu_intra_community",
    "eu_reverse_charge",
    "non_eu_export",
    "non_eu_service",
)
DEFAULT_VOUCHER_DUE_DAYS = 14
EInvoiceMode = Literal["off", "all", "customers"]
E_INVOICE_MODES: tuple[EInvoiceMode, ...] = ("off", "all", "customers")


def payment_method_id(value: str) -> str:
    """A sevDesk PaymentMethod id: digits only (an invoice sends it as a number)."""
    if not (value.isascii() and value.isdigit()):
        raise PydanticCustomError(
            "payment_method_id", "a sevDesk PaymentMethod id is a number, got {value}", {"value": repr(value)}
        )
    return value


PaymentMethodId = Annotated[
    str, AfterValidator(payment_method_id), Field(json_schema_extra={"pattern": "^[0-9]+$"})
]


class TenantSettings(BaseModel):
    """Defaults apply to anything a tenant never set."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    auto_sync_customers: bool = True
    auto_sync_products: bool = True
    small_business: bool = False
    small_business_until: date | None = None
    default_tax_type: TaxType = "standard"
    contact_person_id: str | None = Field(default=None, description="SevUser id; default: the first user")
    units: dict[str, str] = Field(default_factory=dict, description="CRM unit -> sevDesk Unity id")
    voucher_due_days: int = Field(default=DEFAULT_VOUCHER_DUE_DAYS, ge=0, le=365)
    cost_centre_id: str | None = None
    booking_accounts: dict[str, str] = Field(
        default_factory=dict, description="accounting code -> SKR number"
    )
    check_accounts: dict[str, str] = Field(
        default_factory=dict, description="payment method -> CheckAccount id"
    )
    # Learned when the account refuses an invoice whose delivery date equals its date; an operator
    # may turn it off again (e.g. after the account changed). See sync/invoice_dates.py.
    delivery_date_in_head_text: bool = Field(
        default=False,
        description="deal invoices state the delivery date in the head text instead of deliveryDate",
    )

    e_invoice: EInvoiceMode = Field(
        default="off",
        description="which won-deal invoices are e-invoices: off, all (companies; persons that ask) "
        "or customers (by the customer's e_invoice flag or buyer_reference)",
    )
    payment_methods: dict[str, PaymentMethodId] = Field(
        default_factory=dict, description="CRM payment method -> sevDesk PaymentMethod id"
    )
    default_payment_method: PaymentMethodId | None = Field(
        default=None, description="sevDesk PaymentMethod id for deals that name no (or no mapped) method"
    )

    def small_business_on(self, day: date) -> bool:
        """Whether the Kleinunternehmer scheme (§19 UStG) holds on that day."""
        if not self.small_business:
            return False
        return self.small_business_until is None or day <= self.small_business_until
