"""Reasons an analyst reads: LightGBM's own per-feature contributions, in words.

Each feature has a sentence template filled with the row's value; the top
contributions towards risk (positive ones only) become the ``reasons`` column.
"""

from __future__ import annotations

import math

import numpy as np

# {v}: the feature's value; {w}: the window length in days.
PHONE_TEMPLATES: dict[str, str] = {
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
    "shared_device_numbers": "shares handsets with {v:.0f} other numbers",
    "device_max_numbers": "a handset it used carries {v:.0f} numbers",
    "id_numbers": "its registered ID number holds {v:.0f} numbers",
    "id_accounts": "its registered ID number holds {v:.0f} bank accounts",
    "bound_accounts": "bound to {v:.0f} bank accounts",
    "contact_mean_degree": "its contacts have {v:.1f} contacts on average",
    "contact_max_degree": "its busiest contact has {v:.0f} contacts",
    "known_fraud_contacts": "in contact with {v:.0f} numbers already reported as fraud",
    "callees_hit_by_known_fraud_share": "{v:.0%} of the people it called were also called by reported fraud numbers",
    "co_target_share": "{v:.0%} of the people it called were also called by other high-volume callers",
    "co_target_callers": "shares several called people with {v:.0f} other high-volume callers",
    "co_target_max_overlap": "shares up to {v:.0f} called people with another high-volume caller",
    "bridge_payers": "{v:.0f} people it called then transferred money within hours",
    "bridge_accounts": "people it called paid {v:.0f} accounts within hours",
    "bridge_amount": "people it called then transferred CNY {v:,.0f} within hours",
    "bridge_fresh_accounts": "people it called paid {v:.0f} newly opened accounts",
    "bridge_payer_share": "{v:.0%} of the people it reached transferred money afterwards",
    "bridge_min_lag_h": "a transfer followed its call after {v:.1f} hours",
    "out_work_hours_share": "{v:.0%} of outgoing calls in working hours (9-18)",
    "out_evening_share": "{v:.0%} of outgoing calls in the evening",
    "out_active_hours": "made calls in {v:.0f} distinct hours of the day",
    "out_hour_block_entropy": "spread of its calls over the day: {v:.2f} (0 = one block)",
    "out_active_days": "made calls on {v:.0f} of {w} days",
    "out_max_day_calls": "up to {v:.0f} outgoing calls in one day",
    "out_day_burstiness": "its busiest day had {v:.1f} times its usual calls",
    "out_weekend_share": "{v:.0%} of outgoing calls at weekends",
    "out_last_day_distinct": "called {v:.0f} distinct numbers on the last day",
    "out_new_contact_share": "{v:.0%} of the numbers it called were first called on the last day",
    "exposed_sources": "its owner's data was seen in {v:.0f} leak sources",
    "exposed_source_types": "its owner's data leaked through {v:.0f} kinds of source",
    "exposed_id_number": "a leak holds its owner's ID number: {v:.0f}",
    "exposed_bank_card": "a leak holds its owner's bank card: {v:.0f}",
    "exposed_noncompliant_apps": "its owner's data was collected by {v:.0f} apps found collecting it unlawfully",
    "days_since_exposed": "its owner's data was last seen in a leak {v:.0f} days ago",
    "callees_exposed_share": "{v:.0%} of the people it called are in leaked lists",
    "callees_max_source_lift": "the people it called are {v:.1f} times more often in one leaked list than everyone else",
    "callees_exploited_score": "the people it called are in leaked lists that fraud is exploiting now (score {v:.2f})",
    "sms_exposed_share": "{v:.0%} of the people it texted are in leaked lists",
    "sms_max_source_lift": "the people it texted are {v:.1f} times more often in one leaked list than everyone else",
    "sms_exploited_score": "the people it texted are in leaked lists that fraud is exploiting now (score {v:.2f})",
}

ACCOUNT_TEMPLATES: dict[str, str] = {
    "in_count": "received {v:.0f} transfers in {w} days",
    "in_amount": "received CNY {v:,.0f} in {w} days",
    "in_distinct": "received money from {v:.0f} distinct accounts",
    "in_max_amount": "largest incoming transfer CNY {v:,.0f}",
    "out_count": "sent {v:.0f} transfers in {w} days",
    "out_amount": "sent CNY {v:,.0f} in {w} days",
    "out_distinct": "sent money to {v:.0f} distinct accounts",
    "out_atm_share": "{v:.0%} of outgoing money withdrawn at ATMs",
    "pass_through_ratio": "passed on {v:.0%} of the money received",
    "active_days": "moved money on {v:.0f} of {w} days",
    "account_age_days": "account opened {v:.0f} days ago",
    "is_corporate": "corporate account: {v:.0f}",
    "holder_numbers": "its holder's ID number holds {v:.0f} phone numbers",
    "holder_exposed_sources": "its holder's data was seen in {v:.0f} leak sources",
    "holder_exposed_bank_card": "a leak holds its holder's bank card: {v:.0f}",
    "payers_exposed_share": "{v:.0%} of the accounts paying it belong to people in leaked lists",
    "payers_max_source_lift": "its payers are {v:.1f} times more often in one leaked list than everyone else",
    "payers_exploited_score": "its payers are in leaked lists that fraud is exploiting now (score {v:.2f})",
    "counterparties": "traded with {v:.0f} distinct accounts",
    "reciprocal_counterparties": "{v:.0f} counterparties send money both ways",
    "in_per_payer": "{v:.1f} incoming transfers per payer",
    "out_per_payee": "{v:.1f} outgoing transfers per payee",
    "in_top_payer_share": "its largest payer sent {v:.0%} of its incoming money",
    "out_top_payee_share": "its largest payee received {v:.0%} of its outgoing money",
    "out_max_same_day_payee": "up to {v:.0f} transfers to one payee in a day",
    "in_min_amount": "smallest incoming transfer CNY {v:,.0f}",
    "out_min_amount": "smallest outgoing transfer CNY {v:,.0f}",
    "in_amount_cv": "incoming amounts vary by {v:.2f} (coefficient of variation)",
    "out_amount_cv": "outgoing amounts vary by {v:.2f} (coefficient of variation)",
    "round_amount_share": "{v:.0%} of transfers in round amounts",
    "gap_median_hours": "{v:.1f} hours between transfers (median)",
    "gap_cv": "timing between transfers varies by {v:.2f}",
    "busiest_day_share": "{v:.0%} of its transfers on one day",
    "dwell_min_hours": "money left again {v:.1f} hours after arriving (fastest)",
    "dwell_median_hours": "money left again {v:.1f} hours after arriving (median)",
    "forwarded_1h_share": "{v:.0%} of incoming money forwarded within 1 hour",
    "forwarded_24h_share": "{v:.0%} of incoming money forwarded within 24 hours",
    "payers_single_payee_share": "{v:.0%} of its payers paid no one else",
    "payers_mean_out_distinct": "its payers paid {v:.1f} accounts on average",
    "unrelated_payers": "{v:.0f} payers unrelated to each other",
    "unrelated_payer_share": "{v:.0%} of its payers unrelated to each other",
    "holder_accounts": "its holder has {v:.0f} accounts",
    "msisdn_accounts": "its bound number is bound to {v:.0f} accounts",
    "has_shared_msisdn": "bound number shared with other accounts: {v:.0f}",
    "hops_to_cash_out": "money reaches an ATM withdrawal in {v:.0f} transfers",
    "peers_mean_in_distinct": "its counterparties have {v:.1f} payers on average",
    "peers_max_in_distinct": "a counterparty has {v:.0f} payers",
    "peers_mean_out_distinct": "its counterparties pay {v:.1f} accounts on average",
    "peers_max_out_distinct": "a counterparty pays {v:.0f} accounts",
    "peers_mean_pass_through": "its counterparties pass on {v:.0%} of what they receive on average",
    "peers_pass_through_share": "{v:.0%} of its counterparties pass money straight on",
    "cycle3_paths": "{v:.0f} three-step money loops back to it",
    "cycle4_midpoints": "{v:.0f} four-step money loops back to it",
    "return_flow_hops": "money it sent came back in {v:.0f} transfers",
    "peers_return_flow_share": "{v:.0%} of its counterparties see money come back",
    "in_atypical_share": "{v:.0%} of incoming transfers far from what each payer usually sends",
    "out_atypical_share": "{v:.0%} of outgoing transfers far from its usual amount",
    "peers_mean_atypical_share": "its counterparties' transfers are atypical {v:.0%} of the time on average",
    "peers_max_atypical_share": "a counterparty's transfers are atypical {v:.0%} of the time",
    "triangles": "{v:.0f} money triangles with its counterparties",
    "clustering": "its counterparties trade with each other: clustering {v:.2f}",
    "peers_mean_triangles": "its counterparties sit in {v:.1f} money triangles on average",
    "peers_max_triangles": "a counterparty sits in {v:.0f} money triangles",
    "peers_mean_clustering": "its counterparties' counterparties trade with each other: clustering {v:.2f} on average",
    "peers_max_clustering": "a counterparty's counterparties trade with each other: clustering {v:.2f}",
    "peers_mean_peers_clustering": "two steps out, its counterparties' neighbourhoods are clustered {v:.2f} on average",
    "payees_max_off_mode_share": "a payee of it receives {v:.0%} of its transfers in amounts unusual for their payer",
    "payees_mean_off_mode_share": "its payees receive {v:.0%} of their transfers in amounts unusual for the payer, on average",
    "max_common_counterparties": "shares up to {v:.0f} counterparties with one of its counterparties",
    "triangle_peers": "shares counterparties with {v:.0f} of its counterparties",
    "known_mule_counterparties": "traded with {v:.0f} accounts already reported as mules",
    "known_fraud_share": "{v:.0%} of its counterparties already reported as mules or fraud",
    "known_fraud_triangles": "{v:.0f} money triangles with accounts already reported as mules or fraud",
    "bridge_callers": "{v:.0f} numbers called its payers shortly before they paid",
    "bridge_payers": "{v:.0f} payers paid it within hours of a call",
    "bridge_payers_high_volume_caller": "{v:.0f} payers paid within hours of a call from a high-volume caller",
    "bridge_payers_known_fraud_caller": "{v:.0f} payers paid within hours of a call from a reported fraud number",
    "bridge_payer_share": "{v:.0%} of its payers paid within hours of a call",
}

# Features both entity types have, worded for either.
SHARED_TEMPLATES: dict[str, str] = {
    "risk_1hop": "{v:.0%} of its direct links are reported fraud or mule parties",
    "risk_2hop": "reported fraud or mule parties two steps away: score {v:.2f}",
    "component_size": "tied to {v:.0f} numbers, accounts, handsets and ID numbers through shared identities and money",
    "component_numbers": "its group of shared handsets, IDs and money holds {v:.0f} numbers",
    "component_accounts": "its group of shared handsets, IDs and money holds {v:.0f} accounts",
    "component_devices": "its group of shared handsets, IDs and money holds {v:.0f} handsets",
    "component_ids": "its group of shared handsets, IDs and money holds {v:.0f} ID numbers",
    "component_known_fraud": "its group of shared handsets, IDs and money holds {v:.0f} other reported parties",
}

TEMPLATES: dict[str, dict[str, str]] = {
    "msisdn": {**SHARED_TEMPLATES, **PHONE_TEMPLATES},
    "account": {**SHARED_TEMPLATES, **ACCOUNT_TEMPLATES},
}


def sentence(feature: str, value: float, window_days: int, entity_type: str = "msisdn") -> str:
    """One reason in words; a feature without a template reads ``feature = value``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{feature.replace('_', ' ')}: no data"
    template = TEMPLATES[entity_type].get(feature)
    if template is None:
        return f"{feature.replace('_', ' ')} = {value:g}"
    return template.format(v=value, w=window_days)


def top_reasons(
    contributions: np.ndarray,
    values: np.ndarray,
    features: tuple[str, ...],
    *,
    top: int,
    window_days: int,
    entity_type: str = "msisdn",
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
            [
                sentence(features[j], float(values[row, j]), window_days, entity_type)
                for j in idx
                if per_feature[row, j] > 0
            ]
        )
    return result
