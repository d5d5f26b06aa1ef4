"""fraudgraph's fraud-world simulator: synthetic raw feeds plus the ground truth behind them.

Public API: :func:`simulate_world` and the :class:`WorldSummary` it returns.
"""

from __future__ import annotations

from simulator.world import WorldSummary, simulate_world

__all__ = ["WorldSummary", "simulate_world"]
