"""Training sets that respect time.

Labels are those reported before the as-of day; features come from windows
ending before it. An entity's standing is its latest label reported before
as-of among the positive ones (``fraud`` for numbers; ``mule`` or ``fraud``
for accounts) and the clearance ``legit`` (an analyst's false positive, a bank's
or operator's all-clear): positive, or a confirmed negative. Every other
entity (a victim, or never labelled) is unlabelled and taken as a negative.
Positives and confirmed negatives are all kept; unlabelled entities are
sampled down, and each row carries ``sample_weight``, the inverse of its
chance to be kept, so that weighted figures (calibration) describe the whole
population. Entities are split into training and validation by a hash of
their token, so no entity is on both sides, whatever snapshot it appears in.
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
CONFIRMED_NEGATIVE = "confirmed_negative"
WEIGHT = "sample_weight"
POSITIVE_LABELS = {MSISDN: ("fraud",), ACCOUNT: ("mule", "fraud")}
CLEARED_LABEL = "legit"
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


def known_before(labels_df: DataFrame, *, entity_type: str, as_of: dt.date) -> DataFrame:
    """``entity_token`` and ``label`` (1 positive, 0 cleared) of every entity with a standing before ``as_of``.

    The latest positive or ``legit`` label reported before as-of decides; a positive wins a tie. A number
    reported as fraud and then cleared is a confirmed negative; one cleared and later reported is a positive.
    """
    require_columns(labels_df, LABEL_COLUMNS, "known_before")
    positive = F.col("label").isin(list(POSITIVE_LABELS[entity_type]))
    return (
        labels_df.where(
            (F.col("entity_type") == entity_type)
            & F.col("entity_id").isNotNull()
            & (positive | (F.col("label") == CLEARED_LABEL))
            & (F.to_date(F.col("reported_time")) < F.lit(as_of))
        )
        .groupBy(F.col("entity_id").alias(ENTITY))
        .agg(F.max(F.struct(F.col("reported_time"), positive.cast("int").alias(LABEL))).alias("_latest"))
        .select(ENTITY, F.col("_latest")[LABEL].alias(LABEL))
    )


def _bucket(seed: int) -> F.Column:
    return F.pmod(F.xxhash64(F.col(ENTITY), F.lit(seed)), F.lit(_BUCKETS))


def labelled_sample(
    features_df: DataFrame,
    known_df: DataFrame,
    *,
    max_negatives_per_positive: int,
    validation_share: float,
    seed: int,
) -> DataFrame:
    """Features with ``label`` (0/1), ``confirmed_negative``, ``sample_weight`` and ``is_validation``.

    ``known_df`` holds the known standings (:func:`known_before`: ``entity_token``, ``label``). Every
    positive and confirmed negative row is kept, with weight 1; unlabelled rows are kept with the
    probability that leaves about ``max_negatives_per_positive`` per positive (all of them when fewer), and
    weigh the inverse of it. Positives are split by the rank of their seeded hash, so about
    ``validation_share`` of them (the first one included) validate; other entities by hash bucket.
    Sampling and the split use a seeded hash of the token, so re-runs give the same set. With no positive
    the result has no positive; the caller decides what that means.
    """
    require_columns(known_df, (ENTITY, LABEL), "labelled_sample")
    labelled = (
        features_df.join(known_df.select(ENTITY, F.col(LABEL).cast("int").alias("_known")), on=ENTITY, how="left")
        .withColumn(LABEL, F.coalesce(F.col("_known"), F.lit(0)))
        .withColumn(CONFIRMED_NEGATIVE, F.coalesce(F.col("_known") == 0, F.lit(False)))
        .drop("_known")
    )
    counts = {
        (r[LABEL], r[CONFIRMED_NEGATIVE]): r["n"]
        for r in labelled.groupBy(LABEL, CONFIRMED_NEGATIVE).agg(F.count(F.lit(1)).alias("n")).collect()
    }
    positives, unlabelled = counts.get((1, False), 0), counts.get((0, False), 0)
    keep_share = 1.0 if unlabelled == 0 else min(1.0, max(positives, 1) * max_negatives_per_positive / unlabelled)
    keep_buckets = max(1, round(keep_share * _BUCKETS))
    validation_buckets = round(validation_share * _BUCKETS)
    always = (F.col(LABEL) == 1) | F.col(CONFIRMED_NEGATIVE)
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
        labelled.where(always | (_bucket(seed + 1) < keep_buckets))
        .withColumn(WEIGHT, F.when(always, F.lit(1.0)).otherwise(F.lit(_BUCKETS / keep_buckets)))
        .join(positive_split, on=ENTITY, how="left")
        .withColumn(
            IS_VALIDATION,
            F.when(F.col(LABEL) == 1, F.col("_positive_validation")).otherwise(_bucket(seed) < validation_buckets),
        )
        .drop("_positive_validation")
    )
