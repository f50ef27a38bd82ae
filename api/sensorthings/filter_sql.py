"""``$filter``/``$orderby`` AST -> SQL over an entity's alias, with bound parameters only.

Property names are looked up in the entity model (the whitelist); literals are bound.
A predicate whose paths all go through one navigation property becomes
``EXISTS (SELECT 1 FROM <related> WHERE <join> AND <predicate>)`` (any-semantics for
collections); ``Datastream/id eq 5``-style comparisons on keys become plain key column
comparisons, so they reach the readings index and chunk exclusion.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from .errors import bad_request
from .filter_functions import FUNCTIONS, Expr, check_wkt
from .filter_parser import Bin, Call, Lit, Neg, Node, Not, Path
from .ids import key_values
from .model import ENTITIES, Entity, Nav, Side, column_type
from .sqlparams import Params
from .timefmt import parse_instant

__all__ = ["Compiler", "join_sql"]

_CMP = {"eq": "=", "ne": "IS DISTINCT FROM", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_ARITH = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
_LIT_TYPES = {
    "number": "float8",
    "text": "text",
    "bool": "bool",
    "time": "timestamptz",
    "date": "date",
    "tod": "time",
    "duration": "interval",
}
_ORDERABLE = frozenset({"number", "text", "bool", "time", "date", "tod", "duration"})


def join_sql(nav: Nav, parent: Side, child: Side) -> str:
    """The condition that relates a child row to its parent."""
    parts = [f"{child.col(c)} = {parent.col(p)}" for c, p in nav.pairs]
    if nav.extra is not None:
        cond = nav.extra(parent, child)  # noqa: S610 - not Django: constant SQL from the model
        if cond != "true":
            parts.append(f"({cond})")
    return " AND ".join(parts) if parts else "true"


def _paths(node: Node) -> Iterator[Path]:
    if isinstance(node, Path):
        yield node
    elif isinstance(node, Call):
        for a in node.args:
            yield from _paths(a)
    elif isinstance(node, Bin):
        yield from _paths(node.left)
        yield from _paths(node.right)
    elif isinstance(node, Not | Neg):
        yield from _paths(node.operand)


def _strip(node: Node) -> Node:
    """The same expression with each path's first segment removed."""
    if isinstance(node, Path):
        return Path(node.segments[1:])
    if isinstance(node, Call):
        return Call(node.name, tuple(_strip(a) for a in node.args))
    if isinstance(node, Bin):
        return Bin(node.op, _strip(node.left), _strip(node.right))
    if isinstance(node, Not):
        return Not(_strip(node.operand))
    if isinstance(node, Neg):
        return Neg(_strip(node.operand))
    return node


def _is_text(node: Node) -> bool:
    return isinstance(node, Lit) and node.kind == "text"


def _json(sql: str) -> Expr:
    return Expr(
        sql,
        "json",
        alts=(
            ("number", f"(CASE WHEN jsonb_typeof({sql}) = 'number' THEN ({sql})::float8 END)"),
            ("text", f"({sql} #>> '{{}}')"),
            ("bool", f"(CASE WHEN jsonb_typeof({sql}) = 'boolean' THEN ({sql})::bool END)"),
        ),
    )


class Compiler:
    """Compiles expressions for one statement (shares its parameters and aliases)."""

    def __init__(self, params: Params, aliases: Iterator[int] | None = None) -> None:
        self.params = params
        self._aliases = aliases or itertools.count(1)

    def alias(self) -> str:
        """A fresh table alias."""
        return f"f{next(self._aliases)}"

    # -- predicates ------------------------------------------------------------------
    def predicate(self, node: Node, entity: Entity, alias: str) -> str:
        """Boolean SQL for ``node`` over ``alias``."""
        if isinstance(node, Bin) and node.op in ("and", "or"):
            left = self.predicate(node.left, entity, alias)
            right = self.predicate(node.right, entity, alias)
            return f"({left} {node.op.upper()} {right})"
        if isinstance(node, Not):
            return f"(NOT {self.predicate(node.operand, entity, alias)})"
        keyed = self._key_comparison(node, entity, alias)
        if keyed is not None:
            return keyed
        paths = list(_paths(node))
        firsts = {p.segments[0] for p in paths}
        if len(firsts) == 1 and len(paths[0].segments) > 1:
            nav = entity.navs.get(next(iter(firsts)))
            if nav is not None:
                target = ENTITIES[nav.target]
                c = self.alias()
                inner = self.predicate(_strip(node), target, c)
                src = target.source.format(a=c)
                on = join_sql(nav, Side(alias), Side(c))
                return f"EXISTS (SELECT 1 FROM {src} WHERE {on} AND {inner})"  # noqa: S608
        expr = self.value(node, entity, alias)
        as_bool = expr.as_kind("bool")
        if as_bool is None:
            raise bad_request(f"$filter must be a condition, not a {expr.kind} value")
        return as_bool.sql

    def _key_comparison(self, node: Node, entity: Entity, alias: str) -> str | None:
        """``<to-one path>/id eq <literal>`` as comparisons of the root's key columns."""
        if not (isinstance(node, Bin) and node.op == "eq"):
            return None
        path, lit = node.left, node.right
        if isinstance(path, Lit):
            path, lit = lit, path
        if not (isinstance(path, Path) and isinstance(lit, Lit)) or path.segments[-1] != "id":
            return None
        chain: list[Nav] = []
        current = entity
        for seg in path.segments[:-1]:
            nav = current.navs.get(seg)
            if nav is None or nav.many or nav.extra is not None:
                return None
            chain.append(nav)
            current = ENTITIES[nav.target]
        if current.name not in ("Datastream", "Observation") and not chain:
            return None  # plain ``id eq n`` compiles fine as it is
        values = key_values(current.name, lit.value)
        if values is None:
            return "false" if lit.kind in ("number", "text") else None
        for nav in reversed(chain):
            mapped = {p: values[c] for c, p in nav.pairs if c in values}
            if len(mapped) != len(values):
                return None
            values = mapped
        terms = [
            f"{alias}.{col} = {self.params.add(v, column_type(col))}" for col, v in values.items()
        ]
        return "(" + " AND ".join(terms) + ")"

    # -- values --------------------------------------------------------------------
    def value(self, node: Node, entity: Entity, alias: str) -> Expr:
        """Typed SQL for ``node`` over ``alias``."""
        if isinstance(node, Lit):
            return self._literal(node)
        if isinstance(node, Path):
            return self._path(node.segments, entity, alias)
        if isinstance(node, Neg):
            inner = self._need(self.value(node.operand, entity, alias), "number", "-")
            return Expr(f"(-{inner.sql})", "number")
        if isinstance(node, Not):
            return Expr(self.predicate(node, entity, alias), "bool")
        if isinstance(node, Call):
            return self._call(node, entity, alias)
        if node.op in ("and", "or"):
            return Expr(self.predicate(node, entity, alias), "bool")
        if node.op in _CMP:
            # Lenient: a quoted ISO time compared with a time is read as a time. Each
            # literal is bound once, as the type it ends up with.
            if _is_text(node.left):
                right = self.value(node.right, entity, alias)
                left = self._time_or_text(node.left, right, entity, alias)
            else:
                left = self.value(node.left, entity, alias)
                right = self._time_or_text(node.right, left, entity, alias)
            return Expr(self._compare(node.op, left, right), "bool")
        left = self.value(node.left, entity, alias)
        right = self.value(node.right, entity, alias)
        return self._arith(node.op, left, right)

    def _time_or_text(self, node: Node, other: Expr, entity: Entity, alias: str) -> Expr:
        if other.kind == "time" and isinstance(node, Lit) and node.kind == "text":
            return self._literal(Lit(parse_instant(str(node.value)), "time"))
        return self.value(node, entity, alias)

    def _literal(self, lit: Lit) -> Expr:
        if lit.kind == "null":
            return Expr("NULL", "null")
        if lit.kind == "geo":
            wkt = check_wkt(str(lit.value))
            return Expr(
                f"ST_GeomFromText({self.params.add(wkt, 'text')}, 4326)", "geo", lit.geography
            )
        value = float(lit.value) if lit.kind == "number" else lit.value  # type: ignore[arg-type]
        return Expr(self.params.add(value, _LIT_TYPES[lit.kind]), lit.kind)

    def _path(self, segments: tuple[str, ...], entity: Entity, alias: str) -> Expr:
        head, rest = segments[0], segments[1:]
        prop = entity.prop(head)
        if prop is not None:
            sql = prop.sql.format(a=alias)
            if prop.kind == "result":
                if rest:
                    raise bad_request("result has no sub-properties")
                return Expr(
                    sql,
                    "result",
                    alts=(
                        ("number", f"(CASE WHEN {alias}.state IS NULL THEN {sql} END)"),
                        ("text", f"{alias}.state"),
                    ),
                )
            if rest:
                if prop.kind != "json":
                    raise bad_request(f"{entity.name}/{head} has no sub-property {rest[0]!r}")
                for key in rest:
                    sql = f"({sql} -> {self.params.add(key, 'text')})"
                return _json(sql)
            return _json(sql) if prop.kind == "json" else Expr(sql, prop.kind)
        nav = entity.navs.get(head)
        if nav is None:
            known = ", ".join([*entity.props, *entity.navs])
            raise bad_request(f"{entity.name} has no property {head!r} (it has: {known})")
        if nav.many:
            raise bad_request(
                f"{entity.name}/{head} is a collection: compare one of its properties on "
                "its own, e.g. Datastreams/name eq 'x'"
            )
        if not rest:
            raise bad_request(f"{entity.name}/{head} is an entity: name one of its properties")
        target = ENTITIES[nav.target]
        c = self.alias()
        inner = self._path(rest, target, c)
        src = target.source.format(a=c)
        on = join_sql(nav, Side(alias), Side(c))

        def sub(sql: str) -> str:
            return f"(SELECT {sql} FROM {src} WHERE {on} LIMIT 1)"  # noqa: S608

        return Expr(
            sub(inner.sql), inner.kind, inner.geography, tuple((k, sub(s)) for k, s in inner.alts)
        )

    def _need(self, e: Expr, kind: str, what: str) -> Expr:
        got = e.as_kind(kind)
        if got is None:
            raise bad_request(f"{what} needs a {kind} value, not {e.kind}")
        return got

    def _call(self, node: Call, entity: Entity, alias: str) -> Expr:
        fn = FUNCTIONS.get(node.name)
        if fn is None:
            raise bad_request(f"unknown function {node.name!r}")
        n = len(node.args)
        if not len(fn.args) - fn.optional <= n <= len(fn.args):
            raise bad_request(f"{node.name} takes {len(fn.args)} argument(s), got {n}")
        args = [
            self._need(self.value(a, entity, alias), kind, node.name)
            for a, kind in zip(node.args, fn.args, strict=False)
        ]
        return Expr(fn.build(args), fn.result)

    def _compare(self, op: str, left: Expr, right: Expr) -> str:
        if "null" in (left.kind, right.kind):
            other = right if left.kind == "null" else left
            if op == "eq":
                return f"({other.sql} IS NULL)"
            if op == "ne":
                return f"({other.sql} IS NOT NULL)"
            raise bad_request(f"null can only be compared with eq or ne, not {op}")
        kind = self._common(left, right)
        a, b = left.as_kind(kind), right.as_kind(kind)
        assert a is not None and b is not None
        if kind == "geo":
            if op not in ("eq", "ne"):
                raise bad_request("geometries can only be compared with eq or ne")
            sql = f"ST_Equals({a.sql}, {b.sql})"
            return sql if op == "eq" else f"(NOT {sql})"
        return f"({a.sql} {_CMP[op]} {b.sql})"

    def _common(self, left: Expr, right: Expr) -> str:
        for kind in (left.kind, right.kind):
            if kind not in ("json", "result") and left.as_kind(kind) and right.as_kind(kind):
                return kind
        if left.kind in ("json", "result") and right.kind in ("json", "result"):
            return "text"
        if "time" in (left.kind, right.kind) and "text" in (left.kind, right.kind):
            raise bad_request("compare times with unquoted ISO 8601 times: 2024-01-01T00:00:00Z")
        raise bad_request(f"cannot compare a {left.kind} value with a {right.kind} value")

    def _arith(self, op: str, left: Expr, right: Expr) -> Expr:
        kinds = (left.kind, right.kind)
        if op in ("add", "sub") and "time" in kinds and "duration" in kinds:
            if op == "sub" and kinds[0] != "time":
                raise bad_request("subtract a duration from a time, not the other way round")
            return Expr(f"({left.sql} {_ARITH[op]} {right.sql})", "time")
        if op == "sub" and kinds == ("time", "time"):
            return Expr(f"({left.sql} - {right.sql})", "duration")
        a = self._need(left, "number", op)
        b = self._need(right, "number", op)
        if op == "mod":
            return Expr(f"mod(({a.sql})::numeric, ({b.sql})::numeric)::float8", "number")
        return Expr(f"({a.sql} {_ARITH[op]} {b.sql})", "number")

    # -- ordering ------------------------------------------------------------------
    def order_terms(self, node: Node, entity: Entity, alias: str) -> list[str]:
        """SQL terms to sort by ``node`` (a result sorts by number, then by state)."""
        e = self.value(node, entity, alias)
        if e.kind in ("json", "result"):
            return [sql for kind, sql in e.alts if kind in ("number", "text")]
        if e.kind not in _ORDERABLE:
            raise bad_request(f"cannot order by a {e.kind} value")
        return [e.sql]
