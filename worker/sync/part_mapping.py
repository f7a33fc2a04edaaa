"""Pure mapping of a CRM Product to a sevDesk Part. No I/O here."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from sevsync_events.payloads import Product

from ..sevdesk.objects import JsonObject, ref

# sevDesk's Unity id 1 is the piece ("Stk"), the fallback for any unit the tenant did not map.
PIECE_UNITY_ID = "1"
PART_ACTIVE = 100
PART_INACTIVE = 50
CENT = Decimal("0.01")


def part_number(product: Product) -> str:
    """The Part's business key: the SKU, or the CRM id for products without one."""
    return product.sku or product.id


def decimal_text(value: Decimal) -> str:
    """Exact decimal string for sevDesk (it accepts amounts as strings; never go through float)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def gross_price(net: Decimal, tax_rate: Decimal) -> Decimal:
    return (net * (Decimal(100) + tax_rate) / Decimal(100)).quantize(CENT, rounding=ROUND_HALF_UP)


def unity_id(unit: str | None, units: dict[str, str]) -> str:
    """sevDesk's Unity id for a CRM unit through the tenant's `units` setting; piece when unmapped."""
    return units.get(unit, PIECE_UNITY_ID) if unit else PIECE_UNITY_ID


def part_body(product: Product, units: dict[str, str]) -> JsonObject:
    return {
        "name": product.name,
        "partNumber": part_number(product),
        "text": product.description,
        "unity": ref("Unity", unity_id(product.unit, units)),
        "taxRate": decimal_text(product.tax_rate),
        "price": decimal_text(product.net_price),
        "priceNet": decimal_text(product.net_price),
        "priceGross": decimal_text(gross_price(product.net_price, product.tax_rate)),
        "status": PART_ACTIVE if product.active else PART_INACTIVE,
    }


def part_create_body(product: Product, units: dict[str, str]) -> JsonObject:
    # `stock` is required on create; sevsync does not manage stock, so it starts at zero.
    return {**part_body(product, units), "stock": 0}
