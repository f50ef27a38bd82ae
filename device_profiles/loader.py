"""Read one profile file (YAML or JSON) and report problems with file and line numbers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import orjson
import yaml
from pydantic import ValidationError

from device_profiles.errors import ProfileFileError
from device_profiles.schema import Profile

log = logging.getLogger(__name__)

PROFILE_SUFFIXES = (".yaml", ".yml", ".json")

Problem = tuple[int | None, str]


def load_profile_file(path: Path | str) -> Profile:
    """Load and validate one profile file; raise ProfileFileError naming file, line and problem."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ProfileFileError(path, [(None, f"cannot read file: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise ProfileFileError(path, [(None, f"not valid UTF-8 ({exc.reason})")]) from None

    node = _compose(path, text)
    if path.suffix == ".json":
        try:
            data: object = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ProfileFileError(path, [(exc.lineno, f"invalid JSON: {exc.msg}")]) from None
    else:
        data = yaml.safe_load(text)  # already composed without error above
    if data is None:
        raise ProfileFileError(path, [(1, "file is empty")])
    if not isinstance(data, dict):
        raise ProfileFileError(path, [(_line(node), "top level must be a mapping")])

    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileFileError(path, _problems(exc, node)) from None
    if profile.name != path.stem:
        line = _locate(node, ("name",))[0]
        raise ProfileFileError(
            path, [(line, f"name: {profile.name!r} does not match file name {path.stem!r}")]
        )
    log.debug("loaded profile %s from %s", profile.name, path)
    return profile


def _compose(path: Path, text: str) -> yaml.Node | None:
    """Compose the YAML node tree (JSON is YAML enough for line lookups); reject duplicate keys."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        if path.suffix == ".json":
            return None  # orjson reports the syntax error with its own line number
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ProfileFileError(path, [(line, f"YAML syntax error: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise ProfileFileError(path, [(None, f"YAML error: {exc}")]) from None
    if node is not None:
        dup = _find_duplicate_key(node)
        if dup is not None:
            raise ProfileFileError(path, [dup])
    return node


def _find_duplicate_key(node: yaml.Node) -> Problem | None:
    if isinstance(node, yaml.MappingNode):
        seen: set[object] = set()
        for key, value in node.value:
            if key.value in seen:
                return key.start_mark.line + 1, f"duplicate key {key.value!r}"
            seen.add(key.value)
            found = _find_duplicate_key(value)
            if found is not None:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found = _find_duplicate_key(item)
            if found is not None:
                return found
    return None


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def _locate(root: yaml.Node | None, loc: Sequence[int | str]) -> tuple[int | None, str]:
    """Map a pydantic error location to (line, dotted path) in the composed tree.

    Location parts that are not keys in the data (union tags such as ``layout``) are skipped,
    except the last one: a missing field is reported at its parent's line under its own name.
    """
    node = root
    line = _line(root)
    shown: list[str] = []
    for i, part in enumerate(loc):
        child: tuple[yaml.Node, int] | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if str(key.value) == str(part):
                    child = value, key.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            item = node.value[part]
            child = item, item.start_mark.line + 1
        if child is not None:
            node, line = child
            shown.append(str(part))
        elif i == len(loc) - 1:
            shown.append(str(part))
    return line, ".".join(shown)


def _problems(exc: ValidationError, root: yaml.Node | None) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        line, where = _locate(root, err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if isinstance(err.get("input"), bool) and err["type"] == "string_type":
            msg += " (YAML reads unquoted on/off/yes/no as booleans: quote the value)"
        problems.append((line, f"{where}: {msg}" if where else msg))
    return problems


def validation_problems(exc: ValidationError, root: yaml.Node | None) -> list[Problem]:
    """(line, "dotted.path: message") for each error of a pydantic validation of the data
    composed from ``root``: the same readable form profile errors take (used for rule
    files too)."""
    return _problems(exc, root)
