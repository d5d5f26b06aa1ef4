"""Where things live: raw feed partitions in, lake tables out.

The raw side follows CONTRACT.md (``RAW/<feed>/dt=YYYY-MM-DD/*.parquet``).
The lake side is the project's own layout, every table partitioned by ``dt``:

- ``clean/<feed>``: validated, pseudonymised feeds;
- ``quarantine/<feed>``: rows kept aside, pseudonymised, with ``reason``;
- ``features/<entity_type>``: one row per entity and day;
- ``scores``: the contract's score table;
- ``evaluation``: figures of ``fraud evaluate`` (JSON per day);
- ``audit``: append-only logs (re-identifications, subjects' requests, retention);
- ``subjects``: the erasure list (``privacy.erasure``);
- ``_meta``: the key fingerprint the lake was built with.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraudgraph.contract import AMOUNT_PRECISION, AMOUNT_SCALE, Feed, spark_schema
from fraudgraph.errors import FraudError, MissingInput, SchemaMismatch, UnreadableInput
from fraudgraph.pseudo import key_fingerprint

DT = "dt"
DATE_FORMAT = "%Y-%m-%d"


def parse_day(value: str) -> dt.date:
    try:
        return dt.datetime.strptime(value, DATE_FORMAT).date()
    except ValueError:
        raise FraudError(f"not a day YYYY-MM-DD: {value!r}") from None


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every day from ``first`` to ``last`` inclusive (empty when first > last)."""
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def partition_days(table_dir: Path) -> list[dt.date]:
    """The ``dt=`` partitions present under a folder, sorted; none when it does not exist."""
    if not table_dir.is_dir():
        return []
    days = []
    for child in table_dir.iterdir():
        if child.is_dir() and child.name.startswith(f"{DT}="):
            try:
                days.append(dt.datetime.strptime(child.name[3:], DATE_FORMAT).date())
            except ValueError:
                continue
    return sorted(days)


def dated_folders(root: Path, *, parquet: bool = False) -> list[Path]:
    """Every folder under ``root`` holding ``dt=`` partitions (with ``parquet``, partitions holding Parquet files:
    the lake's tables, not its pages), sorted. Folders whose name starts with ``.`` or ``_`` (staging, trash,
    ``_meta``) are skipped; none when ``root`` does not exist."""
    if not root.is_dir():
        return []
    found = []
    for child in sorted(root.iterdir()):
        if not child.is_dir() or child.name.startswith((".", "_")):
            continue
        parts = [p for p in child.glob(f"{DT}=*") if p.is_dir()]
        if any(not parquet or any(p.glob("*.parquet")) for p in parts):
            found.append(child)
        else:
            found += dated_folders(child, parquet=parquet)
    return found


def partition_path(table_dir: Path, day: dt.date) -> Path:
    return table_dir / f"{DT}={day.strftime(DATE_FORMAT)}"


class Raw:
    """The raw feeds root of CONTRACT.md."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def feed_dir(self, feed: Feed) -> Path:
        return self.root / feed.name

    def days(self, feed: Feed) -> list[dt.date]:
        feed_dir = self.feed_dir(feed)
        if not feed_dir.is_dir():
            raise MissingInput(f"feed {feed.name}: folder {feed_dir} not found")
        return partition_days(feed_dir)

    def days_to_read(self, feed: Feed, first: dt.date, last: dt.date) -> list[dt.date]:
        """Event feeds: the partitions in range. Snapshots: those in range, and the latest before it when none is
        on ``first`` (the copy in force on ``first``; a copy on ``first`` replaces it for the whole range)."""
        present = self.days(feed)
        in_range = [d for d in present if first <= d <= last]
        if feed.kind == "snapshot" and first not in in_range:
            before = [d for d in present if d < first]
            in_range = before[-1:] + in_range
            if not in_range:
                raise MissingInput(f"feed {feed.name}: no snapshot on or before {last}")
        return in_range

    def read(self, spark: SparkSession, feed: Feed, days: list[dt.date]) -> DataFrame:
        """The partitions of ``days`` in one read, checked against the contract and cast to its types, plus ``dt``.

        Files are read with merged schemas, so a partition whose column changed
        type fails here, naming the feed, instead of being read with another
        file's schema.
        """
        feed_dir = self.feed_dir(feed)
        paths = [str(partition_path(feed_dir, d)) for d in days if partition_path(feed_dir, d).is_dir()]
        if not paths:  # days with no delivery at all: no row, the contract's columns
            empty = spark.createDataFrame([], spark_schema(feed))
            return empty.withColumn(DT, F.lit(None).cast("string"))
        try:
            df = spark.read.option("basePath", str(feed_dir)).option("mergeSchema", "true").parquet(*paths)
            df.schema  # noqa: B018 -- resolve now, so a broken file fails inside this try
        except Exception as exc:  # Spark raises AnalysisException, SparkException and friends
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            error = SchemaMismatch if "merge" in reason.lower() else UnreadableInput
            raise error(f"feed {feed.name}: cannot read {len(paths)} partition(s) under {feed_dir}: {reason[:300]}") from None
        return conform(df, feed).withColumn(DT, F.col(DT).cast("string"))


def _accepts(expected: T.DataType, found: T.DataType) -> bool:
    if isinstance(expected, T.TimestampType):
        return isinstance(found, (T.TimestampType, T.TimestampNTZType))
    if isinstance(expected, T.IntegerType):
        return isinstance(found, (T.IntegerType, T.ShortType, T.LongType))
    if isinstance(expected, T.DecimalType):
        return isinstance(found, T.DecimalType) and found.scale <= AMOUNT_SCALE and (
            found.precision - found.scale <= AMOUNT_PRECISION - AMOUNT_SCALE
        )
    return expected == found


def conform(df: DataFrame, feed: Feed) -> DataFrame:
    """Check ``df`` against the contract; return the contract's columns in its types.

    Raises :class:`SchemaMismatch` naming the feed, the column, what was expected
    and what was found. Extra columns are ignored; integer and timestamp
    variants that hold the same values (long for int, timestamp_ntz for
    timestamp) are accepted and cast.
    """
    found = {f.name: f.dataType for f in df.schema.fields if f.name != DT}
    expected = spark_schema(feed)
    for field in expected.fields:
        if field.name not in found:
            raise SchemaMismatch(
                f"feed {feed.name}: column {field.name} missing "
                f"(expected {field.dataType.simpleString()}; found columns: {', '.join(sorted(found))})"
            )
        if not _accepts(field.dataType, found[field.name]):
            raise SchemaMismatch(
                f"feed {feed.name}: column {field.name} expected {field.dataType.simpleString()}, "
                f"found {found[field.name].simpleString()}"
            )
    return df.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in expected.fields] + [c for c in df.columns if c == DT])


class Lake:
    """The pipeline's output root."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def table(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def clean(self, feed: Feed) -> Path:
        return self.table("clean", feed.name)

    def quarantine(self, feed: Feed) -> Path:
        return self.table("quarantine", feed.name)

    def features(self, entity_type: str) -> Path:
        return self.table("features", entity_type)

    @property
    def scores(self) -> Path:
        return self.table("scores")

    @property
    def exposure_sources(self) -> Path:
        return self.table("exposure_sources")

    @property
    def at_risk(self) -> Path:
        return self.table("at_risk")

    @property
    def cases(self) -> Path:
        return self.table("cases")

    @property
    def reports(self) -> Path:
        return self.table("reports")

    @property
    def evaluation(self) -> Path:
        return self.table("evaluation")

    @property
    def mlflow_uri(self) -> str:
        return f"sqlite:///{self.root.resolve() / 'mlflow.db'}"

    @property
    def artifacts_uri(self) -> str:
        return (self.root.resolve() / "mlartifacts").as_uri()

    def check_key(self, key: bytes) -> None:
        """Record the key's fingerprint on first use; refuse a lake built with another key."""
        meta = self.table("_meta", "pseudonymisation.json")
        fingerprint = key_fingerprint(key)
        if meta.exists():
            recorded = json.loads(meta.read_text())["key_fingerprint"]
            if recorded != fingerprint:
                raise FraudError(
                    f"lake {self.root} was built with another FRAUD_PSEUDO_KEY "
                    f"(fingerprint {recorded}, this key {fingerprint}): tokens would not join"
                )
            return
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(json.dumps({"key_fingerprint": fingerprint}) + "\n")

    def _marker_dir(self, feed: Feed) -> Path:
        return self.table("_meta", "ingested", feed.name)

    def mark_ingested(self, feed: Feed, days: list[dt.date]) -> None:
        """Record that ``days`` of ``feed`` went through ingestion, even when a day had no row."""
        marker_dir = self._marker_dir(feed)
        for day in days:
            partition_path(marker_dir, day).mkdir(parents=True, exist_ok=True)

    def ingested_days(self, feed: Feed) -> list[dt.date]:
        return partition_days(self._marker_dir(feed))

    def read_clean(self, spark: SparkSession, feed: Feed, days: list[dt.date]) -> DataFrame:
        """The clean partitions of ``days``; a clear error naming the first day never ingested."""
        ingested = set(self.ingested_days(feed))
        missing = [d for d in days if d not in ingested]
        if missing:
            raise MissingInput(
                f"lake has no {feed.name} for {missing[0]} ({len(missing)} day(s) missing): "
                "run fraud ingest for them first"
            )
        table_dir = self.clean(feed)
        present = set(partition_days(table_dir))
        paths = [str(partition_path(table_dir, d)) for d in days if d in present]
        if not paths:
            raise MissingInput(f"lake has no {feed.name} row from {days[0]} to {days[-1]}")
        return spark.read.option("basePath", str(table_dir)).parquet(*paths)

    def read_clean_snapshot(self, spark: SparkSession, feed: Feed, day: dt.date) -> DataFrame:
        """The latest clean snapshot on or before ``day``."""
        present = [d for d in partition_days(self.clean(feed)) if d <= day]
        if not present:
            raise MissingInput(f"lake has no {feed.name} snapshot on or before {day}: run fraud ingest first")
        return self.read_clean(spark, feed, present[-1:])

    def read_clean_before(self, spark: SparkSession, feed: Feed, day: dt.date) -> DataFrame:
        """Every clean partition before ``day`` (labels: all that was reported before it)."""
        days = [d for d in self.ingested_days(feed) if d < day]
        if not days:
            raise MissingInput(f"lake has no {feed.name} before {day}: run fraud ingest first")
        return self.read_clean(spark, feed, days)


STAGING_PREFIX = ".staging-"
TRASH_PREFIX = ".trash-"
# Fault injection for the crash tests: "trash:N" stops the process right after
# the N-th old partition was moved aside, before its replacement moves in.
CRASH_AT_ENV = "FRAUDGRAPH_CRASH_AT"


def _crash_point(stage: str, count: int) -> None:
    if os.environ.get(CRASH_AT_ENV) == f"{stage}:{count}":
        os._exit(70)


def recover(root: Path) -> list[Path]:
    """Undo what a killed write left: put moved-aside partitions back where none replaced them.

    Returns the partitions restored. Staging folders of dead runs are removed.
    """
    restored = []
    for trash in sorted(root.rglob(f"{TRASH_PREFIX}*")):
        if not trash.is_dir():
            continue
        table_dir = trash.parent / trash.name[len(TRASH_PREFIX) :].rsplit("-", 1)[0]
        for part in sorted(trash.iterdir()):
            final = table_dir / part.name
            if not final.exists():
                part.rename(final)
                restored.append(final)
        shutil.rmtree(trash, ignore_errors=True)
    for staging in root.rglob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(staging, ignore_errors=True)
    return restored


def write_partitions(df: DataFrame, table_dir: Path, *, days: list[str] | None = None) -> None:
    """Replace the table's partitions for ``days`` (default: the ``dt`` values ``df`` holds) with ``df``'s rows.

    Spark writes aside into a staging folder; then each partition is swapped
    in by two renames (old aside, new in), so a run killed during the Spark
    write leaves every partition as it was, and one killed between renames
    leaves each partition either old or new (:func:`recover` puts back an old
    one whose new one never arrived). A day in ``days`` with no row in ``df``
    loses its partition: the table then holds exactly what this run wrote.
    """
    run = uuid.uuid4().hex[:12]
    staging = table_dir.parent / f"{STAGING_PREFIX}{table_dir.name}-{run}"
    trash = table_dir.parent / f"{TRASH_PREFIX}{table_dir.name}-{run}"
    df.write.mode("overwrite").partitionBy(DT).parquet(str(staging))
    staged = {p.name: p for p in staging.glob(f"{DT}=*") if p.is_dir()}
    targets = sorted(staged) if days is None else sorted({f"{DT}={d}" for d in days})
    table_dir.mkdir(parents=True, exist_ok=True)
    trash.mkdir(parents=True, exist_ok=True)
    for count, name in enumerate(targets, start=1):
        final = table_dir / name
        if final.exists():
            final.rename(trash / name)
            _crash_point("trash", count)
        if name in staged:
            staged[name].rename(final)
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(trash, ignore_errors=True)


def rewrite_partition(df: DataFrame, table_dir: Path, day: str) -> None:
    """Replace the partition ``dt=day`` of a table with ``df`` (its rows, without ``dt``), swapped in as
    :func:`write_partitions` does.

    The partition's side files (names starting with ``_``, such as a day's
    ``_diff.json``; not ``_SUCCESS``) are kept. When no row is left, the
    partition stays, empty, with the columns, so readers of that day still
    find its schema.
    """
    target = table_dir / f"{DT}={day}"
    side = {p.name: p.read_bytes() for p in target.glob("_*") if p.is_file() and p.name != "_SUCCESS"}
    schema = df.schema
    write_partitions(df.withColumn(DT, F.lit(day)), table_dir, days=[day])
    if not target.is_dir():
        df.sparkSession.createDataFrame([], schema).write.mode("overwrite").parquet(str(target))
    for name, content in side.items():
        (target / name).write_bytes(content)


def parquet_rows(folder: Path) -> int:
    """Rows of the Parquet files under ``folder``, from their footers (no data read); 0 when there is none."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in folder.rglob("*.parquet") if f.is_file())


def remove_partitions(table_dir: Path, days: list[dt.date]) -> list[Path]:
    """Delete the partitions of ``days`` (each moved aside first, then removed); returns those that existed."""
    removed = []
    trash = table_dir.parent / f"{TRASH_PREFIX}{table_dir.name}-{uuid.uuid4().hex[:12]}"
    for day in days:
        part = partition_path(table_dir, day)
        if part.is_dir():
            trash.mkdir(parents=True, exist_ok=True)
            part.rename(trash / part.name)
            removed.append(part)
    shutil.rmtree(trash, ignore_errors=True)
    return removed
