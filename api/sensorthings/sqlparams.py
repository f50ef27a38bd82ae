"""Bind parameters for generated SQL: every value becomes ``$n::type``; SQL text is only
ever built from constant fragments and whitelisted identifiers."""

from __future__ import annotations

__all__ = ["Params"]

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
