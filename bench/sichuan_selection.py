"""Sichuan: choosing features, LightGBM settings and the cut rule on validation only.

Run: .venv/bin/python bench/sichuan_selection.py [--config NAME ...] [--test NAME] [--data ZIP]

The benchmark (``bench/sichuan_benchmark.py``) reports test figures; this script chose what to try there
without reading a test row. Per seed 0-4 it uses the 40 % of rows the protocol may see (the benchmark's
``split``): it fits on the train rows and stops early and scores on the validation rows, then the other
way round (fit on validation, stop and score on train), so each configuration is judged on 10
evaluations of about 1,221 rows. AUC and AP are on the scored rows; macro-F1 is cross-validated inside
them (the cut chosen on one stratified half, applied to the other, both ways), for three cut rules:

- ``q99``: the benchmark's ``best_threshold`` (arg-max over 99 quantiles);
- ``smooth9``: arg-max of the macro-F1 curve over 199 quantiles after a 9-cut moving average;
- ``boot50``: median of the arg-max cut over 50 bootstrap resamples.

Each booster is ``models.lgbm.train_lightgbm`` (``num_threads`` 1); an ensemble is the mean of
boosters seeded ``seed * 1000 + j``. ``--test NAME`` is the protocol itself for one configuration
(fit on train, stop and cut on validation with the ``smooth9`` rule, score the 60 % test rows; boosters
seeded ``seed + 1000 * j``): use it only for the configuration chosen on validation.
Figures and the single test look are in ``docs/benchmarks.md``, "Sichuan: what was tried".
"""

from __future__ import annotations

import argparse
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from sichuan_benchmark import DEFAULT_DATA, ID_COLUMN, SEEDS, best_threshold, split
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from fraudgraph.config import load_config
from models.lgbm import LABEL, train_lightgbm

# The order matters to the fits (feature_fraction and extra_trees draw by column position): it is the
# order the selection below was run with.
ENGINEERED = (
    "missing_count", "voice_missing", "arpu_missing",
    "calls_per_day", "contacts_per_day", "outgoing_per_day", "outgoing_per_contact", "sms_per_day", "call_share",
    "voice_hour_concentration", "voice_day_concentration", "sms_hour_concentration", "sms_day_concentration",
    "total_call_duration", "duration_per_day", "top_contact_call_share", "top_contact_duration_share",
    "contacts_per_county", "busi_per_month", "flow_per_busi", "arpu_per_month", "imeis_per_month",
    "calls_per_month", "sms_per_month", "voice_vs_sms_days", "voice_vs_sms_hours", "sms_received_per_contact",
)
MISSING = ("missing_count", "voice_missing", "arpu_missing")
PER_DAY = (  # per active day of the month, per month active
    "calls_per_day", "contacts_per_day", "outgoing_per_day", "sms_per_day", "duration_per_day",
    "busi_per_month", "arpu_per_month", "imeis_per_month", "calls_per_month", "sms_per_month",
)
SHARES = tuple(c for c in ENGINEERED if c not in MISSING + PER_DAY)  # concentrations, shares and balances


def _ratio(numerator: pd.Series, denominator: pd.Series) -> np.ndarray:
    """``numerator / denominator``; NaN (LightGBM's missing value) where either is missing or the denominator 0."""
    a, b = numerator.to_numpy(dtype=float), denominator.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = a / b
    out[~np.isfinite(out)] = np.nan
    return out


def engineered_features(t: pd.DataFrame, aggregates: tuple[str, ...]) -> pd.DataFrame:
    """:data:`ENGINEERED`: per-row ratios of the 55 aggregates and missing-value counts.

    A value reads its own row's aggregates only (no label, no other row). Trees cut one column at a time
    and cannot form a ratio: these put activity per active day or month active, concentration (the busiest
    hour's or day's share, the top contact's share) and the voice/SMS balance into single columns. A
    number missing from the voice or billing records is mostly fraud, hence the counts.
    """
    f = pd.DataFrame(index=t.index)
    f["missing_count"] = t[list(aggregates)].isna().sum(axis=1)
    f["voice_missing"] = t["opposite_count"].isna().astype(int)
    f["arpu_missing"] = t["arpu_mean"].isna().astype(int)
    total_duration = t["call_dur_mean"] * t["opposite_count"]
    ratios = {
        "calls_per_day": ("opposite_count", "voc_day_nunique"),
        "contacts_per_day": ("opposite_unique", "voc_day_nunique"),
        "outgoing_per_day": ("voccalltype1", "voc_day_nunique"),
        "sms_per_day": ("sms_count", "day_nunique"),
        "busi_per_month": ("busi_count", "month_ids"),
        "arpu_per_month": ("arpu_sum", "month_ids"),
        "imeis_per_month": ("imeis", "month_ids"),
        "calls_per_month": ("opposite_count", "month_ids"),
        "sms_per_month": ("sms_count", "month_ids"),
        "outgoing_per_contact": ("voccalltype1", "opposite_unique"),
        "voice_hour_concentration": ("voc_hour_mode_count", "opposite_count"),
        "voice_day_concentration": ("voc_day_mode_count", "opposite_count"),
        "sms_hour_concentration": ("hour_mode_count", "sms_count"),
        "sms_day_concentration": ("day_mode_count", "sms_count"),
        "top_contact_call_share": ("phone2opposite_max", "opposite_count"),
        "contacts_per_county": ("opposite_unique", "county_name_call"),
        "flow_per_busi": ("flow_sum", "busi_count"),
        "voice_vs_sms_days": ("voc_day_nunique", "day_nunique"),
        "voice_vs_sms_hours": ("voc_hour_nunique", "hour_nunique"),
        "sms_received_per_contact": ("calltype_2", "sms_nunique"),
    }
    for name, (numerator, denominator) in ratios.items():
        f[name] = _ratio(t[numerator], t[denominator])
    f["duration_per_day"] = _ratio(total_duration, t["voc_day_nunique"])
    f["call_share"] = _ratio(t["opposite_count"], t["opposite_count"].fillna(0) + t["sms_count"].fillna(0))
    f["total_call_duration"] = total_duration
    f["top_contact_duration_share"] = _ratio(t["phone2oppo_sum_max"], total_duration)
    return f[list(ENGINEERED)]


def signed_log(frame: pd.DataFrame, features: tuple[str, ...]) -> pd.DataFrame:
    """sign(x) log(1 + |x|) of each feature: changes nothing for plain trees, only linear_tree's leaf fits."""
    out = frame.copy()
    for c in features:
        v = out[c].astype(float)
        out[c] = np.sign(v) * np.log1p(np.abs(v))
    return out


# ------------------------------------------------------------------------------------------------ cut rules
def _macro_f1_curve(labels: np.ndarray, scores: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    positive = labels.astype(bool)
    predicted = scores[None, :] > cuts[:, None]
    tp, fp = (predicted & positive).sum(1), (predicted & ~positive).sum(1)
    fn, tn = (~predicted & positive).sum(1), (~predicted & ~positive).sum(1)
    return (2 * tp / np.maximum(2 * tp + fp + fn, 1) + 2 * tn / np.maximum(2 * tn + fn + fp, 1)) / 2


def cut_smoothed(labels: np.ndarray, scores: np.ndarray, width: int = 9, grid: int = 199) -> float:
    cuts = np.quantile(scores, np.linspace(0.005, 0.995, grid))
    f1 = _macro_f1_curve(labels, scores, cuts)
    smoothed = np.convolve(np.pad(f1, width // 2, mode="edge"), np.ones(width) / width, mode="valid")
    return float(cuts[int(np.argmax(smoothed))])


def cut_bootstrap(labels: np.ndarray, scores: np.ndarray, resamples: int = 50, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    cuts = np.quantile(scores, np.linspace(0.005, 0.995, 199))
    chosen = []
    for _ in range(resamples):
        i = rng.integers(0, len(labels), len(labels))
        chosen.append(cuts[int(np.argmax(_macro_f1_curve(labels[i], scores[i], cuts)))])
    return float(np.median(chosen))


CUT_RULES = {"q99": best_threshold, "smooth9": cut_smoothed, "boot50": cut_bootstrap}


# ------------------------------------------------------------------------------------------------ configurations
def configurations(base: dict, aggregates: tuple[str, ...]) -> dict[str, tuple[str, tuple[str, ...], dict, int, list]]:
    """name -> (what, features, params, boosters per feature set, extra feature sets averaged in)."""
    everything = (*aggregates, *ENGINEERED)
    single = {**base, "num_threads": 1}

    def p(**kw):
        return {**single, **kw}

    et = p(extra_trees=True)
    return {
        "A1": ("aggregates (55)", aggregates, single, 3, []),
        "A2": ("+ missing counts (3)", (*aggregates, *MISSING), single, 3, []),
        "A3": ("+ per active day and per month (10)", (*aggregates, *PER_DAY), single, 3, []),
        "A4": ("+ concentrations, shares, balances (14)", (*aggregates, *SHARES), single, 3, []),
        "A5": ("+ all 27 engineered", everything, single, 3, []),
        "B1": ("A5, learning rate 0.02, 1,000 rounds, patience 100", everything,
               p(learning_rate=0.02, num_boost_round=1000, early_stopping_rounds=100), 3, []),
        "B2": ("A5, extra_trees", everything, et, 3, []),
        "B3": ("A5, min_data_in_leaf 20, lambda_l2 5", everything, p(min_child_samples=20, lambda_l2=5.0), 3, []),
        "B4": ("A5, feature_fraction 0.5", everything, p(feature_fraction=0.5), 3, []),
        "B5": ("A5, no class weight", everything, p(scale_pos_weight=1.0), 3, []),
        "B6": ("A5, class weight sqrt(neg/pos) = 1.46", everything, p(scale_pos_weight=1.46), 3, []),
        "B7": ("A5, 7 leaves", everything, p(num_leaves=7), 3, []),
        "B8": ("A5, early stopping on AUC", everything, p(metric="auc"), 3, []),
        "B9": ("A5, linear_tree on signed-log features", everything, p(linear_tree=True, linear_lambda=1.0), 3, []),
        "B10": ("A5, 31 leaves, min_data_in_leaf 30, lambda_l2 10", everything,
                p(num_leaves=31, min_child_samples=30, lambda_l2=10.0), 3, []),
        "B11": ("A5, feature and bagging fraction 0.6", everything, p(feature_fraction=0.6, bagging_fraction=0.6), 3, []),
        "C1": ("B2, feature_fraction 0.5", everything, {**et, "feature_fraction": 0.5}, 3, []),
        "C2": ("B2, learning rate 0.02, 1,500 rounds, patience 100", everything,
               {**et, "learning_rate": 0.02, "num_boost_round": 1500, "early_stopping_rounds": 100}, 3, []),
        "C3": ("B2, 31 leaves, min_data_in_leaf 20", everything, {**et, "num_leaves": 31, "min_child_samples": 20}, 3, []),
        "C4": ("B2, early stopping on AUC", everything, {**et, "metric": "auc"}, 3, []),
        "C5": ("B2, min_data_in_leaf 5, lambda_l2 0", everything, {**et, "min_child_samples": 5, "lambda_l2": 0.0}, 3, []),
        "D1": ("B2, 10 boosters", everything, et, 10, []),
        "D2": ("B2, 5 boosters on A5's features + 5 on the 55 aggregates", everything, et, 5, [(aggregates, et)]),
        "D3": ("C3 with feature_fraction 0.5, 10 boosters", everything,
               {**et, "num_leaves": 31, "min_child_samples": 20, "feature_fraction": 0.5}, 10, []),
    }


def _scores(frame, fit_rows, stop_rows, score_rows, specs, boosters, seed_of):
    out = []
    for features, params in specs:
        data = signed_log(frame, features) if params.get("linear_tree") else frame
        for j in range(boosters):
            model = train_lightgbm(data.iloc[fit_rows], data.iloc[stop_rows], features=features, params=params,
                                   seed=seed_of(j), k=100)
            out.append(model.booster.predict(data.iloc[score_rows][list(features)]))
    return np.mean(out, axis=0)


def validate(frame: pd.DataFrame, config: tuple) -> dict[str, float]:
    """Validation-only figures of one configuration (means over 5 seeds x 2 directions)."""
    _, features, params, boosters, extra = config
    specs = [(features, params), *extra]
    labels = frame[LABEL].to_numpy()
    figures: dict[str, list[float]] = {"auc": [], "ap": [], **{f"macro_f1_{r}": [] for r in CUT_RULES}}
    for seed in SEEDS:
        train, valid, _ = split(labels, seed)  # the test rows are never read
        for direction, (fit, scored) in enumerate(((train, valid), (valid, train))):
            s = _scores(frame, fit, scored, scored, specs, boosters, lambda j, seed=seed: seed * 1000 + j)
            y = labels[scored]
            figures["auc"].append(roc_auc_score(y, s))
            figures["ap"].append(average_precision_score(y, s))
            for rule_name, rule in CUT_RULES.items():
                halves = StratifiedKFold(2, shuffle=True, random_state=seed * 10 + direction).split(s, y)
                figures[f"macro_f1_{rule_name}"].append(
                    np.mean([f1_score(y[b], s[b] > rule(y[a], s[a]), average="macro") for a, b in halves]))
    return {k: float(np.mean(v)) for k, v in figures.items()}


def protocol(frame: pd.DataFrame, config: tuple) -> list[dict[str, float]]:
    """The benchmark's protocol for one configuration: the test figures. Only for the one chosen on validation."""
    _, features, params, boosters, extra = config
    specs = [(features, params), *extra]
    labels = frame[LABEL].to_numpy()
    results = []
    for seed in SEEDS:
        train, valid, test = split(labels, seed)
        valid_score = _scores(frame, train, valid, valid, specs, boosters, lambda j, seed=seed: seed + 1000 * j)
        test_score = _scores(frame, train, valid, test, specs, boosters, lambda j, seed=seed: seed + 1000 * j)
        cut = cut_smoothed(labels[valid], valid_score)
        results.append({
            "valid_auc": roc_auc_score(labels[valid], valid_score),
            "valid_macro_f1": f1_score(labels[valid], valid_score > cut, average="macro"),
            "auc": roc_auc_score(labels[test], test_score),
            "macro_f1": f1_score(labels[test], test_score > cut, average="macro"),
        })
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the Sichuan.zip archive")
    parser.add_argument("--config", action="append", help="only these configurations (repeatable; default all)")
    parser.add_argument("--test", help="the protocol's test figures for this one configuration")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fg-sichuan-") as tmp, zipfile.ZipFile(args.data) as z:
        z.extract("all_feat_with_label.csv", tmp)
        table = pd.read_csv(Path(tmp) / "all_feat_with_label.csv")
    aggregates = tuple(c for c in table.columns if c not in (ID_COLUMN, LABEL))
    frame = pd.concat([table, engineered_features(table, aggregates)], axis=1)
    configs = configurations(dict(load_config().train.lightgbm), aggregates)
    if args.test:
        started = time.perf_counter()
        results = protocol(frame, configs[args.test])
        print(f"{args.test} ({configs[args.test][0]}), {time.perf_counter() - started:.0f} s")
        for key in ("valid_auc", "valid_macro_f1", "auc", "macro_f1"):
            values = [r[key] for r in results]
            print(f"  {key}: {np.mean(values):.4f} (std {np.std(values):.4f})")
        return
    print("| config | what | AUC | AP | macro-F1 q99 | smooth9 | boot50 | seconds |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name in args.config or list(configs):
        started = time.perf_counter()
        f = validate(frame, configs[name])
        print(f"| {name} | {configs[name][0]} | {f['auc']:.4f} | {f['ap']:.4f} | {f['macro_f1_q99']:.4f} | "
              f"{f['macro_f1_smooth9']:.4f} | {f['macro_f1_boot50']:.4f} | {time.perf_counter() - started:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
