"""Kubernetes resource quantities (`500m`, `2Gi`, `1.5`, `1e3`), as resource.ParseQuantity reads
them, for the resource requests of lessons' pods."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from lessons.naming import safe_repr

# <number><suffix>: a decimal number, then a binary (Ki..Ei) or decimal (n, u, m, k..E) SI
# suffix or a decimal exponent (e3, E-2), or nothing
_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?"
)
_SCALE = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    **{f"{prefix}i": Decimal(1024) ** (i + 1) for i, prefix in enumerate("KMGTPE")},
}


_LIMIT = 2**63  # quantities are 64-bit integers (of millis, for cpu) at most


def parse_quantity(text: str) -> Decimal:
    """The value of a quantity; ValueError when it is none."""
    found = _QUANTITY.fullmatch(text.strip())
    if found is None:
        raise ValueError(
            f"{safe_repr(text)} is not a Kubernetes quantity: write a number with an optional "
            "suffix, such as 500m, 2, 512Mi or 1Gi"
        )
    suffix = found["suffix"] or ""
    try:
        number = Decimal(found["number"])
        if not suffix:
            value = number
        elif suffix in _SCALE:
            value = number * _SCALE[suffix]
        else:  # an exponent
            value = number.scaleb(int(suffix[1:]))
    except (InvalidOperation, OverflowError):
        value = Decimal(_LIMIT)
    if abs(value) >= _LIMIT:
        raise ValueError(f"{safe_repr(text)} is too large a quantity")
    return value


def millicores(text: str) -> int:
    """A cpu quantity in millicores, rounded up (as Quantity.MilliValue rounds)."""
    return math.ceil(parse_quantity(text) * 1000)


def whole_units(text: str) -> int:
    """A quantity in whole units (memory: bytes), rounded up (as Quantity.Value rounds)."""
    return math.ceil(parse_quantity(text))
