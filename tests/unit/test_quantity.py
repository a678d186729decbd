"""Kubernetes quantities as lessons read them (resource.ParseQuantity's grammar)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lessons.quantity import millicores, parse_quantity, whole_units


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2", 2),
        ("0.5", Decimal("0.5")),
        (".5", Decimal("0.5")),
        ("5.", 5),
        ("+3", 3),
        ("500m", Decimal("0.5")),
        ("250u", Decimal("0.00025")),
        ("7n", Decimal("7e-9")),
        ("2k", 2000),
        ("1M", 10**6),
        ("3G", 3 * 10**9),
        ("1T", 10**12),
        ("1P", 10**15),
        ("2E", 2 * 10**18),
        ("1Ki", 1024),
        ("512Mi", 512 * 2**20),
        ("1.5Gi", 3 * 2**29),
        ("1Ti", 2**40),
        ("1Pi", 2**50),
        ("1Ei", 2**60),
        ("1e3", 1000),
        ("12E-1", Decimal("1.2")),
        (" 1Gi ", 2**30),
    ],
)
def test_quantities(text: str, value: Decimal | int) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text", ["", "Gi", "1K", "1 Gi", "1gi", "1mi", "1.2.3", "1e", "two", "0x10"]
)
def test_not_quantities(text: str) -> None:
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        parse_quantity(text)


@pytest.mark.parametrize("text", ["8Ei", "1e19", "1e999999", "1e99999999999"])
def test_too_large(text: str) -> None:
    with pytest.raises(ValueError, match="is too large a quantity"):
        parse_quantity(text)


def test_cpu_in_millicores_and_memory_in_bytes_round_up() -> None:
    assert millicores("1") == 1000
    assert millicores("250m") == 250
    assert millicores("0.1") == 100
    assert millicores("1.5m") == 2
    assert millicores("100u") == 1
    assert whole_units("1Gi") == 2**30
    assert whole_units("1.5") == 2
    assert whole_units("0") == 0
