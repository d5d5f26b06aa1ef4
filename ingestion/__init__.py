"""Ingestion: row rules, quarantine and pseudonymisation of the raw feeds."""

from __future__ import annotations

from pyspark.sql import DataFrame

from fraudgraph.contract import Feed
from ingestion.pseudonymise import pseudonymise
from ingestion.rules import REASON, with_reason

__all__ = ["REASON", "clean_feed"]


def clean_feed(raw_df: DataFrame, feed: Feed, *, key: bytes, amount_ceiling: float) -> DataFrame:
    """Raw rows (contract columns + ``dt``) to pseudonymised rows with a ``reason``.

    ``reason`` is null for rows that go to the clean table; rows with a reason
    go to quarantine. Nothing raw survives: rules run before tokens replace
    the identifiers.
    """
    return raw_df.transform(with_reason, feed, amount_ceiling=amount_ceiling).transform(
        pseudonymise, feed, key=key
    )
