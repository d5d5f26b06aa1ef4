"""Case ids that last from one day to the next, with merges, splits and the day's diff.

An analyst follows a ring for days, so its case keeps its id while its members
change. Each of the day's clusters is compared with the last cases by the
members they share (tokens of numbers and accounts):

- every earlier case has an **heir**: the cluster that holds most of its
  members (ties: the smaller cluster key);
- a cluster that is the heir of one or more cases keeps the id of the one it
  shares most members with (ties: the case seen first, then the smaller id).
  The others are recorded in ``merged_from``;
- a cluster that is nobody's heir gets a new id. When it still shares members
  with an earlier case (that case's heir is another cluster), it was split off
  it: ``split_from``;
- an earlier case with no member in any cluster has **gone quiet**.

``change`` says what happened: ``new``, ``split``, ``merged``, ``grown``,
``shrunk`` or ``continuing``. New ids are ``C<yyyymmdd>-<8 hex>``, from the
day and a hash of the cluster's smallest member token, so a re-run of the day
gives the same ids. All of it is joins and windows on Spark.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from features.common import ENTITY, require_columns

CASE_ID = "case_id"
CLUSTER = "cluster"
FIRST_SEEN = "first_seen"
CASE_CHANGE = (CLUSTER, CASE_ID, FIRST_SEEN, "change", "merged_from", "split_from", "members", "previous_members")
GONE = (CASE_ID, FIRST_SEEN, "previous_members")


def assign_case_ids(today: DataFrame, previous: DataFrame | None, *, day: dt.date) -> tuple[DataFrame, DataFrame]:
    """``today``: members (``cluster``, ``entity_token``); ``previous``: the last cases' members (``case_id``,
    ``entity_token``, ``first_seen``), or None on the first day.

    Returns one row per cluster (:data:`CASE_CHANGE`) and the cases gone quiet (:data:`GONE`).
    """
    require_columns(today, (CLUSTER, ENTITY), "assign_case_ids today")
    members = today.select(CLUSTER, ENTITY).where(F.col(ENTITY).isNotNull()).distinct()
    sizes = today.groupBy(CLUSTER).agg(
        F.countDistinct(ENTITY).alias("members"), F.min(ENTITY).alias("_smallest")
    )
    fresh_id = F.concat(F.lit(f"C{day:%Y%m%d}-"), F.substring(F.sha2(F.coalesce(F.col("_smallest"), F.col(CLUSTER)), 256), 1, 8))
    if previous is None:
        cases = sizes.select(
            CLUSTER, fresh_id.alias(CASE_ID), F.lit(day).alias(FIRST_SEEN), F.lit("new").alias("change"),
            F.array().cast("array<string>").alias("merged_from"), F.lit(None).cast("string").alias("split_from"),
            "members", F.lit(None).cast("long").alias("previous_members"),
        )
        return cases, cases.sparkSession.createDataFrame([], f"{CASE_ID} string, {FIRST_SEEN} date, previous_members long")
    require_columns(previous, (CASE_ID, ENTITY, FIRST_SEEN), "assign_case_ids previous")
    earlier = previous.groupBy(CASE_ID).agg(
        F.min(FIRST_SEEN).alias(FIRST_SEEN), F.countDistinct(ENTITY).alias("previous_members")
    ).cache()
    overlap = (
        members.join(previous.select(CASE_ID, ENTITY).distinct(), on=ENTITY)
        .groupBy(CLUSTER, CASE_ID)
        .agg(F.count(F.lit(1)).alias("shared"))
        .join(earlier, on=CASE_ID)
        .cache()
    )
    heirs = overlap.withColumn(
        "_heir", F.row_number().over(Window.partitionBy(CASE_ID).orderBy(F.col("shared").desc(), F.col(CLUSTER)))
    ).where(F.col("_heir") == 1)
    inherited = (
        heirs.withColumn(
            "_keep",
            F.row_number().over(
                Window.partitionBy(CLUSTER).orderBy(F.col("shared").desc(), F.col(FIRST_SEEN), F.col(CASE_ID))
            ),
        )
        .groupBy(CLUSTER)
        .agg(
            F.max(F.when(F.col("_keep") == 1, F.col(CASE_ID))).alias("_kept"),
            F.min(FIRST_SEEN).alias("_first_seen"),
            F.max(F.when(F.col("_keep") == 1, F.col("previous_members"))).alias("previous_members"),
            F.sort_array(F.collect_list(F.when(F.col("_keep") > 1, F.col(CASE_ID)))).alias("merged_from"),
        )
    )
    split_from = (
        overlap.withColumn(
            "_most", F.row_number().over(Window.partitionBy(CLUSTER).orderBy(F.col("shared").desc(), F.col(CASE_ID)))
        )
        .where(F.col("_most") == 1)
        .select(CLUSTER, F.col(CASE_ID).alias("_overlapping"))
    )
    kept = F.col("_kept").isNotNull()
    change = (
        F.when(~kept & F.col("_overlapping").isNotNull(), F.lit("split"))
        .when(~kept, F.lit("new"))
        .when(F.size("merged_from") > 0, F.lit("merged"))
        .when(F.col("members") > F.col("previous_members"), F.lit("grown"))
        .when(F.col("members") < F.col("previous_members"), F.lit("shrunk"))
        .otherwise(F.lit("continuing"))
    )
    cases = (
        sizes.join(inherited, on=CLUSTER, how="left")
        .join(split_from, on=CLUSTER, how="left")
        .select(
            CLUSTER,
            F.coalesce(F.col("_kept"), fresh_id).alias(CASE_ID),
            F.when(kept, F.col("_first_seen")).otherwise(F.lit(day)).alias(FIRST_SEEN),
            change.alias("change"),
            F.coalesce(F.col("merged_from"), F.array().cast("array<string>")).alias("merged_from"),
            F.when(~kept, F.col("_overlapping")).alias("split_from"),
            "members",
            F.when(kept, F.col("previous_members")).cast("long").alias("previous_members"),
        )
    )
    gone = earlier.join(overlap.select(CASE_ID).distinct(), on=CASE_ID, how="left_anti").select(*GONE)
    return cases, gone
