"""The ``StaticCountry`` table served by the sandbox.

Id 1 = Germany as in sevDesk; the other ids are the sandbox's own (sevDesk's internal ids are not
published), so clients must resolve countries by ``code`` as they must against the real API.
Codes are lower-case ISO 3166-1 alpha-2 (Greece is "gr", not the VAT prefix "EL").
"""

from __future__ import annotations

from typing import NamedTuple


class Country(NamedTuple):
    id: int
    code: str
    name: str  # German name, as sevDesk shows it
    name_en: str


COUNTRIES: tuple[Country, ...] = (
    Country(1, "de", "Deutschland", "Germany"),
    Country(2, "ch", "Schweiz", "Switzerland"),
    Country(3, "at", "Österreich", "Austria"),
    Country(4, "be", "Belgien", "Belgium"),
    Country(5, "bg", "Bulgarien", "Bulgaria"),
    Country(6, "hr", "Kroatien", "Croatia"),
    Country(7, "cy", "Zypern", "Cyprus"),
    Country(8, "cz", "Tschechien", "Czech Republic"),
    Country(9, "dk", "Dänemark", "Denmark"),
    Country(10, "ee", "Estland", "Estonia"),
    Country(11, "fi", "Finnland", "Finland"),
    Country(12, "fr", "Frankreich", "France"),
    Country(13, "gr", "Griechenland", "Greece"),
    Country(14, "hu", "Ungarn", "Hungary"),
    Country(15, "ie", "Irland", "Ireland"),
    Country(16, "it", "Italien", "Italy"),
    Country(17, "lv", "Lettland", "Latvia"),
    Country(18, "lt", "Litauen", "Lithuania"),
    Country(19, "lu", "Luxemburg", "Luxembourg"),
    Country(20, "mt", "Malta", "Malta"),
    Country(21, "nl", "Niederlande", "Netherlands"),
    Country(22, "pl", "Polen", "Poland"),
    Country(23, "pt", "Portugal", "Portugal"),
    Country(24, "ro", "Rumänien", "Romania"),
    Country(25, "sk", "Slowakei", "Slovakia"),
    Country(26, "si", "Slowenien", "Slovenia"),
    Country(27, "es", "Spanien", "Spain"),
    Country(28, "se", "Schweden", "Sweden"),
    Country(29, "gb", "Vereinigtes Königreich", "United Kingdom"),
    Country(30, "us", "Vereinigte Staaten von Amerika", "United States"),
    Country(31, "no", "Norwegen", "Norway"),
    Country(32, "li", "Liechtenstein", "Liechtenstein"),
    Country(33, "is", "Island", "Iceland"),
    Country(34, "mc", "Monaco", "Monaco"),
    Country(35, "sm", "San Marino", "San Marino"),
    Country(36, "ad", "Andorra", "Andorra"),
    Country(37, "tr", "Türkei", "Turkey"),
    Country(38, "ua", "Ukraine", "Ukraine"),
    Country(39, "rs", "Serbien", "Serbia"),
    Country(40, "al", "Albanien", "Albania"),
    Country(41, "ba", "Bosnien und Herzegowina", "Bosnia and Herzegovina"),
    Country(42, "me", "Montenegro", "Montenegro"),
    Country(43, "mk", "Nordmazedonien", "North Macedonia"),
    Country(44, "md", "Moldau", "Moldova"),
    Country(45, "ca", "Kanada", "Canada"),
    Country(46, "mx", "Mexiko", "Mexico"),
    Country(47, "br", "Brasilien", "Brazil"),
    Country(48, "au", "Australien", "Australia"),
    Country(49, "nz", "Neuseeland", "New Zealand"),
    Country(50, "jp", "Japan", "Japan"),
    Country(51, "cn", "China", "China"),
    Country(52, "in", "Indien", "India"),
    Country(53, "sg", "Singapur", "Singapore"),
    Country(54, "ae", "Vereinigte Arabische Emirate", "United Arab Emirates"),
    Country(55, "il", "Israel", "Israel"),
    Country(56, "za", "Südafrika", "South Africa"),
)

# fmt: off
EU_CODES = frozenset({
    "at", "be", "bg", "hr", "cy", "cz", "dk", "ee", "fi", "fr", "de", "gr", "hu", "ie",
    "it", "lv", "lt", "lu", "mt", "nl", "pl", "pt", "ro", "sk", "si", "es", "se",
})
# fmt: on
