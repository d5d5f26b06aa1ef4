"""The one place a SparkSession is built (jobs and tests call it; library code never does)."""

from __future__ import annotations

import atexit
import importlib
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, SparkSession

from fraudgraph.config import SparkConf

if TYPE_CHECKING:
    import pandas as pd

# Contract times are local China time without a zone.
SESSION_TIME_ZONE = "Asia/Shanghai"
MAX_PLAN_STRING = 1 << 20

# JVM options put before the configured ones (which can override them). A whole `fraud run` plans
# hundreds of queries in one JVM, and Spark compiles a class for each: the default 240 MB code cache
# filled up in the end-to-end test, and the JVM then stops compiling ("CodeCache is full. Compiler has been
# disabled"). The JVM also prints such warnings on stdout, where the `fraud` command writes its JSON
# result: they go to stderr instead.
JVM_OPTIONS = "-XX:ReservedCodeCacheSize=512m -Xlog:disable -Xlog:all=warning:stderr"

# Spark's scheduler logs an ERROR, with a stack trace, for each task that reports a metric the driver has
# already let go of ("Failed to update accumulator 7370 (Unknown class) for task 0"). Our reading, not traced
# to the line: a plan's SQL metrics are freed once nothing on the driver references the plan, while tasks of
# a stage it shared with other jobs can still be reporting them (SPARK-25910 silenced one such case). The
# metrics are Spark's own bookkeeping, read by no job; the features of the 10M window were identical whether
# a run printed none of these or over a thousand (bench/README.md, "Hubs read once"). They are dropped;
# every other scheduler error is logged as before.
STALE_METRIC_UPDATE = r"Failed to update accumulator \d+ \(Unknown class\) for task \d+"

# glibc malloc arenas per JVM (prepare_environment; conf/cluster.yaml sets the executors' own).
MALLOC_ARENAS = "4"

# The project's packages that Python workers import (scoring in Arrow batches, the split of large clusters)
# and what they import in turn. A cluster's executors do not have the project installed: the driver ships
# them a zip of these. The simulator runs on the driver only.
EXECUTOR_PACKAGES = ("fraudgraph", "features", "models", "cases", "ingestion", "jobs", "privacy")


def prepare_environment() -> None:
    """Executors run this interpreter; Spark binds to loopback unless told otherwise."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # glibc gives each thread that mallocs its own arena, up to 8 per core, and keeps what they freed: a
    # JVM's hundreds of threads (codecs, Parquet, shuffle) grow its memory well past its heap. Hadoop and
    # YARN set 4 for their JVMs. Read when the JVM (started from here) starts.
    os.environ.setdefault("MALLOC_ARENA_MAX", MALLOC_ARENAS)


def build_session(conf: SparkConf, *, extra: dict[str, str] | None = None) -> SparkSession:
    """A session for the jobs, from the ``spark`` section of the configuration."""
    prepare_environment()
    builder = (
        SparkSession.builder.master(conf.master)
        .appName(conf.app_name)
        .config("spark.driver.memory", conf.driver_memory)
        .config("spark.sql.shuffle.partitions", str(conf.shuffle_partitions))
        .config("spark.sql.session.timeZone", SESSION_TIME_ZONE)
        # dt= folders stay strings: a date in a path is a name, not a value to infer.
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .config("spark.sql.parquet.compression.codec", "zstd")
        .config("spark.ui.showConsoleProgress", "false")
        # Spark renders every query's plan as text for its listeners; iterative jobs (connected components)
        # make plans whose text alone can exhaust the driver's heap. Past this length it is cut.
        .config("spark.sql.maxPlanStringLength", str(MAX_PLAN_STRING))
    )
    settings = {**conf.extra, **(extra or {})}
    for side in ("driver", "executor"):
        key = f"spark.{side}.extraJavaOptions"
        settings[key] = f"{JVM_OPTIONS} {settings.get(key, '')}".strip()
    if conf.checkpoint_dir:  # reliable checkpoints: each run's own subfolder, removed as its frames go
        settings.setdefault("spark.cleaner.referenceTracking.cleanCheckpoints", "true")
    for key, value in settings.items():
        builder = builder.config(key, str(value))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    _drop_log_messages(spark, STALE_METRIC_UPDATE)
    if conf.checkpoint_dir:
        spark.sparkContext.setCheckpointDir(conf.checkpoint_dir)
    if not conf.master.startswith("local"):
        spark.sparkContext.addPyFile(str(code_archive()))
    return spark


def _drop_log_messages(spark: SparkSession, regex: str) -> None:
    """Drop the driver JVM's log events whose message matches ``regex`` (a log4j filter on the whole context,
    added once per JVM: a process's later sessions share its JVM)."""
    gateway = spark.sparkContext._gateway
    dropped = gateway.__dict__.setdefault("fraudgraph_dropped_log_messages", set())
    if regex in dropped:
        return
    dropped.add(regex)
    jvm = spark.sparkContext._jvm
    core = jvm.org.apache.logging.log4j.core
    result = getattr(core, "Filter$Result")
    context = jvm.org.apache.logging.log4j.LogManager.getContext(False)
    drop = core.filter.RegexFilter.createFilter(regex, None, False, result.DENY, result.NEUTRAL)
    context.getConfiguration().addFilter(drop)
    context.updateLoggers()


def code_archive(folder: Path | None = None) -> Path:
    """A zip of :data:`EXECUTOR_PACKAGES` as this interpreter imports them, in ``folder`` (for spark-submit's
    ``--py-files``); without one, in a temporary folder removed when the process exits."""
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="fraudgraph-code-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "fraudgraph_code.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in EXECUTOR_PACKAGES:
            root = Path(importlib.import_module(name).__file__).parent
            for file in sorted(root.rglob("*.py")):
                archive.write(file, (Path(name) / file.relative_to(root)).as_posix())
    return target


def to_pandas(df: DataFrame) -> pd.DataFrame:
    """``df`` in the driver as pandas, holding about one copy of its rows at a time.

    ``DataFrame.toPandas`` peaks at about four times the frame it returns (Arrow batches, a pandas series
    per column, then one consolidated block); at 100M call records the training sample's 0.55 GiB frame
    cost 2.2 GiB. Taking the Arrow table and letting pandas free each column as it converts it (one block per
    column) peaks at about 1.1 times the frame. Rows keep the frame's order.
    """
    import pyarrow as pa

    frame = df.toArrow().to_pandas(self_destruct=True, split_blocks=True, use_threads=False)
    pa.default_memory_pool().release_unused()  # the freed batches' memory, back to the system
    return frame


def release_driver_memory() -> None:
    """Hand what the Python driver freed back to the system (glibc keeps freed heap memory otherwise).

    Training holds one entity type's sample after another: without this, the first one's freed frames and
    LightGBM buffers stay in the process under the next one's (0.5 GiB at 100M call records).
    """
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "malloc_trim"):  # glibc only; elsewhere nothing to do
        libc.malloc_trim(0)


def release_checkpoints(spark: SparkSession) -> None:
    """Remove this session's reliable-checkpoint subfolder, if any (a daily job reads nothing back from it)."""
    folder = spark.sparkContext.getCheckpointDir()
    if not folder:
        return
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(folder)
    path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).delete(path, True)


def persisted_rdd_ids(spark: SparkSession) -> set[int]:
    """Ids of the RDDs the session keeps in its block stores: cached tables and local checkpoints alike."""
    return {int(key) for key in spark.sparkContext._jsc.getPersistentRDDs().keySet().toArray()}


@contextmanager
def released_at_end(spark: SparkSession) -> Iterator[None]:
    """Free, when the block ends, whatever it left in the executors' block stores.

    ``spark.catalog.clearCache()`` frees cached tables only. Local checkpoints (the lineage cuts of the
    components' and the propagation's iterations) are persisted RDDs with no table: without this they stay
    in the block stores for the whole session, a window after another in training and a daily run. Every
    cached table is dropped too (a job re-reads what it needs from the lake), and every RDD persisted inside
    the block is unpersisted; RDDs persisted before it stay.
    """
    before = persisted_rdd_ids(spark)
    try:
        yield
    finally:
        spark.catalog.clearCache()
        persistent = spark.sparkContext._jsc.getPersistentRDDs()
        for rdd_id in persistent.keySet().toArray():
            if int(rdd_id) not in before:
                persistent.get(rdd_id).unpersist(False)
