"""``citygate rules ...``: rules as code (apply a directory, export), list, back-test."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from ingest.db import connection
from ingest.devices import ensure_metrics
from rules.actions.dispatch import check_actions
from rules.actions.service_requests import service_codes
from rules.backtest import backtest
from rules.definition.check import check_rule
from rules.definition.files import dump_rule, load_rule_dir_located, load_rule_file, slug
from rules.errors import RuleError
from rules.store import delete_rule, get_rule, list_rules, save_rule

from .settings import Settings
from .wiring import load_profiles, outbox_config

__all__ = ["add_parser", "rules_apply", "rules_backtest", "rules_export", "rules_list"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``rules`` subcommand."""
    rules = sub.add_parser("rules", help="alarm rules: apply files, export, list, back-test")
    rsub = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    ap = rsub.add_parser("apply", help="create or update rules from a directory or file")
    ap.add_argument("path", type=Path)
    ap.add_argument(
        "--prune", action="store_true", help="delete file-applied rules no longer in the files"
    )
    ap.add_argument("--dry-run", action="store_true", help="check only; change nothing")
    ex = rsub.add_parser("export", help="write every rule as a YAML file (or to stdout)")
    ex.add_argument("directory", type=Path, nargs="?")
    rsub.add_parser("list", help="list rules")
    bt = rsub.add_parser("backtest", help="the alarms a rule would have raised on stored data")
    bt.add_argument("rule", help="a stored rule's name, or a rule file (a draft)")
    bt.add_argument("--from", dest="start", help="ISO 8601 time (default: 24 h ago)")
    bt.add_argument("--to", dest="end", help="ISO 8601 time (default: now)")
    bt.add_argument("--json", action="store_true", help="print the result as JSON")


def _time(text: str | None, default: datetime) -> datetime:
    if not text:
        return default
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise RuleError(f"bad time {text!r}: use ISO 8601, e.g. 2026-11-01T00:00:00Z") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


async def rules_apply(settings: Settings, args: argparse.Namespace) -> int:
    """Apply rule files: every file is checked before anything is stored."""
    profiles = load_profiles(settings)
    located = load_rule_dir_located(args.path, profiles)
    rules = [rule for rule, _ in located]
    counts = {"created": 0, "updated": 0, "unchanged": 0, "deleted": 0}
    async with connection(settings.database_url) as conn, conn.transaction():
        # Actions too, also in a dry run: service codes exist, webhook targets allowed.
        codes = await service_codes(conn)
        policy = outbox_config(settings).policy
        problems = [
            f"{where}: rule {rule.name!r}: {problem}"
            for rule, where in located
            for problem in check_actions(rule, codes, policy)
        ]
        if problems:
            raise RuleError("\n".join(problems))
        if args.dry_run:
            print(f"{len(rules)} rules in {args.path} are valid")
            return 0
        for rule in rules:
            record, what = await save_rule(conn, rule, source="file")
            counts[what] += 1
            if what != "unchanged":
                print(f"{what:<9} {record.name} (version {record.version})")
        if args.prune:
            names = {r.name for r in rules}
            for record in await list_rules(conn):
                if record.source == "file" and record.name not in names:
                    await delete_rule(conn, record.id)
                    counts["deleted"] += 1
                    print(f"deleted   {record.name}")
    print(", ".join(f"{n} {k}" for k, n in counts.items()))
    return 0


async def rules_export(settings: Settings, args: argparse.Namespace) -> int:
    """Write each rule to DIR/<name>.yaml, or all of them to stdout."""
    async with connection(settings.database_url) as conn:
        records = await list_rules(conn)
    if args.directory is None:
        sys.stdout.write("\n---\n".join(dump_rule(r) for r in records))
        return 0
    args.directory.mkdir(parents=True, exist_ok=True)
    for record in records:
        (args.directory / f"{slug(record.name)}.yaml").write_text(dump_rule(record), "utf-8")
    print(f"exported {len(records)} rules to {args.directory}")
    return 0


async def rules_list(settings: Settings, args: argparse.Namespace) -> int:
    """Rules with their state and active alarms."""
    async with connection(settings.database_url) as conn:
        records = await list_rules(conn)
        rows = await conn.fetch("SELECT rule_id, count(*) AS n FROM alarms WHERE active GROUP BY 1")
        active = {int(r["rule_id"]): int(r["n"]) for r in rows}
    for r in records:
        state = "enabled" if r.enabled else "disabled"
        print(f"{r.id:>5} {r.name:<40} v{r.version:<3} {state:<8} {r.rule.condition.kind:<12} "
              f"{active.get(r.id, 0)} active")  # fmt: skip
    print(f"{len(records)} rules")
    return 0


async def rules_backtest(settings: Settings, args: argparse.Namespace) -> int:
    """Back-test a stored rule or a draft file over stored readings."""
    profiles = load_profiles(settings)
    now = datetime.now(UTC)
    start = _time(args.start, now - timedelta(days=1))
    end = _time(args.end, now)
    if not start < end:
        raise RuleError("--from must be before --to")
    path = Path(args.rule)
    is_file = path.suffix in (".yaml", ".yml", ".json") and path.is_file()  # noqa: ASYNC240
    async with connection(settings.database_url) as conn:
        if is_file:
            found = load_rule_file(path, profiles)
            if len(found) != 1:
                raise RuleError(f"{path}: holds {len(found)} rules; back-test one at a time")
            rule = found[0]
        else:
            record = await get_rule(conn, args.rule)
            if record is None:
                raise RuleError(f"no rule named {args.rule!r} (and no such rule file)")
            rule = record.rule
        problems = check_rule(rule, profiles)
        if problems:
            raise RuleError("\n".join(problems))
        metric_ids = await ensure_metrics(conn, {m for p in profiles for m in p.metrics})
        async with connection(settings.database_url) as second:  # reads the next day meanwhile
            result = await backtest(conn, rule, start, end, profiles, metric_ids, more=[second])
    if args.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return 0
    print(
        f"rule {result.rule!r} from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC: "
        f"{result.readings} readings of {result.devices} devices in {result.seconds:.2f} s"
    )
    for a in result.alarms:
        until = f"{a.cleared_at:%Y-%m-%d %H:%M:%S}" if a.cleared_at else "still active"
        repeats = f" (x{a.count})" if a.count > 1 else ""
        print(f"  {a.subject:<24} {a.raised_at:%Y-%m-%d %H:%M:%S} -> {until}{repeats}")
    print(f"{len(result.alarms)} alarms")
    return 0
