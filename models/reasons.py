"""Reasons an analyst reads: LightGBM's own per-feature contributions, in words.

Each feature has a sentence template filled with the row's value; the top
contributions towards risk (positive ones only) become the ``reasons`` column.
"""

from __future__ import annotations

import math

import numpy as np

# {v}: the feature's value; {w}: the window length in days.
TEMPLATES: dict[str, str] = {
    "out_calls": "made {v:.0f} calls in {w} days",
    "out_distinct": "called {v:.0f} distinct numbers in {w} days",
    "out_answer_rate": "{v:.0%} of outgoing calls answered",
    "out_short_share": "{v:.0%} of answered outgoing calls shorter than 30 s",
    "out_long_calls": "{v:.0f} outgoing calls longer than 10 minutes",
    "out_mean_duration_s": "answered outgoing calls last {v:.0f} s on average",
    "out_night_share": "{v:.0%} of outgoing calls between midnight and 6 am",
    "out_callback_share": "{v:.0%} of called numbers called back",
    "out_calls_per_contact": "{v:.1f} calls per number called",
    "in_calls": "received {v:.0f} calls in {w} days",
    "in_distinct": "called by {v:.0f} distinct numbers in {w} days",
    "in_answer_rate": "{v:.0%} of incoming calls answered",
    "in_out_ratio": "{v:.2f} incoming calls per outgoing call",
    "reciprocal_contacts": "{v:.0f} contacts who call both ways",
    "active_days": "active on {v:.0f} of {w} days",
    "imeis": "used {v:.0f} handsets (IMEIs)",
    "sms_out": "sent {v:.0f} SMS in {w} days",
    "sms_out_distinct": "sent SMS to {v:.0f} distinct numbers",
    "sms_out_url_share": "{v:.0%} of sent SMS carry a link",
    "sms_in": "received {v:.0f} SMS",
    "sim_age_days": "SIM activated {v:.0f} days ago",
    "is_prepaid": "prepaid SIM: {v:.0f}",
    "is_active_status": "subscription active: {v:.0f}",
    "in_count": "received {v:.0f} transfers in {w} days",
    "in_amount": "received CNY {v:,.0f} in {w} days",
    "in_max_amount": "largest incoming transfer CNY {v:,.0f}",
    "out_count": "sent {v:.0f} transfers in {w} days",
    "out_amount": "sent CNY {v:,.0f} in {w} days",
    "out_atm_share": "{v:.0%} of outgoing money withdrawn at ATMs",
    "pass_through_ratio": "passed on {v:.0%} of the money received",
    "account_age_days": "account opened {v:.0f} days ago",
    "is_corporate": "corporate account: {v:.0f}",
}


def sentence(feature: str, value: float, window_days: int) -> str:
    """One reason in words; a feature without a template reads ``feature = value``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{feature.replace('_', ' ')}: no data"
    template = TEMPLATES.get(feature)
    if template is None:
        return f"{feature.replace('_', ' ')} = {value:g}"
    return template.format(v=value, w=window_days)


def top_reasons(
    contributions: np.ndarray, values: np.ndarray, features: tuple[str, ...], *, top: int, window_days: int
) -> list[list[str]]:
    """Per row, the ``top`` features pushing the score up, as sentences (fewer when fewer push up).

    ``contributions`` is LightGBM's ``pred_contrib`` output (one column per
    feature plus the bias, which is ignored); ``values`` the rows' feature
    values in the same order.
    """
    per_feature = contributions[:, : len(features)]
    order = np.argsort(-per_feature, axis=1, kind="stable")[:, :top]
    result = []
    for row, idx in enumerate(order):
        result.append(
            [sentence(features[j], float(values[row, j]), window_days) for j in idx if per_feature[row, j] > 0]
        )
    return result
