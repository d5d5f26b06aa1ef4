"""The one place a SparkSession is built (jobs and tests call it; library code never does)."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from fraudgraph.config import SparkConf

# Contract times are local China time without a zone.
SESSION_TIME_ZONE = "Asia/Shanghai"
MAX_PLAN_STRING = 1 << 20

# JVM options put before the configured ones (which can override them). A whole `fraud run` plans
# hundreds of queries in one JVM, and Spark compiles a class for each: the default 240 MB code cache
# filled up in the end-to-end test, and the JVM then stops compiling ("CodeCache is full. Compiler has been
# disabled"). The JVM also prints such warnings on stdout, where the `fraud` command writes its JSON
# result: they go to stderr instead.
JVM_OPTIONS = "-XX:ReservedCodeCacheSize=512m -Xlog:disable -Xlog:all=warning:stderr"


def prepare_environment() -> None:
    """Executors run this interpreter; Spark binds to loopback unless told otherwise."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


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
    for key, value in settings.items():
        builder = builder.config(key, str(value))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
