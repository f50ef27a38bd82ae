"""Bind parameters for generated SQL: every value becomes ``$n::type``; SQL text is only
ever built from constant fragments and whitelisted identifiers. And how long one
generated statement may run."""

from __future__ import annotations

__all__ = ["READ_TIMEOUT_S", "Params"]

# A generated read that runs longer is cancelled (asyncpg sends the server a cancel
# request and raises TimeoutError) and answered with a 400. Passed per statement rather
# than as ``SET LOCAL statement_timeout`` in a transaction: that costs three round trips
# (BEGIN, SET, COMMIT) on every request.
READ_TIMEOUT_S = 10.0

_TYPES = frozenset(
    {
        "text", "int4", "int2", "int8", "float8", "bool", "timestamptz", "interval", "date",
        "time", "jsonb", "text[]", "int4[]", "int2[]", "int8[]", "float8[]", "bool[]",
        "timestamptz[]",
    }
)  # fmt: skip


class Params:
    """The values of one statement, in order; :meth:`add` returns the placeholder."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: list[object] = []

    def add(self, value: object, sql_type: str) -> str:
        """Bind ``value`` and return ``$n::sql_type``."""
        if sql_type not in _TYPES:
            raise ValueError(f"unexpected parameter type {sql_type!r}")
        self.values.append(value)
        return f"${len(self.values)}::{sql_type}"
