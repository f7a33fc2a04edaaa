"""The number after a customer number, in the number's own format (for stepping past given-up ones)."""

from __future__ import annotations

import pytest

from sevsync.sync.customer_numbers import following_number


@pytest.mark.parametrize(
    ("number", "following"),
    [
        ("1000", "1001"),
        ("999", "1000"),
        ("K-0099", "K-0100"),
        ("K-99", "K-100"),
        ("2026-0042", "2026-0043"),
        ("KD1000-A", "KD1001-A"),
        ("0", "1"),
    ],
)
def test_the_last_run_of_digits_counts_up_keeping_its_width(number: str, following: str) -> None:
    assert following_number(number) == following


def test_a_number_without_digits_has_no_following_number() -> None:
    assert following_number("ABC") is None
