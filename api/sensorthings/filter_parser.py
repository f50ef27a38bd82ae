"""``$filter`` and ``$orderby`` expressions: a lexer and a recursive-descent parser for the
OData subset SensorThings 1.1 uses, producing a small immutable AST.

Grammar (lowest precedence first)::

    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum (("eq"|"ne"|"gt"|"ge"|"lt"|"le") sum)?
    sum     := product (("add"|"sub") product)*
    product := unary (("mul"|"div"|"mod") unary)*
    unary   := "-" unary | primary
    primary := "(" or ")" | literal | name "(" args ")" | path

Anything else is refused with a 400 that says where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time, timedelta

from .errors import bad_request
from .timefmt import parse_instant

__all__ = ["Bin", "Call", "Lit", "Neg", "Node", "Not", "Path", "parse_expression", "tokenize"]

MAX_LENGTH = 4000
MAX_DEPTH = 40


@dataclass(frozen=True, slots=True)
class Lit:
    """A literal: kind is number, text, bool, null, time, date, tod, duration or geo."""

    value: object
    kind: str
    geography: bool = False  # geo literals: geography'...' (metres) or geometry'...'


@dataclass(frozen=True, slots=True)
class Path:
    """A property path such as ``name`` or ``Datastream/Thing/properties/district``."""

    segments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Call:
    """A function call."""

    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Bin:
    """A binary operator: comparison, logical or arithmetic."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Not:
    """Logical negation."""

    operand: Node


@dataclass(frozen=True, slots=True)
class Neg:
    """Arithmetic negation."""

    operand: Node


Node = Lit | Path | Call | Bin | Not | Neg

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<tod>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<typed>[A-Za-z]+'(?:[^']|'')*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<punct>[(),/-])
    """,
    re.VERBOSE,
)

_COMPARE = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
_SUM = frozenset({"add", "sub"})
_PRODUCT = frozenset({"mul", "div", "mod"})
_DURATION = re.compile(
    r"^(-)?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def tokenize(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, position) of every token; 400 on a character that starts none."""
    if len(text) > MAX_LENGTH:
        raise bad_request(f"expression is longer than {MAX_LENGTH} characters")
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise bad_request(f"unexpected character {text[pos]!r} at position {pos}")
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append((kind, m.group(), pos))
        pos = m.end()
    return tokens


def _duration(text: str) -> timedelta:
    m = _DURATION.match(text)
    if m is None or text in ("P", "-P") or text.endswith("T"):
        raise bad_request(
            f"duration {text!r}: use ISO 8601 weeks, days, hours, minutes, seconds (P1DT2H)"
        )
    sign, weeks, days, hours, minutes, seconds = m.groups()
    delta = timedelta(
        weeks=int(weeks or 0),
        days=int(days or 0),
        hours=int(hours or 0),
        minutes=int(minutes or 0),
        seconds=float(seconds or 0),
    )
    return -delta if sign else delta


def _typed(token: str) -> Lit:
    prefix, _, rest = token.partition("'")
    body = rest[:-1].replace("''", "'")
    kind = prefix.lower()
    if kind in ("geography", "geometry"):
        return Lit(body, "geo", geography=kind == "geography")
    if kind == "duration":
        return Lit(_duration(body), "duration")
    raise bad_request(f"unknown literal type {prefix!r} (use geography'...', duration'...')")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def at(self, punct: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "punct" and tok[1] == punct

    def word(self) -> str | None:
        tok = self.peek()
        return tok[1].lower() if tok is not None and tok[0] == "name" else None

    def take(self) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise bad_request(f"expression {self.text!r} ends too early")
        self.i += 1
        return tok

    def expect(self, punct: str) -> None:
        tok = self.peek()
        if tok is None or not self.at(punct):
            where = f"at position {tok[2]}" if tok else "at the end"
            raise bad_request(f"expected {punct!r} {where} of {self.text!r}")
        self.i += 1

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise bad_request(f"expression nests deeper than {MAX_DEPTH} levels")

    def parse(self) -> Node:
        node = self.or_()
        tok = self.peek()
        if tok is not None:
            raise bad_request(f"unexpected {tok[1]!r} at position {tok[2]} of {self.text!r}")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.word() == "or":
            self.take()
            node = Bin("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.word() == "and":
            self.take()
            node = Bin("and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.word() == "not":
            self.take()
            self.enter()
            node: Node = Not(self.not_())
            self.depth -= 1
            return node
        return self.compare()

    def compare(self) -> Node:
        node = self.sum()
        op = self.word()
        if op in _COMPARE:
            self.take()
            node = Bin(op, node, self.sum())
        return node

    def sum(self) -> Node:
        node = self.product()
        while (op := self.word()) in _SUM:
            self.take()
            node = Bin(op, node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while (op := self.word()) in _PRODUCT:
            self.take()
            node = Bin(op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.at("-"):
            self.take()
            self.enter()
            node: Node = Neg(self.unary())
            self.depth -= 1
            return node
        return self.primary()

    def primary(self) -> Node:
        kind, text, pos = self.take()
        if kind == "punct" and text == "(":
            self.enter()
            node = self.or_()
            self.depth -= 1
            self.expect(")")
            return node
        if kind == "number":
            return Lit(float(text) if any(c in text for c in ".eE") else int(text), "number")
        if kind == "string":
            return Lit(text[1:-1].replace("''", "'"), "text")
        if kind == "typed":
            return _typed(text)
        if kind == "datetime":
            return Lit(parse_instant(text), "time")
        if kind == "date":
            try:
                return Lit(date.fromisoformat(text), "date")
            except ValueError:
                raise bad_request(f"{text!r} is not a date") from None
        if kind == "tod":
            try:
                return Lit(time.fromisoformat(text), "tod")
            except ValueError:
                raise bad_request(f"{text!r} is not a time of day") from None
        if kind == "name":
            return self.name(text, pos)
        raise bad_request(f"unexpected {text!r} at position {pos} of {self.text!r}")

    def name(self, text: str, pos: int) -> Node:
        low = text.lower()
        if self.at("("):
            self.take()
            self.enter()
            args: list[Node] = []
            if not self.at(")"):
                args.append(self.or_())
                while self.at(","):
                    self.take()
                    args.append(self.or_())
            self.expect(")")
            self.depth -= 1
            return Call(low, tuple(args))
        if low in ("true", "false"):
            return Lit(low == "true", "bool")
        if low == "null":
            return Lit(None, "null")
        if low in _COMPARE | _SUM | _PRODUCT | {"and", "or", "not"}:
            raise bad_request(f"operator {text!r} at position {pos} needs an operand before it")
        segments = [text]
        while self.at("/"):
            self.take()
            seg_kind, seg, seg_pos = self.take()
            if seg_kind != "name":
                raise bad_request(f"expected a property name after '/' at position {seg_pos}")
            segments.append(seg)
        return Path(tuple(segments))


def parse_expression(text: str) -> Node:
    """The AST of a ``$filter`` (or one ``$orderby``) expression; 400 when malformed."""
    if not text.strip():
        raise bad_request("empty expression")
    return _Parser(text).parse()
