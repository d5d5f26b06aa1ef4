"""Errors that stop a run with a one-line reason and a non-zero exit."""

from __future__ import annotations


class FraudError(Exception):
    """A run-blocking problem; ``str(err)`` is the one-line reason shown to the user."""

    exit_code = 2


class SchemaMismatch(FraudError):
    """A feed's columns or types do not match CONTRACT.md."""

    exit_code = 3


class MissingInput(FraudError):
    """A feed, partition or lake table a job needs is not there."""

    exit_code = 4


class UnreadableInput(FraudError):
    """A feed's files cannot be read (corrupted, truncated, not Parquet)."""

    exit_code = 3
