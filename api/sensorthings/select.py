"""SELECT statements for entity collections, single entities and expansions.

Observations are paged by time: in their default order (``phenomenonTime desc``) or
ordered by ``phenomenonTime``/``resultTime`` alone, the next link carries a cursor
(``$skiptoken``: the last row's time, device and metric) instead of an offset, so every
page is an index range scan on ``readings`` however deep the client pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from ingest.db import Conn

from .catalogue import Catalogue
from .errors import bad_request
from .filter_parser import Path
from .filter_sql import Compiler, join_sql
from .model import Entity, Nav, Side, column_type
from .options import Options
from .paths import Parent, parent_exists, with_catalogue
from .sqlparams import READ_TIMEOUT_S, Params
from .timefmt import dt_to_us, us_to_dt

__all__ = ["Page", "count_rows", "fetch_children", "fetch_page", "time_order"]

Row = asyncpg.Record


@dataclass(slots=True)
class Page:
    """Rows of one page; ``more`` when rows follow."""

    rows: list[Row]
    more: bool


def _columns(entity: Entity, alias: str, select: Sequence[str] | None) -> str:
    cols = [f"{alias}.{c} AS k_{c}" for c, _ in entity.keys]
    for name, prop in entity.props.items():
        if name == "id" or (select is not None and name not in select):
            continue
        if prop.kind == "result":
            cols += [f"{alias}.value AS r_value", f"{alias}.state AS r_state"]
        else:
            cols.append(f'{(prop.out or prop.sql).format(a=alias)} AS "p_{name}"')
    return ", ".join(cols)


def time_order(entity: Entity, opts: Options) -> bool | None:
    """For Observations ordered by time only: True for descending, False for ascending;
    None when the order is anything else (paged by offset)."""
    if entity.name != "Observation":
        return None
    if not opts.orderby:
        return True
    if len(opts.orderby) == 1:
        node, desc = opts.orderby[0]
        if isinstance(node, Path) and node.segments in (("phenomenonTime",), ("resultTime",)):
            return desc
    return None


def _where(
    entity: Entity, alias: str, opts: Options, parent: Parent | None, params: Params
) -> tuple[list[str], Compiler]:
    comp = Compiler(params)
    where = []
    if parent is not None:
        where.append(join_sql(parent.nav, Side("p", parent.keys, params.add), Side(alias)))
        exists = parent_exists(parent, params)
        if exists is not None:
            where.append(exists)
    if opts.filter is not None:
        where.append(comp.predicate(opts.filter, entity, alias))
    return where, comp


def _order(entity: Entity, alias: str, opts: Options, comp: Compiler) -> list[str]:
    desc = time_order(entity, opts)
    if desc is not None:
        direction = "DESC" if desc else "ASC"
        return [f"{alias}.{c} {direction}" for c in ("time", "device_key", "metric_id")]
    terms = []
    for node, d in opts.orderby:
        for sql in comp.order_terms(node, entity, alias):
            terms.append(f"{sql} {'DESC NULLS LAST' if d else 'ASC NULLS FIRST'}")
    terms += [f"{alias}.{c} {'DESC' if d else 'ASC'}" for c, d in entity.order]
    return terms


def _cursor(token: str, desc: bool, alias: str, params: Params) -> str:
    parts = token.split("_")
    if len(parts) != 3 or not all(p.lstrip("-").isdigit() and len(p) < 21 for p in parts):
        raise bad_request(f"$skiptoken {token!r} is not one this server issued")
    t = params.add(us_to_dt(int(parts[0])), "timestamptz")
    d = params.add(int(parts[1]), "int4")
    m = params.add(int(parts[2]), "int2")
    op = "<" if desc else ">"
    bound = "<=" if desc else ">="
    row = f"({alias}.time, {alias}.device_key, {alias}.metric_id)"
    return f"{alias}.time {bound} {t} AND {row} {op} ({t}, {d}, {m})"


def cursor_of(row: Row) -> str:
    """The ``$skiptoken`` that continues after ``row`` (an Observation)."""
    return f"{dt_to_us(row['k_time'])}_{row['k_device_key']}_{row['k_metric_id']}"


async def fetch_page(
    conn: Conn,
    catalogue: Catalogue,
    entity: Entity,
    opts: Options,
    *,
    parent: Parent | None = None,
    keys: dict[str, object] | None = None,
) -> Page:
    """One page of ``entity`` (or the one entity with ``keys``)."""
    params = Params()
    where, comp = _where(entity, "a", opts, parent, params)
    if keys is not None:
        where += [f"a.{c} = {params.add(keys[c], column_type(c))}" for c in entity.ident]
    desc = time_order(entity, opts)
    if opts.skiptoken is not None:
        if desc is None:
            raise bad_request("$skiptoken only pages Observations ordered by time")
        where.append(_cursor(opts.skiptoken, desc, "a", params))
    limit = 1 if keys is not None else opts.top + 1
    cond = " AND ".join(where) or "true"
    order = ", ".join(_order(entity, "a", opts, comp))
    offset = opts.skip if keys is None else 0
    body = (
        f"SELECT {_columns(entity, 'a', opts.select)} FROM {entity.source.format(a='a')} "  # noqa: S608 - whitelisted names, bound values
        f"WHERE {cond} ORDER BY {order} "
        f"LIMIT {params.add(limit, 'int8')} OFFSET {params.add(offset, 'int8')}"
    )
    rows = await conn.fetch(
        with_catalogue(body, catalogue, params), *params.values, timeout=READ_TIMEOUT_S
    )
    more = keys is None and len(rows) > opts.top
    return Page(list(rows[: opts.top]) if keys is None else list(rows), more)


async def count_rows(
    conn: Conn,
    catalogue: Catalogue,
    entity: Entity,
    opts: Options,
    parent: Parent | None,
    cap: int,
) -> int | None:
    """How many rows match (Observations: None when more than ``cap``)."""
    params = Params()
    where, _ = _where(entity, "a", opts, parent, params)
    cond = " AND ".join(where) or "true"
    src = entity.source.format(a="a")
    if entity.name == "Observation":
        body = f"SELECT count(*) FROM (SELECT 1 FROM {src} WHERE {cond} LIMIT {cap + 1}) z"  # noqa: S608
    else:
        body = f"SELECT count(*) FROM {src} WHERE {cond}"  # noqa: S608
    sql = with_catalogue(body, catalogue, params)
    n = int(await conn.fetchval(sql, *params.values, timeout=READ_TIMEOUT_S))
    return None if entity.name == "Observation" and n > cap else n


async def fetch_children(
    conn: Conn,
    catalogue: Catalogue,
    nav: Nav,
    target: Entity,
    parents: list[dict[str, object]],
    opts: Options,
    cap: int,
) -> tuple[dict[int, list[Row]], dict[int, int | None]]:
    """Expanded rows of ``nav`` for every parent (by index in ``parents``), at most
    ``opts.top + 1`` each, and per-parent counts when ``$count=true``."""
    cols = list(dict.fromkeys([p for _, p in nav.pairs] + list(nav.parent_cols)))
    params = Params()
    arrays = [params.add([parent[c] for parent in parents], column_type(c) + "[]") for c in cols]
    unnest = f"unnest({', '.join(arrays)}) WITH ORDINALITY AS p({', '.join(cols)}, n)"
    where, comp = _where(target, "c", opts, None, params)
    where.insert(0, join_sql(nav, Side("p"), Side("c")))
    cond = " AND ".join(where)
    limit = opts.top + 1 if nav.many else 1
    inner = (
        f"SELECT {_columns(target, 'c', opts.select)} FROM {target.source.format(a='c')} "  # noqa: S608
        f"WHERE {cond} ORDER BY {', '.join(_order(target, 'c', opts, comp))} "
        f"LIMIT {limit} OFFSET {opts.skip if nav.many else 0}"
    )
    body = (
        f"SELECT p.n AS parent_n, x.* FROM {unnest} CROSS JOIN LATERAL "  # noqa: S608
        f"(SELECT s.*, row_number() OVER () AS rn FROM ({inner}) s) x ORDER BY p.n, x.rn"
    )
    rows = await conn.fetch(
        with_catalogue(body, catalogue, params), *params.values, timeout=READ_TIMEOUT_S
    )
    out: dict[int, list[Row]] = {}
    for r in rows:
        out.setdefault(int(r["parent_n"]) - 1, []).append(r)
    counts: dict[int, int | None] = {}
    if opts.count and nav.many:
        params2 = Params()
        arrays = [
            params2.add([parent[c] for parent in parents], column_type(c) + "[]") for c in cols
        ]
        unnest = f"unnest({', '.join(arrays)}) WITH ORDINALITY AS p({', '.join(cols)}, n)"
        where2, _ = _where(target, "c", opts, None, params2)
        where2.insert(0, join_sql(nav, Side("p"), Side("c")))
        body2 = (
            f"SELECT p.n, (SELECT count(*) FROM (SELECT 1 FROM {target.source.format(a='c')} "  # noqa: S608
            f"WHERE {' AND '.join(where2)} LIMIT {cap + 1}) z) AS n_rows FROM {unnest}"
        )
        sql2 = with_catalogue(body2, catalogue, params2)
        for r in await conn.fetch(sql2, *params2.values, timeout=READ_TIMEOUT_S):
            n = int(r["n_rows"])
            counts[int(r["n"]) - 1] = None if n > cap else n
    return out, counts
