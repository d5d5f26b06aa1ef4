"""Training sets that respect time.

Labels are those reported before the as-of day; features come from windows
ending before it. An entity is positive when any label reported before as-of
marks it (``fraud`` for numbers; ``mule`` or ``fraud`` for accounts); every
other entity (cleared by an analyst, a victim, or never labelled) is a
negative. Entities are split into training and validation by a hash of their
token, so no entity is on both sides, whatever snapshot it appears in.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from features.common import ENTITY, require_columns
from fraudgraph.contract import ACCOUNT, MSISDN

LABEL = "label"
SNAPSHOT = "snapshot"
IS_VALIDATION = "is_validation"
POSITIVE_LABELS = {MSISDN: ("fraud",), ACCOUNT: ("mule", "fraud")}
LABEL_COLUMNS = ("entity_type", "entity_id", "label", "reported_time")

_BUCKETS = 10_000


def positives_before(labels_df: DataFrame, *, entity_type: str, as_of: dt.date) -> DataFrame:
    """Distinct ``entity_token`` of entities labelled positive before ``as_of`` (00:00 of that day)."""
    require_columns(labels_df, LABEL_COLUMNS, "positives_before")
    return (
        labels_df.where(
            (F.col("entity_type") == entity_type)
            & F.col("label").isin(list(POSITIVE_LABELS[entity_type]))
            # By calendar day in the session's zone: a Python datetime literal would be read in the driver's zone.
            & (F.to_date(F.col("reported_time")) < F.lit(as_of))
        )
        .select(F.col("entity_id").alias(ENTITY))
        .distinct()
    )


def _bucket(seed: int) -> F.Column:
    return F.pmod(F.xxhash64(F.col(ENTITY), F.lit(seed)), F.lit(_BUCKETS))


def labelled_sample(
    features_df: DataFrame,
    positives_df: DataFrame,
    *,
    max_negatives_per_positive: int,
    validation_share: float,
    seed: int,
) -> DataFrame:
    """Features with ``label`` (0/1) and ``is_validation``, negatives sampled down.

    Positives are split by the rank of their seeded hash, so about
    ``validation_share`` of them (the first one included) validate; other
    entities by hash bucket. Every positive row is kept; negatives are kept with the probability that
    leaves about ``max_negatives_per_positive`` per positive (all of them when
    fewer). Sampling and the split use a seeded hash of the token, so re-runs
    give the same set. With no positive the result has no positive; the caller
    decides what that means.
    """
    labelled = features_df.join(
        positives_df.withColumn(LABEL, F.lit(1)), on=ENTITY, how="left"
    ).fillna(0, subset=[LABEL])
    counts = {r[LABEL]: r["n"] for r in labelled.groupBy(LABEL).count().withColumnRenamed("count", "n").collect()}
    positives, negatives = counts.get(1, 0), counts.get(0, 0)
    keep_share = 1.0 if negatives == 0 else min(1.0, max(positives, 1) * max_negatives_per_positive / negatives)
    keep_buckets = max(1, round(keep_share * _BUCKETS))
    validation_buckets = round(validation_share * _BUCKETS)
    # Positives are few: split them by rank of their hash, so the validation
    # side gets its share of them (at least one) however few there are.
    positive_split = (
        labelled.where(F.col(LABEL) == 1)
        .select(ENTITY)
        .distinct()
        .withColumn("_rank", F.percent_rank().over(Window.orderBy(_bucket(seed), F.col(ENTITY))))
        .select(ENTITY, (F.col("_rank") < F.lit(validation_share)).alias("_positive_validation"))
    )
    return (
        labelled.where((F.col(LABEL) == 1) | (_bucket(seed + 1) < keep_buckets))
        .join(positive_split, on=ENTITY, how="left")
        .withColumn(
            IS_VALIDATION,
            F.when(F.col(LABEL) == 1, F.col("_positive_validation")).otherwise(_bucket(seed) < validation_buckets),
        )
        .drop("_positive_validation")
    )
