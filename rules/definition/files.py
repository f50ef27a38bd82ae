"""Rules as code: rule files (YAML or JSON, one rule per file, or a list of rules) read
with errors that name the file, the line and the problem; export back to files."""

from __future__ import annotations

from pathlib import Path

import orjson
import yaml
from pydantic import ValidationError

from device_profiles import ProfileRegistry
from device_profiles.loader import validation_problems

from ..errors import RuleError
from ..store import RuleRecord
from .check import check_rule
from .model import Rule

__all__ = [
    "EXAMPLES_DIR",
    "RULE_SUFFIXES",
    "dump_rule",
    "load_rule_dir",
    "load_rule_dir_located",
    "load_rule_file",
    "slug",
]

RULE_SUFFIXES = (".yaml", ".yml", ".json")
# Example rules for the built-in profiles (what ``make demo`` applies).
EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"


def _line_of(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def load_rule_file(path: Path, profiles: ProfileRegistry) -> list[Rule]:
    """The rules in one file, checked; RuleError lists every problem as file:line: text."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"{path}: cannot read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = orjson.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, orjson.JSONDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else getattr(exc, "lineno", None)
        where = f"{path}:{line}" if line else str(path)
        raise RuleError(f"{where}: syntax error: {getattr(exc, 'problem', None) or exc}") from None
    items: list[tuple[object, yaml.Node | None]]
    if isinstance(data, list):
        seq = node.value if isinstance(node, yaml.SequenceNode) else []
        items = [(d, seq[i] if i < len(seq) else None) for i, d in enumerate(data)]
    elif isinstance(data, dict):
        items = [(data, node)]
    else:
        raise RuleError(f"{path}:1: a rule file holds a rule (a mapping) or a list of rules")
    rules: list[Rule] = []
    problems: list[str] = []
    for item, item_node in items:
        try:
            rule = Rule.model_validate(item)
        except ValidationError as exc:
            for line, msg in validation_problems(exc, item_node):
                problems.append(f"{path}:{line}: {msg}" if line else f"{path}: {msg}")
            continue
        line = _line_of(item_node)
        problems += [f"{path}:{line}: rule {rule.name!r}: {p}" for p in check_rule(rule, profiles)]
        rules.append(rule)
    if problems:
        raise RuleError("\n".join(problems))
    return rules


def load_rule_dir(directory: Path, profiles: ProfileRegistry) -> list[Rule]:
    """Every rule in a directory's rule files (or in one file); names must be unique."""
    return [rule for rule, _ in load_rule_dir_located(directory, profiles)]


def load_rule_dir_located(directory: Path, profiles: ProfileRegistry) -> list[tuple[Rule, str]]:
    """Like :func:`load_rule_dir`, each rule with where it is written (``file:line``), for
    messages about it later."""
    paths = (
        [directory]
        if directory.is_file()
        else sorted(p for p in directory.iterdir() if p.suffix in RULE_SUFFIXES and p.is_file())
        if directory.is_dir()
        else None
    )
    if paths is None:
        raise RuleError(f"{directory}: no such file or directory")
    rules: list[tuple[Rule, str]] = []
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for path in paths:
        try:
            found = load_rule_file(path, profiles)
        except RuleError as exc:
            problems.append(str(exc))
            continue
        lines = _rule_lines(path)
        for i, rule in enumerate(found):
            if rule.name in seen:
                problems.append(f"{path}: rule {rule.name!r} is also defined in {seen[rule.name]}")
            seen[rule.name] = path
            line = lines[i] if i < len(lines) else None
            rules.append((rule, f"{path}:{line}" if line else str(path)))
    if problems:
        raise RuleError("\n".join(problems))
    return rules


def _rule_lines(path: Path) -> list[int | None]:
    """The line each rule of a (valid) rule file starts on."""
    node = yaml.compose(path.read_text("utf-8"), Loader=yaml.SafeLoader)
    if isinstance(node, yaml.SequenceNode):
        return [_line_of(item) for item in node.value]
    return [_line_of(node)]


def slug(name: str) -> str:
    """A file name for a rule name."""
    keep = "".join(c if c.isalnum() or c in "-_." else "-" for c in name.lower())
    return keep.strip("-.") or "rule"


def dump_rule(record: RuleRecord | Rule) -> str:
    """YAML text of a rule, with only what differs from the defaults."""
    rule = record.rule if isinstance(record, RuleRecord) else record
    data = rule.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data = {"name": rule.name, **{k: v for k, v in data.items() if k != "name"}}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
