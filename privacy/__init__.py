"""Personal-information rights: a data subject's access and deletion, retention, and the compliance audit.

- :mod:`privacy.person`: a raw identifier becomes the person's own tokens (their numbers, ID number, accounts);
- :mod:`privacy.scan`: the rows (or the list elements) of a table that hold given values;
- :mod:`privacy.export`: the short summary of a subject's access export;
- :mod:`privacy.erasure`: the erasure list that ingestion, training and scoring respect;
- :mod:`privacy.auditlog`: the append-only logs under ``LAKE/audit/`` and working days against the legal limit;
- :mod:`privacy.retention`: which partitions are past their table's retention period;
- :mod:`privacy.compliance`: the figures and the page of ``fraud audit``.
"""
