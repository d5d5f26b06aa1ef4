"""Every feature a model trains on reads as a sentence for its entity type."""

from __future__ import annotations

import numpy as np
import pytest

from jobs.features import FEATURE_SETS
from models.reasons import TEMPLATES, sentence, top_reasons


@pytest.mark.parametrize("entity_type", sorted(FEATURE_SETS))
def test_every_feature_has_a_sentence(entity_type):
    missing = [f for f in FEATURE_SETS[entity_type] if f not in TEMPLATES[entity_type]]
    assert missing == []
    for feature in FEATURE_SETS[entity_type]:
        assert "{" not in sentence(feature, 3.0, 7, entity_type)


def test_the_same_feature_reads_for_its_entity_type():
    assert sentence("in_distinct", 12, 7, "msisdn") == "called by 12 distinct numbers in 7 days"
    assert sentence("in_distinct", 12, 7, "account") == "received money from 12 distinct accounts"


def test_top_reasons_take_only_contributions_towards_risk_with_the_row_values():
    features = ("bridge_payers", "sim_age_days", "out_distinct")
    contributions = np.array([[0.9, -0.5, 0.2, -1.0], [-0.1, -0.2, -0.3, 0.0]])  # last column: bias
    values = np.array([[4.0, 3.0, 184.0], [0.0, 900.0, 2.0]])
    reasons = top_reasons(contributions, values, features, top=3, window_days=7, entity_type="msisdn")
    assert reasons == [
        ["4 people it called then transferred money within hours", "called 184 distinct numbers in 7 days"],
        [],
    ]
