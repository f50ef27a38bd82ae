"""Query options (``$filter``, ``$expand``, ``$select``, ``$orderby``, ``$top``, ``$skip``,
``$count``, ``$resultFormat``, ``$skiptoken``), parsed and checked against the entity
they apply to; nested ``$expand`` options in parentheses are parsed the same way."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import bad_request
from .filter_parser import Node, parse_expression
from .model import ENTITIES, Entity

__all__ = ["ExpandItem", "Limits", "Options", "parse_options", "split_top_level"]

_TOP_LEVEL = frozenset(
    {"$filter", "$expand", "$select", "$orderby", "$top", "$skip", "$count", "$resultFormat",
     "$skiptoken"}
)  # fmt: skip
_NESTED = frozenset({"$filter", "$expand", "$select", "$orderby", "$top", "$skip", "$count"})
MAX_EXPAND_DEPTH = 4


@dataclass(frozen=True, slots=True)
class Limits:
    """Page sizes from the API configuration."""

    default_top: int
    max_top: int
    max_skip: int


@dataclass(slots=True)
class Options:
    """The options of one request (or of one expanded navigation property)."""

    filter: Node | None = None
    orderby: list[tuple[Node, bool]] = field(default_factory=list)  # (expression, descending)
    top: int = 100
    skip: int = 0
    count: bool = False
    select: list[str] | None = None
    expand: list[ExpandItem] = field(default_factory=list)
    result_format: str | None = None
    skiptoken: str | None = None
    raw: dict[str, str] = field(default_factory=dict)  # the texts given, for next links


@dataclass(slots=True)
class ExpandItem:
    """``$expand=Nav(options)``."""

    nav: str
    options: Options


def split_top_level(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside parentheses and quoted strings (400 when unbalanced)."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for i, ch in enumerate(text):
        if ch == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise bad_request(f"unbalanced ')' at position {i} of {text!r}")
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth or quoted:
        raise bad_request(f"unbalanced parentheses or quotes in {text!r}")
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _int(name: str, text: str, maximum: int) -> int:
    if not text.isdigit() or len(text) > 12:
        raise bad_request(f"{name} must be a non-negative integer, not {text!r}")
    value = int(text)
    if value > maximum:
        raise bad_request(f"{name} is at most {maximum}, not {value}")
    return value


def parse_options(
    given: list[tuple[str, str]], entity: Entity, limits: Limits, *, nested: int = 0
) -> Options:
    """Checked options for ``entity`` from (name, value) pairs; 400 on any problem."""
    allowed = _NESTED if nested else _TOP_LEVEL
    raw: dict[str, str] = {}
    for name, value in given:
        if not name.startswith("$"):
            continue  # custom options without '$' are allowed and ignored
        if name not in allowed:
            where = " inside $expand" if nested else ""
            raise bad_request(f"unknown or unsupported query option {name!r}{where}")
        if name in raw:
            raise bad_request(f"query option {name} is given twice")
        raw[name] = value
    opts = Options(top=limits.default_top, raw=raw)
    if "$top" in raw:
        # Larger pages are clamped to the server's maximum (documented), not refused.
        opts.top = min(_int("$top", raw["$top"], 10**12), limits.max_top)
    if "$skip" in raw:
        opts.skip = _int("$skip", raw["$skip"], limits.max_skip)
    if "$count" in raw:
        if raw["$count"] not in ("true", "false"):
            raise bad_request(f"$count must be true or false, not {raw['$count']!r}")
        opts.count = raw["$count"] == "true"
    if "$filter" in raw:
        opts.filter = parse_expression(raw["$filter"])
    if "$orderby" in raw:
        opts.orderby = [_order_item(item) for item in split_top_level(raw["$orderby"], ",")]
    if "$select" in raw:
        opts.select = _select(raw["$select"], entity)
    if "$expand" in raw:
        if nested >= MAX_EXPAND_DEPTH:
            raise bad_request(f"$expand nests deeper than {MAX_EXPAND_DEPTH} levels")
        opts.expand = _expand(raw["$expand"], entity, limits, nested)
    if "$resultFormat" in raw:
        if raw["$resultFormat"] != "dataArray":
            raise bad_request(
                f"$resultFormat {raw['$resultFormat']!r} is not supported (only dataArray)"
            )
        if entity.name != "Observation":
            raise bad_request("$resultFormat=dataArray applies to Observations only")
        opts.result_format = "dataArray"
    if "$skiptoken" in raw:
        opts.skiptoken = raw["$skiptoken"]
    return opts


def _order_item(item: str) -> tuple[Node, bool]:
    if not item:
        raise bad_request("empty $orderby item")
    words = item.rsplit(None, 1)
    desc = False
    if len(words) == 2 and words[1].lower() in ("asc", "desc"):
        item, desc = words[0], words[1].lower() == "desc"
    return parse_expression(item), desc


def _select(text: str, entity: Entity) -> list[str]:
    names = [n for n in split_top_level(text, ",")]
    for n in names:
        if n not in entity.props and n not in entity.navs:
            known = ", ".join([*entity.props, *entity.navs])
            raise bad_request(f"$select: {entity.name} has no property {n!r} (it has: {known})")
    return list(dict.fromkeys(names))


def _expand(text: str, entity: Entity, limits: Limits, nested: int) -> list[ExpandItem]:
    items: dict[str, ExpandItem] = {}
    for part in split_top_level(text, ","):
        path, inner = part, ""
        if part.endswith(")") and "(" in part:
            cut = part.index("(")
            path, inner = part[:cut].strip(), part[cut + 1 : -1]
        segments = [s.strip() for s in path.split("/")]
        _add_expand(items, segments, inner, entity, limits, nested)
    return list(items.values())


def _add_expand(
    items: dict[str, ExpandItem],
    segments: list[str],
    inner: str,
    entity: Entity,
    limits: Limits,
    nested: int,
) -> None:
    name = segments[0]
    nav = entity.navs.get(name)
    if nav is None:
        known = ", ".join(entity.navs)
        raise bad_request(f"$expand: {entity.name} has no navigation property {name!r} ({known})")
    target = ENTITIES[nav.target]
    item = items.get(name)
    if len(segments) > 1:
        if item is None:
            item = items[name] = ExpandItem(name, parse_options([], target, limits, nested=1))
        sub = {i.nav: i for i in item.options.expand}
        if nested + 1 >= MAX_EXPAND_DEPTH:
            raise bad_request(f"$expand nests deeper than {MAX_EXPAND_DEPTH} levels")
        _add_expand(sub, segments[1:], inner, target, limits, nested + 1)
        item.options.expand = list(sub.values())
        return
    given = []
    for opt in split_top_level(inner, ";") if inner.strip() else []:
        key, eq, value = opt.partition("=")
        if not eq:
            raise bad_request(f"$expand option {opt!r} needs the form $name=value")
        given.append((key.strip(), value.strip()))
    options = parse_options(given, target, limits, nested=nested + 1)
    if item is not None and item.options.raw:
        raise bad_request(f"$expand names {name} twice with options")
    if item is not None:
        options.expand = [*item.options.expand, *options.expand]
    items[name] = ExpandItem(name, options)
