"""The ``fraud`` command: one subcommand per job (CONTRACT.md section 4).

Exit status 0 on success; otherwise a one-line reason on stderr and a
non-zero code (2 usage or configuration, 3 schema mismatch, 4 missing input,
5 quality gate, 1 anything unexpected).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from fraudgraph.contract import ACCOUNT, FEEDS, ID_NUMBER, LABEL_ENTITY_TYPES, MSISDN
from fraudgraph.errors import FraudError

log = logging.getLogger("fraudgraph")

SUBJECT_KINDS = (MSISDN, ID_NUMBER, ACCOUNT)  # privacy.person.KINDS, without importing Spark to parse arguments


def _add_io(parser: argparse.ArgumentParser, *, raw: bool = True) -> None:
    if raw:
        parser.add_argument("--raw", help="root of the raw feeds (default: paths.raw of the configuration)")
    parser.add_argument("--lake", help="root of the lake (default: paths.lake of the configuration)")
    parser.add_argument("--conf", help="configuration file overriding conf/base (default: conf/local when present)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fraud", description="fraudgraph: anti-telecom-fraud detection on Spark")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = sub.add_parser("simulate", help="write a simulated operator-and-bank world (feeds and ground truth)")
    sim.add_argument("--out", required=True, help="world folder: feeds under OUT/raw, truth under OUT/truth")
    sim.add_argument("--people", type=int, default=10_000, help="population size (default: 10000)")
    sim.add_argument("--days", type=int, default=28, help="days simulated (default: 28)")
    sim.add_argument("--seed", type=int, default=1, help="random seed; the same seed gives the same world (default: 1)")
    sim.add_argument("--start", default="2026-03-01", help="first simulated day YYYY-MM-DD (default: 2026-03-01)")

    ingest = sub.add_parser("ingest", help="validate, clean and pseudonymise the feeds of a day range")
    _add_io(ingest)
    ingest.add_argument("--from", dest="first", required=True, help="first day YYYY-MM-DD")
    ingest.add_argument("--to", dest="last", required=True, help="last day YYYY-MM-DD")
    ingest.add_argument(
        "--feed", dest="feeds", action="append", choices=list(FEEDS),
        help="ingest only this feed (repeatable; default: every feed); calls, SMS and transactions still read the "
        "subscribers or accounts snapshot they are checked against",
    )

    train = sub.add_parser("train", help="train on what was knowable before --as-of and register the models")
    _add_io(train)
    train.add_argument("--as-of", dest="as_of", required=True, help="day D: labels reported before D")

    score = sub.add_parser("score", help="score every party active in the window ending --date")
    _add_io(score)
    score.add_argument("--date", required=True, help="day D YYYY-MM-DD")

    run = sub.add_parser("run", help="the daily job: ingest, train when no champion exists, score")
    _add_io(run)
    run.add_argument("--date", required=True, help="day D YYYY-MM-DD")

    models = sub.add_parser("models", help="the registered models: versions, aliases, validation metrics, decisions")
    _add_io(models, raw=False)
    models.add_argument("--entity", choices=LABEL_ENTITY_TYPES, help="only this entity type's model (default: both)")

    promote = sub.add_parser("promote", help="make a registered model version the champion by hand (rollback)")
    _add_io(promote, raw=False)
    promote.add_argument("--entity", required=True, choices=LABEL_ENTITY_TYPES, help="entity type of the model")
    promote.add_argument("--version", required=True, help="registered version number (see fraud models)")
    promote.add_argument("--reason", default="set by hand", help="why, recorded on the version (default: set by hand)")

    review = sub.add_parser("review", help="record an analyst's verdict on a case; it becomes labels for training")
    _add_io(review, raw=False)
    review.add_argument("--case", required=True, help="case id (LAKE/cases/dt=D, the analyst report)")
    review.add_argument("--verdict", required=True, choices=["confirmed", "false_positive", "needs_info"])
    review.add_argument("--member", help="only this member's token (default: the case's flagged members)")
    review.add_argument("--note", required=True, help="why: recorded with who and when")

    reveal = sub.add_parser("reveal", help="the raw identifier behind a token, from the raw feeds; audited")
    _add_io(reveal)
    reveal.add_argument("token", help="a member's token (the case report's last column)")
    reveal.add_argument("--reason", required=True, help="why: written to the append-only audit log with who and when")

    # Personal-information rights (README "Personal-information rights"): the subject's identifier is read once,
    # tokenised, and never written; each request goes to LAKE/audit/subjects.jsonl.
    person = argparse.ArgumentParser(add_help=False)
    _add_io(person, raw=False)
    person.add_argument("identifier", help="the person's raw mobile number, resident ID number or account number")
    person.add_argument("--kind", required=True, choices=SUBJECT_KINDS, help="what the identifier is")
    person.add_argument("--received", help="day the request was received YYYY-MM-DD, for the 30-working-day limit "
                        "(default: today)")
    subject = sub.add_parser("subject", help="a data subject's rights: what the lake holds on a person, its deletion")
    actions = subject.add_subparsers(dest="action", required=True, metavar="ACTION")
    access = actions.add_parser("access", parents=[person], help="export everything the lake holds on the person")
    access.add_argument("--out", required=True, help="the export's JSON file; a short summary goes beside it (.txt)")
    delete = actions.add_parser("delete", parents=[person], help="remove the person from every table, for good")
    delete.add_argument("--reason", required=True, help="why: written to the append-only audit log with who and when")

    retention = sub.add_parser("retention", help="remove the partitions past their retention period (conf: retention)")
    _add_io(retention, raw=False)
    retention.add_argument("--date", required=True, help="day D: partitions with dt < D - period go")

    audit = sub.add_parser("audit", help="the compliance audit of a period: a self-contained page and a JSON file")
    _add_io(audit, raw=False)
    audit.add_argument("--from", dest="first", required=True, help="first day YYYY-MM-DD")
    audit.add_argument("--to", dest="last", required=True, help="last day YYYY-MM-DD")

    evaluate = sub.add_parser("evaluate", help="a day's scores against a simulated world's ground truth")
    evaluate.add_argument("--world", required=True, help="world folder written by fraud simulate")
    _add_io(evaluate, raw=False)
    evaluate.add_argument("--date", required=True, help="day D YYYY-MM-DD")
    return parser


def _simulate(args: argparse.Namespace) -> dict:
    from fraudgraph.lake import parse_day
    from simulator import simulate_world

    if args.people < 100 or args.days < 1:
        raise FraudError("simulate needs --people >= 100 and --days >= 1")
    summary = simulate_world(args.out, people=args.people, days=args.days, seed=args.seed, start=parse_day(args.start))
    return {"world": str(Path(args.out).resolve()), **summary.to_json()}


def _job(args: argparse.Namespace) -> dict:
    from fraudgraph.config import load_config, pseudo_key
    from fraudgraph.lake import Lake, Raw, parse_day
    from fraudgraph.spark import build_session, release_checkpoints

    cfg = load_config(args.conf)
    lake = Lake(args.lake or cfg.paths.lake)
    raw = Raw(getattr(args, "raw", None) or cfg.paths.raw)
    # Check everything cheap before a JVM starts.
    key = pseudo_key() if args.command in ("ingest", "run", "evaluate", "reveal", "subject") else b""
    days = {
        name: parse_day(getattr(args, name))
        for name in ("first", "last", "as_of", "date", "received") if getattr(args, name, None)
    }
    if args.command == "subject" and args.action == "delete":
        from jobs.subject import require_reason

        require_reason(args.reason)
    feeds = tuple(args.feeds) if getattr(args, "feeds", None) else None  # fraud ingest --feed
    if args.command in ("ingest", "run"):
        from jobs.ingest import feeds_to_read

        for name in feeds_to_read(feeds):
            raw.days(FEEDS[name])
    spark = build_session(cfg.spark)
    try:
        if args.command == "ingest":
            from jobs.ingest import run_ingest

            return run_ingest(spark, cfg, raw=raw, lake=lake, first=days["first"], last=days["last"], key=key, feeds=feeds)
        if args.command == "train":
            from jobs.train import run_train

            return run_train(spark, cfg, lake=lake, as_of=days["as_of"])
        if args.command == "score":
            from jobs.score import run_score

            return run_score(spark, cfg, lake=lake, day=days["date"])
        if args.command == "run":
            from jobs.run import run_daily

            return run_daily(spark, cfg, raw=raw, lake=lake, day=days["date"], key=key)
        if args.command == "subject":
            import getpass

            from jobs.subject import run_access, run_delete

            person = {"lake": lake, "kind": args.kind, "identifier": args.identifier, "key": key, "by": getpass.getuser(),
                      "received": days.get("received")}
            if args.action == "access":
                return run_access(spark, cfg, out=Path(args.out), **person)
            return run_delete(spark, cfg, reason=args.reason, **person)
        if args.command == "reveal":
            import getpass

            from jobs.reveal import run_reveal

            return run_reveal(spark, raw=raw, lake=lake, token=args.token, reason=args.reason, key=key, by=getpass.getuser())
        from jobs.evaluate import run_evaluate

        return run_evaluate(spark, cfg, world=Path(args.world), lake=lake, day=days["date"], key=key)
    finally:
        release_checkpoints(spark)


def _registry(args: argparse.Namespace) -> dict:
    """``fraud models`` and ``fraud promote``: the MLflow registry only, no Spark."""
    from fraudgraph.config import load_config
    from fraudgraph.lake import Lake
    from jobs.registry import run_models, run_promote

    cfg = load_config(args.conf)
    lake = Lake(args.lake or cfg.paths.lake)
    if args.command == "models":
        return run_models(cfg, lake=lake, entity_type=args.entity)
    if not args.version.isdigit():
        raise FraudError(f"--version must be a registered version number, got {args.version!r}")
    return run_promote(cfg, lake=lake, entity_type=args.entity, version=args.version, reason=args.reason)


def _review(args: argparse.Namespace) -> dict:
    """``fraud review``: append a verdict to the lake's log; no Spark."""
    import getpass

    from cases.verdicts import record_verdict
    from fraudgraph.config import load_config
    from fraudgraph.lake import Lake

    cfg = load_config(args.conf)
    lake = Lake(args.lake or cfg.paths.lake)
    return record_verdict(lake, case_id=args.case, verdict=args.verdict, note=args.note, by=getpass.getuser(),
                          member=args.member)


def _privacy(args: argparse.Namespace) -> dict:
    """``fraud retention`` and ``fraud audit``: folders, Parquet footers, logs and the registry; no Spark."""
    import getpass

    from fraudgraph.config import load_config
    from fraudgraph.lake import Lake, parse_day

    cfg = load_config(args.conf)
    lake = Lake(args.lake or cfg.paths.lake)
    if args.command == "retention":
        from jobs.retention import run_retention

        return run_retention(cfg, lake=lake, day=parse_day(args.date), by=getpass.getuser())
    from jobs.audit import run_audit

    return run_audit(cfg, lake=lake, first=parse_day(args.first), last=parse_day(args.last))


COMMANDS: dict[str, Callable[[argparse.Namespace], dict]] = {
    "review": _review,
    "retention": _privacy,
    "audit": _privacy,
    "simulate": _simulate,
    "models": _registry,
    "promote": _registry,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Our own progress at INFO; MLflow and py4j stay at WARNING unless --verbose.
    for name in ("fraudgraph", "jobs", "simulator"):
        logging.getLogger(name).setLevel(logging.INFO)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    started = time.monotonic()
    try:
        result = COMMANDS.get(args.command, _job)(args)
    except FraudError as err:
        print(f"fraud {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"fraud {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected failure still ends in one line
        if args.verbose:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"fraud {args.command}: unexpected {type(exc).__name__}: {first} (rerun with -v for details)", file=sys.stderr)
        return 1
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
