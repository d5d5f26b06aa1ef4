"""Ingestion: row rules, quality gates, quarantine and pseudonymisation of the raw feeds."""
