"""Read-only lookup resources: system version, users, countries, units, categories, key types,
payment methods.

Ids that sevDesk documents or that were measured (StaticCountry 1 = Germany, Unity 1 = "Stk",
Contact categories 2/3/4/28, address categories 43/47/48, CommunicationWayKey 1..8) are kept; the
rest are the sandbox's own, so clients must resolve them by code or name as against the real API.
PaymentMethod ids differ between real accounts too (an invoice's ``paymentMethod`` names one).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .countries import COUNTRIES
from .errors import not_found
from .wire import API_PREFIX, account_of, get_record, ok, one, page, page_records, path_id

routes = web.RouteTableDef()


def _static(object_name: str, object_id: int, **fields: Any) -> dict[str, Any]:
    return {"id": str(object_id), "objectName": object_name, "additionalInformation": None, **fields}


STATIC_COUNTRIES: tuple[dict[str, Any], ...] = tuple(
    _static(
        "StaticCountry",
        country.id,
        code=country.code,
        name=country.name,
        nameEn=country.name_en,
        translationCode=f"COUNTRY_{country.code.upper()}",
        priority="1" if country.code == "de" else "100",
    )
    for country in COUNTRIES
)

UNITIES: tuple[dict[str, Any], ...] = tuple(
    _static("Unity", unity_id, name=name, translationCode=code)
    for unity_id, name, code in (
        (1, "Stk", "UNITY_PIECE"),
        (2, "Std", "UNITY_HOUR"),
        (3, "Tag(e)", "UNITY_DAY"),
        (4, "km", "UNITY_KILOMETER"),
        (5, "kg", "UNITY_KILOGRAM"),
        (6, "m", "UNITY_METER"),
        (7, "pauschal", "UNITY_FLAT_RATE"),
        (8, "l", "UNITY_LITER"),
        (9, "m²", "UNITY_SQUARE_METER"),
    )
)

CATEGORIES: tuple[dict[str, Any], ...] = tuple(
    _static("Category", category_id, name=name, objectType=object_type, translationCode=code, parent=None)
    for category_id, name, object_type, code in (
        (2, "Lieferant", "Contact", "CATEGORY_SUPPLIER"),
        (3, "Kunde", "Contact", "CATEGORY_CUSTOMER"),
        (4, "Partner", "Contact", "CATEGORY_PARTNER"),
        (28, "Interessent", "Contact", "CATEGORY_PROSPECT_CUSTOMER"),
        (43, "Arbeit", "ContactAddress", "CATEGORY_WORK"),
        (44, "Privat", "ContactAddress", "CATEGORY_PRIVATE"),
        (47, "Rechnungsanschrift", "ContactAddress", "CATEGORY_INVOICE_ADDRESS"),
        (48, "Lieferanschrift", "ContactAddress", "CATEGORY_DELIVERY_ADDRESS"),
        (49, "Abholanschrift", "ContactAddress", "CATEGORY_PICKUP_ADDRESS"),
        (60, "Ware", "Part", "CATEGORY_GOODS"),
        (61, "Dienstleistung", "Part", "CATEGORY_SERVICE"),
    )
)

COMMUNICATION_WAY_KEYS: tuple[dict[str, Any], ...] = tuple(
    _static("CommunicationWayKey", key_id, name=name, translationCode=code)
    for key_id, name, code in (
        (1, "Privat", "COMM_WAY_KEY_PRIVAT"),
        (2, "Arbeit", "COMM_WAY_KEY_WORK"),
        (3, "Fax", "COMM_WAY_KEY_FAX"),
        (4, "Mobil", "COMM_WAY_KEY_MOBILE"),
        (5, " ", "COMM_WAY_KEY_EMPTY"),
        (6, "Autobox", "COMM_WAY_KEY_AUTOBOX"),
        (7, "Newsletter", "COMM_WAY_KEY_NEWSLETTER"),
        (8, "Rechnungsadresse", "COMM_WAY_KEY_INVOICING"),
    )
)

PAYMENT_METHODS: tuple[dict[str, Any], ...] = tuple(
    _static("PaymentMethod", method_id, name=name, translationCode=code)
    for method_id, name, code in (
        (21919, "Überweisung", "PAYMENT_METHOD_BANK_TRANSFER"),
        (21920, "Lastschrift", "PAYMENT_METHOD_DIRECT_DEBIT"),
        (21921, "Bar", "PAYMENT_METHOD_CASH"),
        (21922, "PayPal", "PAYMENT_METHOD_PAYPAL"),
    )
)


def find_static(items: tuple[dict[str, Any], ...], object_id: int) -> dict[str, Any] | None:
    wanted = str(object_id)
    return next((dict(item) for item in items if item["id"] == wanted), None)


def category_exists(category_id: int, object_type: str) -> bool:
    item = find_static(CATEGORIES, category_id)
    return item is not None and item["objectType"] == object_type


def _by_id(items: tuple[dict[str, Any], ...], request: web.Request) -> web.Response:
    object_id = path_id(request)
    item = find_static(items, object_id)
    if item is None:
        raise not_found(items[0]["objectName"], object_id)
    return one(item)


@routes.get(f"{API_PREFIX}/Tools/bookkeepingSystemVersion")
async def bookkeeping_system_version(request: web.Request) -> web.Response:
    return ok({"version": account_of(request).bookkeeping_version})


@routes.get(f"{API_PREFIX}/SevUser")
async def list_users(request: web.Request) -> web.Response:
    return page_records(request, account_of(request).table("SevUser").values())


@routes.get(API_PREFIX + r"/SevUser/{id:\d+}")
async def get_user(request: web.Request) -> web.Response:
    return one(get_record(account_of(request), "SevUser", path_id(request)).render())


@routes.get(f"{API_PREFIX}/StaticCountry")
async def list_countries(request: web.Request) -> web.Response:
    code = request.query.get("code")
    items = [dict(item) for item in STATIC_COUNTRIES]
    if code is not None:
        items = [item for item in items if item["code"] == code.strip().lower()]
    return page(request, items)


@routes.get(API_PREFIX + r"/StaticCountry/{id:\d+}")
async def get_country(request: web.Request) -> web.Response:
    return _by_id(STATIC_COUNTRIES, request)


@routes.get(f"{API_PREFIX}/Unity")
async def list_unities(request: web.Request) -> web.Response:
    return page(request, [dict(item) for item in UNITIES])


@routes.get(API_PREFIX + r"/Unity/{id:\d+}")
async def get_unity(request: web.Request) -> web.Response:
    return _by_id(UNITIES, request)


@routes.get(f"{API_PREFIX}/Category")
async def list_categories(request: web.Request) -> web.Response:
    object_type = request.query.get("objectType")
    items = [dict(item) for item in CATEGORIES]
    if object_type is not None:
        items = [item for item in items if item["objectType"] == object_type]
    return page(request, items)


@routes.get(API_PREFIX + r"/Category/{id:\d+}")
async def get_category(request: web.Request) -> web.Response:
    return _by_id(CATEGORIES, request)


@routes.get(f"{API_PREFIX}/CommunicationWayKey")
async def list_communication_way_keys(request: web.Request) -> web.Response:
    return page(request, [dict(item) for item in COMMUNICATION_WAY_KEYS])


@routes.get(API_PREFIX + r"/CommunicationWayKey/{id:\d+}")
async def get_communication_way_key(request: web.Request) -> web.Response:
    return _by_id(COMMUNICATION_WAY_KEYS, request)


@routes.get(f"{API_PREFIX}/PaymentMethod")
async def list_payment_methods(request: web.Request) -> web.Response:
    return page(request, [dict(item) for item in PAYMENT_METHODS])


@routes.get(API_PREFIX + r"/PaymentMethod/{id:\d+}")
async def get_payment_method(request: web.Request) -> web.Response:
    return _by_id(PAYMENT_METHODS, request)
