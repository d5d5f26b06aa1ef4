"""Identifier formats of the simulated world and their dirty raw spellings.

Everything here is vectorised: identifiers are drawn as int64 values and
turned into Arrow strings with Arrow compute kernels, so building a million
identifiers costs milliseconds. Canonical forms follow CONTRACT.md section 2
(Chinese mobiles as 11 digits, other numbers digits only, accounts trimmed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# GB 11643-1999: weights of the 17 body digits and the check character by sum mod 11.
GB11643_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
GB11643_CHECK = np.array(list("10X98765432"))

# Share of raw identifiers written in a dirty but normalisable spelling.
DIRTY_SHARE = 0.03


def digit_matrix(values: np.ndarray, width: int) -> np.ndarray:
    """The decimal digits of non-negative ints as an (n, width) matrix, most significant first."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (np.asarray(values, dtype=np.int64)[:, None] // powers) % 10


def as_strings(values: np.ndarray, width: int = 0) -> pa.Array:
    """Ints as decimal strings, left-padded with zeros to ``width`` when given."""
    text = pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())
    return pc.utf8_lpad(text, width, padding="0") if width else text


_DIGITS4 = (digit_matrix(np.arange(10_000), 4) + ord("0")).astype(np.uint8)


def fixed_strings(prefix: str, values: np.ndarray, width: int) -> pa.Array:
    """``prefix`` followed by each int zero-padded to ``width`` digits, built straight from byte buffers.

    The fast path for the millions of event ids; values must fit in ``width`` digits.
    """
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    values = np.asarray(values, dtype=np.int64)
    # Four digits per gather from a lookup table: a quarter of the divisions of digit_matrix.
    blocks = [_DIGITS4[(values // 10 ** (4 * k)) % 10_000] for k in range((width + 3) // 4 - 1, -1, -1)]
    body = np.concatenate(blocks, axis=1)[:, -width:] if blocks else np.empty((len(values), 0), np.uint8)
    data = np.concatenate([np.broadcast_to(head, (len(body), len(head))), body], axis=1)
    size = len(head) + width
    offsets = (np.arange(len(body) + 1, dtype=np.int32) * size).tobytes()
    return pa.Array.from_buffers(
        pa.string(), len(body), [None, pa.py_buffer(offsets), pa.py_buffer(data.tobytes())]
    )


def concat_strings(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of string arrays and scalars (null if any part is null)."""
    return pc.binary_join_element_wise(*parts, "")


def null_where(values: pa.Array, is_null: np.ndarray) -> pa.Array:
    """``values`` with the rows flagged in ``is_null`` set to null."""
    return pc.if_else(pa.array(is_null), pa.nulls(len(values), values.type), values)


def draw_unique(
    rng: np.random.Generator, n: int, prefixes: np.ndarray, suffix_digits: int, taken: np.ndarray
) -> np.ndarray:
    """``n`` distinct ints ``prefix * 10**suffix_digits + suffix`` absent from ``taken``.

    Kept in draw order (not sorted) so the result does not depend on value order;
    redraws until enough distinct values exist, which terminates quickly while the
    number space is far larger than ``n``. Uses sorting rather than ``np.unique`` /
    ``np.isin``, whose hash paths are slow on wide int64 ranges.
    """
    taken = np.sort(np.asarray(taken, dtype=np.int64))
    found = np.empty(0, dtype=np.int64)
    while len(found) < n:
        need = n - len(found)
        size = need + need // 10 + 16
        cand = rng.choice(prefixes, size) * 10**suffix_digits + rng.integers(0, 10**suffix_digits, size)
        if len(taken):
            pos = np.minimum(np.searchsorted(taken, cand), len(taken) - 1)
            cand = cand[taken[pos] != cand]
        both = np.concatenate([found, cand])
        order = np.argsort(both, kind="stable")
        is_repeat = np.zeros(len(both), dtype=bool)
        is_repeat[order[1:]] = both[order[1:]] == both[order[:-1]]
        found = both[~is_repeat]
    return found[:n]


def id_numbers(area: np.ndarray, birth: np.ndarray, seq: np.ndarray) -> pa.Array:
    """18-char PRC resident ID numbers with a valid GB 11643 check character.

    ``area`` is the 6-digit region code, ``birth`` a ``datetime64[D]`` array and
    ``seq`` the 3-digit order code (odd for men).
    """
    years = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    months = birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
    days = (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
    body = area * 10**11 + (years * 10_000 + months * 100 + days) * 1000 + seq
    check = GB11643_CHECK[(digit_matrix(body, 17) @ GB11643_WEIGHTS) % 11]
    return concat_strings(as_strings(body, 17), pa.array(check))


def luhn_digit(body: np.ndarray, width: int) -> np.ndarray:
    """The Luhn check digit to append to ``width``-digit ints."""
    rev = digit_matrix(body, width)[:, ::-1]
    doubled = rev[:, ::2] * 2
    total = (doubled - 9 * (doubled > 9)).sum(axis=1) + rev[:, 1::2].sum(axis=1)
    return (10 - total % 10) % 10


def imeis(rng: np.random.Generator, n: int, tacs: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """``n`` distinct 15-digit IMEIs (8-digit TAC, 6-digit serial, Luhn digit) as int64."""
    body = draw_unique(rng, n, tacs, 6, taken // 10)
    return body * 10 + luhn_digit(body, 14)


def mobile_spellings(canonical: pa.Array) -> list[pa.Array]:
    """Raw spellings of 11-digit Chinese mobiles; index 0 is the clean one.

    Every spelling normalises back to the 11 digits (CONTRACT.md section 2).
    """
    head, mid, tail = (pc.utf8_slice_codeunits(canonical, a, b) for a, b in ((0, 3), (3, 7), (7, 11)))
    return [
        canonical,
        concat_strings("+86", canonical),
        concat_strings("0086", canonical),
        concat_strings("86", canonical),
        concat_strings("+86 ", head, "-", mid, "-", tail),
        concat_strings(head, " ", mid, " ", tail),
    ]


def account_spellings(clean: pa.Array) -> list[pa.Array]:
    """Raw spellings of account ids: clean, then padded with blanks (normalised by trimming)."""
    return [clean, concat_strings(clean, " "), concat_strings(" ", clean)]


def id_spellings(clean: pa.Array) -> list[pa.Array]:
    """Raw spellings of ID numbers: clean, lower-case ``x``, trailing blank."""
    return [clean, pc.utf8_lower(clean), concat_strings(clean, " ")]


@dataclass(frozen=True)
class Spellings:
    """Raw spellings of ``n`` identifiers, stored variant-major in one Arrow array."""

    n: int
    n_variants: int
    table: pa.Array

    @classmethod
    def build(cls, variants: list[pa.Array]) -> Spellings:
        return cls(len(variants[0]), len(variants), pa.concat_arrays(variants))

    def take(self, rng: np.random.Generator, idx: np.ndarray, share: float = DIRTY_SHARE) -> pa.Array:
        """Raw strings of entities ``idx`` (negative = null), a ``share`` of them dirty."""
        idx = np.asarray(idx, dtype=np.int64)
        variant = np.where(rng.random(len(idx)) < share, rng.integers(1, self.n_variants, len(idx)), 0)
        return self.table.take(pa.array(variant * self.n + idx, mask=idx < 0))
