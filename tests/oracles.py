"""Plain-Python reference implementations the tests hold the project's code to."""

from __future__ import annotations

# GB 11643-1999: weight of position i is 2^(17-i) mod 11.
GB11643_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]


def gb11643_check(body: str) -> str:
    """The check character of 17 digits."""
    return "10X98765432"[sum(int(d) * w for d, w in zip(body, GB11643_WEIGHTS, strict=True)) % 11]


def gb11643_valid(id_number: str) -> bool:
    return len(id_number) == 18 and id_number[:17].isdigit() and gb11643_check(id_number[:17]) == id_number[17]


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0
