"""The raw feeds of ``shared/CONTRACT.md`` (v1), declared once.

Every other module (ingestion, the simulator, test fixtures) derives its
Spark or Arrow schema from :data:`FEEDS`; nothing else spells out a feed's
columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TypeName = Literal["string", "int", "date", "timestamp", "boolean", "decimal"]
FeedKind = Literal["event", "snapshot"]

# Identifier kinds of the pseudonymisation rule (CONTRACT.md section 2).
MSISDN = "msisdn"
ID_NUMBER = "id_number"
IMEI = "imei"
ACCOUNT = "account"

# decimal(18,2), CNY.
AMOUNT_PRECISION = 18
AMOUNT_SCALE = 2


@dataclass(frozen=True)
class Column:
    """One contract column; ``identifier`` names its pseudonymisation kind."""

    name: str
    type_name: TypeName
    nullable: bool = False
    identifier: str | None = None


@dataclass(frozen=True)
class Feed:
    """One raw feed: its folder name, kind, columns and key columns."""

    name: str
    kind: FeedKind
    columns: tuple[Column, ...]
    event_id: str | None = None
    event_time: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def identifier_columns(self) -> list[Column]:
        return [c for c in self.columns if c.identifier is not None]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"feed {self.name} has no column {name}")


SUBSCRIBERS = Feed(
    "subscribers",
    "snapshot",
    (
        Column("msisdn", "string", identifier=MSISDN),
        Column("id_number", "string", nullable=True, identifier=ID_NUMBER),
        Column("activation_date", "date"),
        Column("plan_type", "string"),
        Column("home_city", "string", nullable=True),
        Column("status", "string"),
    ),
)

CALLS = Feed(
    "calls",
    "event",
    (
        Column("call_id", "string"),
        Column("caller", "string", identifier=MSISDN),
        Column("callee", "string", identifier=MSISDN),
        Column("start_time", "timestamp"),
        Column("duration_s", "int"),
        Column("caller_imei", "string", nullable=True, identifier=IMEI),
        Column("cell_id", "string", nullable=True),
    ),
    event_id="call_id",
    event_time="start_time",
)

SMS = Feed(
    "sms",
    "event",
    (
        Column("sms_id", "string"),
        Column("sender", "string", identifier=MSISDN),
        Column("receiver", "string", identifier=MSISDN),
        Column("send_time", "timestamp"),
        Column("has_url", "boolean"),
    ),
    event_id="sms_id",
    event_time="send_time",
)

ACCOUNTS = Feed(
    "accounts",
    "snapshot",
    (
        Column("account_id", "string", identifier=ACCOUNT),
        Column("holder_id_number", "string", nullable=True, identifier=ID_NUMBER),
        Column("bound_msisdn", "string", nullable=True, identifier=MSISDN),
        Column("bank_code", "string"),
        Column("open_date", "date"),
        Column("account_type", "string"),
    ),
)

TRANSACTIONS = Feed(
    "transactions",
    "event",
    (
        Column("txn_id", "string"),
        Column("src_account", "string", identifier=ACCOUNT),
        Column("dst_account", "string", identifier=ACCOUNT),
        Column("amount", "decimal"),
        Column("txn_time", "timestamp"),
        Column("channel", "string"),
    ),
    event_id="txn_id",
    event_time="txn_time",
)

EXPOSURES = Feed(
    "exposures",
    "event",
    (
        Column("source_id", "string"),
        Column("msisdn", "string", nullable=True, identifier=MSISDN),
        Column("id_number", "string", nullable=True, identifier=ID_NUMBER),
        Column("fields", "string"),
        Column("observed_date", "date"),
    ),
    event_time="observed_date",
)

EXPOSURE_SOURCES = Feed(
    "exposure_sources",
    "snapshot",
    (
        Column("source_id", "string"),
        Column("source_type", "string"),
        Column("name", "string"),
        Column("discovered_date", "date"),
    ),
)

# entity_id is pseudonymised with the kind named by entity_type on the same row.
LABELS = Feed(
    "labels",
    "event",
    (
        Column("entity_type", "string"),
        Column("entity_id", "string"),
        Column("label", "string"),
        Column("reported_time", "timestamp"),
        Column("source", "string"),
        Column("case_id", "string", nullable=True),
    ),
    event_time="reported_time",
)

FEEDS: dict[str, Feed] = {
    f.name: f
    for f in (
        SUBSCRIBERS,
        CALLS,
        SMS,
        ACCOUNTS,
        TRANSACTIONS,
        EXPOSURES,
        EXPOSURE_SOURCES,
        LABELS,
    )
}

PLAN_TYPES = ("prepaid", "postpaid", "iot")
SUBSCRIBER_STATUSES = ("active", "suspended", "cancelled")
ACCOUNT_TYPES = ("personal", "corporate")
CHANNELS = ("mobile", "online", "atm", "counter")
SOURCE_TYPES = ("breach", "noncompliant_app", "underground_market")
LABEL_ENTITY_TYPES = (MSISDN, ACCOUNT)
LABEL_VALUES = ("fraud", "mule", "victim", "legit")
LABEL_SOURCES = ("police", "bank", "operator", "analyst")


def arrow_schema(feed: Feed):  # -> pyarrow.Schema
    """The feed's columns as a pyarrow schema (timestamps without a zone)."""
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "int": pa.int32(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us"),
        "boolean": pa.bool_(),
        "decimal": pa.decimal128(AMOUNT_PRECISION, AMOUNT_SCALE),
    }
    return pa.schema([pa.field(c.name, types[c.type_name], nullable=c.nullable) for c in feed.columns])


def spark_schema(feed: Feed):  # -> pyspark.sql.types.StructType
    """The feed's columns as a Spark schema (every field nullable, as Parquet reads it)."""
    from pyspark.sql import types as T

    types = {
        "string": T.StringType(),
        "int": T.IntegerType(),
        "date": T.DateType(),
        "timestamp": T.TimestampType(),
        "boolean": T.BooleanType(),
        "decimal": T.DecimalType(AMOUNT_PRECISION, AMOUNT_SCALE),
    }
    return T.StructType([T.StructField(c.name, types[c.type_name], True) for c in feed.columns])
