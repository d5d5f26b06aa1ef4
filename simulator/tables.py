"""Column blocks: the simulator's in-memory tables as dicts of numpy / Arrow arrays.

A block maps column names to equally long numpy or Arrow arrays. Entity books
(numbers, accounts) are stacked from blocks added by each part of the world;
events (calls, sms, transactions) are blocks too, concatenated and sliced by
time without any per-row Python.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

Block = dict[str, "np.ndarray | pa.Array"]

SECONDS_PER_DAY = 86_400


def block_len(block: Block) -> int:
    """Rows in a block (0 for a block without columns)."""
    return len(next(iter(block.values()))) if block else 0


def stack(blocks: list[Block]) -> Block:
    """Blocks with the same columns, one after the other (the first block names the columns)."""
    blocks = [b for b in blocks if block_len(b)] or blocks[:1]
    if not blocks:
        return {}
    out: Block = {}
    for name in blocks[0]:
        parts = [b[name] for b in blocks]
        out[name] = pa.concat_arrays(parts) if isinstance(parts[0], pa.Array) else np.concatenate(parts)
    return out


def take(block: Block, rows: np.ndarray) -> Block:
    """Rows of a block selected by index or boolean mask."""
    rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)
    return {
        k: (v.take(pa.array(rows, pa.int64())) if isinstance(v, pa.Array) else v[rows])
        for k, v in block.items()
    }


def sort_by_time(block: Block, time_col: str = "t") -> Block:
    """The block ordered by its time column (ties in a fixed, input-determined order)."""
    return take(block, np.argsort(block[time_col])) if block_len(block) else block


def day_slice(block: Block, day_start: int, time_col: str = "t") -> Block:
    """Rows of a time-sorted block whose time falls in the day starting at ``day_start`` (seconds)."""
    if not block_len(block):
        return block
    lo, hi = np.searchsorted(block[time_col], [day_start, day_start + SECONDS_PER_DAY])
    return take(block, np.arange(lo, hi))


def events(**cols: np.ndarray) -> Block:
    """An event block with int64 columns (booleans kept as they are)."""
    return {
        k: (np.asarray(v) if np.asarray(v).dtype == bool else np.asarray(v, dtype=np.int64))
        for k, v in cols.items()
    }
