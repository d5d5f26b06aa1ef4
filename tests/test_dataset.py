from __future__ import annotations

import datetime as dt

from models.dataset import (
    CONFIRMED_NEGATIVE,
    IS_VALIDATION,
    LABEL,
    WEIGHT,
    known_before,
    labelled_sample,
    positives_before,
)


def test_positives_are_labels_of_the_right_kind_reported_before_as_of(spark):
    labels = spark.createDataFrame(
        [
            ("msisdn", "a", "fraud", dt.datetime(2026, 5, 2, 23, 59)),
            ("msisdn", "b", "fraud", dt.datetime(2026, 5, 3, 0, 0)),  # reported on the as-of day: not known
            ("msisdn", "c", "victim", dt.datetime(2026, 5, 1)),
            ("account", "d", "mule", dt.datetime(2026, 5, 1)),
            ("msisdn", None, "fraud", None),
        ],
        "entity_type string, entity_id string, label string, reported_time timestamp_ntz",
    )
    got = {r["entity_token"] for r in positives_before(labels, entity_type="msisdn", as_of=dt.date(2026, 5, 3)).collect()}
    assert got == {"a"}
    got = {r["entity_token"] for r in positives_before(labels, entity_type="account", as_of=dt.date(2026, 5, 3)).collect()}
    assert got == {"d"}


def test_split_puts_a_share_of_few_positives_on_each_side_and_no_entity_on_both(spark):
    rows = [(f"p{i}", s, 1.0) for i in range(4) for s in ("w1", "w2")]
    rows += [(f"n{i}", s, 0.0) for i in range(200) for s in ("w1", "w2")]
    rows.append((None, "w1", None))
    features = spark.createDataFrame(rows, "entity_token string, snapshot string, x double")
    positives = spark.createDataFrame([(f"p{i}", 1) for i in range(4)], "entity_token string, label int")
    out = labelled_sample(features, positives, max_negatives_per_positive=1000, validation_share=0.25, seed=7).toPandas()
    positive_sides = out[out[LABEL] == 1].groupby("entity_token")[IS_VALIDATION].agg(["min", "max"])
    assert (positive_sides["min"] == positive_sides["max"]).all()  # both snapshots of an entity on one side
    assert positive_sides["min"].sum() == 1  # a quarter of four positives validate
    sides = out.groupby(out["entity_token"].fillna("null"))[IS_VALIDATION].nunique()
    assert (sides == 1).all()
    assert 0.1 < out[out[LABEL] == 0][IS_VALIDATION].mean() < 0.4


def test_negatives_are_sampled_down_to_the_cap(spark):
    rows = [(f"p{i}", 1.0) for i in range(10)] + [(f"n{i}", 0.0) for i in range(5000)]
    features = spark.createDataFrame(rows, "entity_token string, x double")
    positives = spark.createDataFrame([(f"p{i}", 1) for i in range(10)], "entity_token string, label int")
    out = labelled_sample(features, positives, max_negatives_per_positive=50, validation_share=0.25, seed=7).toPandas()
    assert (out[LABEL] == 1).sum() == 10
    assert 350 < (out[LABEL] == 0).sum() < 650
    # Weighted back, the sampled negatives stand for all 5,000.
    assert (out.loc[out[LABEL] == 1, WEIGHT] == 1.0).all()
    assert abs(out.loc[out[LABEL] == 0, WEIGHT].sum() - 5000) < 600


def test_latest_standing_wins_and_clearances_are_confirmed_negatives(spark):
    labels = spark.createDataFrame(
        [
            ("msisdn", "reported_then_cleared", "fraud", dt.datetime(2026, 5, 1, 9)),
            ("msisdn", "reported_then_cleared", "legit", dt.datetime(2026, 5, 2, 9)),
            ("msisdn", "cleared_then_reported", "legit", dt.datetime(2026, 5, 1, 9)),
            ("msisdn", "cleared_then_reported", "fraud", dt.datetime(2026, 5, 2, 9)),
            ("msisdn", "same_time", "legit", dt.datetime(2026, 5, 1, 9)),
            ("msisdn", "same_time", "fraud", dt.datetime(2026, 5, 1, 9)),
            ("msisdn", "cleared_late", "fraud", dt.datetime(2026, 5, 1, 9)),
            ("msisdn", "cleared_late", "legit", dt.datetime(2026, 5, 3, 9)),  # on the as-of day: not known yet
            ("msisdn", "victim", "victim", dt.datetime(2026, 5, 1, 9)),
            ("account", "mule", "mule", dt.datetime(2026, 5, 1, 9)),
        ],
        "entity_type string, entity_id string, label string, reported_time timestamp_ntz",
    )
    known = {r["entity_token"]: r[LABEL] for r in known_before(labels, entity_type="msisdn", as_of=dt.date(2026, 5, 3)).collect()}
    assert known == {"reported_then_cleared": 0, "cleared_then_reported": 1, "same_time": 1, "cleared_late": 1}

    # Confirmed negatives are all kept, whatever the cap, with weight 1; unlabelled ones are sampled.
    rows = [("p", 1.0), *[(f"c{i}", 0.0) for i in range(300)], *[(f"n{i}", 0.0) for i in range(3000)]]
    features = spark.createDataFrame(rows, "entity_token string, x double")
    standing = spark.createDataFrame([("p", 1), *[(f"c{i}", 0) for i in range(300)]], "entity_token string, label int")
    out = labelled_sample(features, standing, max_negatives_per_positive=20, validation_share=0.25, seed=7).toPandas()
    confirmed = out[out[CONFIRMED_NEGATIVE]]
    assert set(confirmed["entity_token"]) == {f"c{i}" for i in range(300)}
    assert (confirmed[LABEL] == 0).all() and (confirmed[WEIGHT] == 1.0).all()
    unlabelled = out[(out[LABEL] == 0) & ~out[CONFIRMED_NEGATIVE]]
    assert 5 < len(unlabelled) < 60 and (unlabelled[WEIGHT] > 50).all()


def test_to_pandas_matches_spark_to_pandas_in_order_and_types(spark):
    # The training sample reaches the driver through fraudgraph.spark.to_pandas (one copy of the rows at a
    # time); it must give what DataFrame.toPandas gives: same values, dtypes (nullable ints as floats) and order.
    import pandas as pd

    from fraudgraph.spark import to_pandas

    rows = [(f"t{i % 97:03d}", i, None if i % 5 == 0 else i * 2, i / 3.0, i % 2 == 0) for i in range(500)]
    df = spark.createDataFrame(rows, "entity_token string, n int, maybe int, x double, flag boolean").repartition(4)
    ordered = df.orderBy("entity_token", "n")
    lean, spark_side = to_pandas(ordered), ordered.toPandas()
    pd.testing.assert_frame_equal(lean, spark_side)
    assert list(lean["n"]) == sorted(lean["n"], key=lambda n: (f"t{n % 97:03d}", n))
    empty = to_pandas(df.limit(0))
    assert len(empty) == 0 and list(empty.columns) == df.columns
