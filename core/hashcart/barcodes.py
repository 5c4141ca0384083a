"""Barcodes as product references: EAN-13, UPC-A, ISBN-13 and ISBN-10, checksums validated.

A number of a barcode's shape whose check digit is wrong is answered as "not a valid barcode",
never as an unknown product: it is almost always a typo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["ean13", "upca", "isbn13", "isbn10"]

_SHAPE = re.compile(r"^(?:\d{12,13}|\d{9}[\dXx])$")
_IN_TEXT = re.compile(r"(?<![\w/.:-])(\d{12,13}|\d{9}[\dXx])(?![\w/-]|\.\w)")


class InvalidBarcode(ValueError):
    """A number shaped like a barcode whose check digit does not match."""


@dataclass(frozen=True, slots=True)
class Barcode:
    """A validated barcode. `gtin13` is its 13-digit form (UPC-A gains a leading 0, an ISBN-10
    becomes its 978 ISBN-13), the key the local catalog stores; `isbn10` is set for books that
    have one (a book's ASIN on Amazon is its ISBN-10)."""

    kind: Kind
    digits: str
    gtin13: str
    isbn10: str | None = None


def ean_check_digit(body: str) -> str:
    """The GS1 check digit of 7, 11 or 12 digits (weights 3 and 1 from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def isbn10_check_digit(body: str) -> str:
    total = sum((10 - i) * int(d) for i, d in enumerate(body))
    check = (11 - total % 11) % 11
    return "X" if check == 10 else str(check)


def parse_barcode(text: str) -> Barcode | None:
    """A `Barcode`, or None when `text` is not shaped like one; raises `InvalidBarcode` when it
    is shaped like one but its check digit is wrong."""
    digits = text.strip().upper()
    if not _SHAPE.match(digits):
        return None
    if len(digits) == 10:
        if isbn10_check_digit(digits[:9]) != digits[9]:
            raise InvalidBarcode(f"{digits} is not a valid ISBN-10")
        body = "978" + digits[:9]
        return Barcode("isbn10", digits, body + ean_check_digit(body), digits)
    if "X" in digits or ean_check_digit(digits[:-1]) != digits[-1]:
        raise InvalidBarcode(f"{digits} is not a valid barcode")
    if len(digits) == 12:
        return Barcode("upca", digits, "0" + digits)
    if digits.startswith("978"):
        return Barcode("isbn13", digits, digits, digits[3:12] + isbn10_check_digit(digits[3:12]))
    if digits.startswith("979"):
        return Barcode("isbn13", digits, digits)
    return Barcode("ean13", digits, digits)


def extract_barcodes(text: str) -> list[str]:
    """Every stand-alone number in `text` shaped like a barcode (not validated), in order."""
    return list(dict.fromkeys(match.group(1) for match in _IN_TEXT.finditer(text or "")))
