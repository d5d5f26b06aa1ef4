"""Replace every raw identifier by its token and keep only what detection needs.

What leaves here holds no raw mobile number, ID number, IMEI or account
number. Two kinds of facts are derived before the raw value is dropped,
because a token cannot give them back:

- a number's class (``cn_mobile``, ``landline``, ``service``, ``overseas``,
  ``other``) for every msisdn column, as ``<column>_class``;
- from a resident ID number, the holder's ``age_band``, ``is_minor`` (under 18)
  and ``is_under_14`` on the partition's day (the birth date itself is dropped).

And the one form of a raw identifier reports may show: the masked number of
each subscriber and account (``138****8000``; first two and last two
characters of an account number), as ``<column>_masked`` in the subscriber
and account snapshots. The analysts' cases and report show these, never a
token's raw value.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraudgraph import contract as C
from fraudgraph.lake import DT
from fraudgraph.pseudo import normalise_col, token_col
from ingestion.identifiers import mask

CLASS_SUFFIX = "_class"
MASKED_SUFFIX = "_masked"
# The snapshot columns whose masked form is kept: the parties that cases show.
MASKED_COLUMNS = {"subscribers": ("msisdn",), "accounts": ("account_id",)}
AGE_BAND = "age_band"
IS_MINOR = "is_minor"
# Under 14: the minors whose information PIPL art. 28 counts as sensitive (the compliance audit counts them).
IS_UNDER_14 = "is_under_14"
AGE_BANDS = ((18, "under_18"), (30, "18_29"), (45, "30_44"), (60, "45_59"))


def number_class(raw: Column, *, normalised: Column | None = None) -> Column:
    """Class of a raw phone number: Chinese mobile, landline, service line, overseas or other.

    ``normalised``: ``normalise_col(msisdn, raw)`` when the caller already has it as a column of its own."""
    digits = normalise_col(C.MSISDN, raw) if normalised is None else normalised
    trimmed = F.ltrim(raw)
    return (
        F.when(digits.isNull(), F.lit(None).cast("string"))
        .when(digits.rlike(r"^1[3-9][0-9]{9}$"), F.lit("cn_mobile"))
        .when(trimmed.startswith("+") | trimmed.startswith("00"), F.lit("overseas"))
        .when(digits.rlike(r"^0[1-9][0-9]{8,10}$"), F.lit("landline"))
        .when(digits.rlike(r"^(95|96|100|101|12)[0-9]{1,6}$"), F.lit("service"))
        .otherwise(F.lit("other"))
    )


def _age_years(id_number: Column, on_day: Column) -> Column:
    birth = F.to_date(F.try_to_timestamp(F.substring(F.upper(F.trim(id_number)), 7, 8), F.lit("yyyyMMdd")))
    return F.floor(F.months_between(on_day, birth) / 12)


def age_band(age: Column) -> Column:
    band = F.when(age.isNull(), F.lit(None).cast("string"))
    for upper, name in AGE_BANDS:
        band = band.when(age < upper, F.lit(name))
    return band.otherwise(F.lit("60_plus"))


def _token_for(key: bytes, feed: C.Feed, column: C.Column) -> Column:
    if feed.name == "labels" and column.name == "entity_id":
        return F.when(
            F.lower(F.trim(F.col("entity_type"))) == C.ACCOUNT, token_col(key, C.ACCOUNT, F.col("entity_id"))
        ).otherwise(token_col(key, C.MSISDN, F.col("entity_id")))
    return token_col(key, column.identifier, F.col(column.name))


def _is_identifier(feed: C.Feed, column: C.Column) -> bool:
    return column.identifier is not None or (feed.name == "labels" and column.name == "entity_id")


def identifier_tokens(feed: C.Feed, *, key: bytes) -> dict[str, Column]:
    """The token of each identifier column of a raw feed (the labels' ``entity_id`` by its ``entity_type``),
    by column name; empty for a feed with no identifier."""
    return {c.name: _token_for(key, feed, c) for c in feed.columns if _is_identifier(feed, c)}


def pseudonymise(df: DataFrame, feed: C.Feed, *, key: bytes) -> DataFrame:
    """The feed with identifiers as tokens, lower-cased enums and derived facts.

    Output: the contract's columns (identifier columns now hold tokens; a null
    or blank identifier gives a null token), one ``<msisdn column>_class`` per
    msisdn column, ``msisdn_masked``/``account_id_masked`` in the subscriber and account snapshots,
    ``age_band``/``is_minor``/``is_under_14`` where the feed holds a resident ID
    number of a person (subscribers, accounts), then every other input column
    (``dt``, ``reason``) unchanged.
    """
    out: list[Column] = []
    for column in feed.columns:
        if _is_identifier(feed, column):
            out.append(_token_for(key, feed, column).alias(column.name))
        elif column.name in {"plan_type", "status", "account_type", "channel", "source_type", "entity_type", "label", "source"}:
            out.append(F.lower(F.trim(F.col(column.name))).alias(column.name))
        else:
            out.append(F.col(column.name))
        if column.identifier == C.MSISDN:
            out.append(number_class(F.col(column.name)).alias(column.name + CLASS_SUFFIX))
        if column.name in MASKED_COLUMNS.get(feed.name, ()):
            out.append(mask(column.identifier, F.col(column.name)).alias(column.name + MASKED_SUFFIX))
    id_column = {"subscribers": "id_number", "accounts": "holder_id_number"}.get(feed.name)
    if id_column is not None:
        age = _age_years(F.col(id_column), F.to_date(F.col(DT)))
        out += [age_band(age).alias(AGE_BAND), (age < 18).alias(IS_MINOR), (age < 14).alias(IS_UNDER_14)]
    contract_names = set(feed.column_names)
    out += [F.col(c) for c in df.columns if c not in contract_names]
    return df.select(out)
