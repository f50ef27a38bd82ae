"""Open311 service types: what operators configure (code, name, group, attributes) and
the check of a citizen's attribute answers against a service definition."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal, Self

import asyncpg
import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ingest.db import Conn

__all__ = [
    "Attribute",
    "AttributeValue",
    "NotFound",
    "ServiceRequestError",
    "ServiceType",
    "ServiceTypeIn",
    "check_attribute_answers",
    "delete_service_type",
    "get_service_type",
    "list_service_types",
    "save_service_type",
]

SERVICE_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
Datatype = Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
_LISTS = ("singlevaluelist", "multivaluelist")


class ServiceRequestError(Exception):
    """A service type or service request operation was refused; ``problems`` lists every
    reason (one readable line each)."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems) or [message]


class NotFound(ServiceRequestError):
    """The service type or request does not exist."""


class AttributeValue(BaseModel):
    """One option of a list attribute."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)


class Attribute(BaseModel):
    """One field of a service definition (GeoReport v2 names)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    variable: bool = True
    code: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    datatype: Datatype = "string"
    required: bool = False
    datatype_description: str | None = Field(default=None, max_length=500)
    order: int = Field(ge=1, le=10_000)
    description: str = Field(default="", max_length=2000)
    values: list[AttributeValue] = Field(default_factory=list, max_length=500)

    @model_validator(mode="after")
    def _values_fit_datatype(self) -> Self:
        if self.datatype in _LISTS:
            if not self.values:
                raise ValueError(f"attribute {self.code}: a {self.datatype} needs values")
            keys = [v.key for v in self.values]
            if len(set(keys)) != len(keys):
                raise ValueError(f"attribute {self.code}: value keys must be unique")
        elif self.values:
            raise ValueError(f"attribute {self.code}: only list datatypes take values")
        return self


class ServiceTypeIn(BaseModel):
    """A service type as an operator writes it."""

    model_config = ConfigDict(extra="forbid")

    service_code: str = Field(pattern=SERVICE_CODE_PATTERN)
    service_name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    type: Literal["realtime", "batch", "blackbox"] = "realtime"
    keywords: list[str] = Field(default_factory=list, max_length=50)
    group: str = Field(default="", max_length=100)
    attributes: list[Attribute] = Field(default_factory=list, max_length=100)
    agency_responsible: str | None = Field(default=None, max_length=200)
    service_notice: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _unique_attributes(self) -> Self:
        codes = [a.code for a in self.attributes]
        if len(set(codes)) != len(codes):
            raise ValueError("attribute codes must be unique within a service type")
        orders = [a.order for a in self.attributes]
        if len(set(orders)) != len(orders):
            raise ValueError("attribute orders must be unique within a service type")
        return self


class ServiceType(ServiceTypeIn):
    """A stored service type; ``metadata`` is true when it has attributes."""

    metadata: bool
    updated_at: datetime


_SELECT = (
    "SELECT service_code, service_name, description, metadata, type, keywords, grp, "
    "attributes::text AS attributes, agency_responsible, service_notice, updated_at "
    "FROM service_types"
)


def _type(r: asyncpg.Record) -> ServiceType:
    attrs = sorted(
        (Attribute.model_validate(a) for a in orjson.loads(r["attributes"])),
        key=lambda a: a.order,
    )
    return ServiceType(
        service_code=r["service_code"],
        service_name=r["service_name"],
        description=r["description"],
        type=r["type"],
        keywords=list(r["keywords"]),
        group=r["grp"],
        attributes=attrs,
        agency_responsible=r["agency_responsible"],
        service_notice=r["service_notice"],
        metadata=r["metadata"],
        updated_at=r["updated_at"],
    )


async def list_service_types(conn: Conn) -> list[ServiceType]:
    """Every service type, by group then code."""
    rows = await conn.fetch(_SELECT + " ORDER BY grp, service_code")
    return [_type(r) for r in rows]


async def get_service_type(conn: Conn, service_code: str) -> ServiceType:
    """One service type; raises :class:`NotFound`."""
    row = await conn.fetchrow(_SELECT + " WHERE service_code = $1", service_code)
    if row is None:
        raise NotFound(f"service_code {service_code!r} not found")
    return _type(row)


async def save_service_type(conn: Conn, body: ServiceTypeIn, *, create: bool) -> ServiceType:
    """Create (``create``; refuses an existing code) or replace a service type."""
    attrs = orjson.dumps([a.model_dump() for a in body.attributes]).decode()
    keywords = [k.strip() for k in body.keywords if k.strip()]
    args = (
        body.service_code, body.service_name, body.description, bool(body.attributes),
        body.type, keywords, body.group, attrs, body.agency_responsible, body.service_notice,
    )  # fmt: skip
    if create:
        try:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO service_types (service_code, service_name, description, "
                    "metadata, type, keywords, grp, attributes, agency_responsible, "
                    "service_notice) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10)",
                    *args,
                )
        except asyncpg.UniqueViolationError:
            raise ServiceRequestError(
                f"service_code {body.service_code!r} already exists; update it instead"
            ) from None
    else:
        status = await conn.execute(
            "UPDATE service_types SET service_name = $2, description = $3, metadata = $4, "
            "type = $5, keywords = $6, grp = $7, attributes = $8::jsonb, "
            "agency_responsible = $9, service_notice = $10, updated_at = now() "
            "WHERE service_code = $1",
            *args,
        )
        if status.endswith(" 0"):
            raise NotFound(f"service_code {body.service_code!r} not found")
    return await get_service_type(conn, body.service_code)


async def delete_service_type(conn: Conn, service_code: str) -> None:
    """Delete a service type no request uses (requests keep theirs: they are records)."""
    used = await conn.fetchval(
        "SELECT count(*) FROM service_requests WHERE service_code = $1", service_code
    )
    if used:
        raise ServiceRequestError(
            f"service_code {service_code!r} has {used} service requests and cannot be deleted"
        )
    status = await conn.execute("DELETE FROM service_types WHERE service_code = $1", service_code)
    if status.endswith(" 0"):
        raise NotFound(f"service_code {service_code!r} not found")


def _answer(attr: Attribute, values: list[str]) -> tuple[str | list[str] | None, str | None]:
    """(normalised answer, problem) for one attribute."""
    keys = {v.key for v in attr.values}
    if attr.datatype == "multivaluelist":
        bad = [v for v in values if v not in keys]
        if bad:
            return None, f"attribute[{attr.code}]: {bad[0]!r} is not one of {sorted(keys)}"
        return list(dict.fromkeys(values)), None
    if len(values) > 1:
        return None, f"attribute[{attr.code}] takes one value"
    value = values[0]
    if attr.datatype == "singlevaluelist" and value not in keys:
        return None, f"attribute[{attr.code}]: {value!r} is not one of {sorted(keys)}"
    if attr.datatype == "number":
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            return None, f"attribute[{attr.code}]: {value!r} is not a number"
    if attr.datatype == "datetime":
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return None, f"attribute[{attr.code}]: {value!r} is not an ISO 8601 date/time"
    if attr.datatype == "string" and ("\n" in value or "\r" in value):
        return None, f"attribute[{attr.code}]: a string has no line breaks"
    limit = 4000 if attr.datatype == "text" else 1000
    if len(value) > limit:
        return None, f"attribute[{attr.code}]: longer than {limit} characters"
    return value, None


def check_attribute_answers(
    service: ServiceType, answers: Mapping[str, list[str]]
) -> dict[str, str | list[str]]:
    """A citizen's ``attribute[code]`` answers checked against the service definition;
    raises :class:`ServiceRequestError` listing every problem."""
    by_code = {a.code: a for a in service.attributes if a.variable}
    problems = [
        f"attribute[{code}] is not part of service {service.service_code}"
        for code in answers
        if code not in by_code
    ]
    checked: dict[str, str | list[str]] = {}
    for attr in service.attributes:
        if not attr.variable:
            continue
        values = [v for v in answers.get(attr.code, []) if v != ""]
        if not values:
            if attr.required:
                problems.append(f"attribute[{attr.code}] is required ({attr.description})")
            continue
        value, problem = _answer(attr, values)
        if problem is not None:
            problems.append(problem)
        elif value is not None:
            checked[attr.code] = value
    if problems:
        raise ServiceRequestError("; ".join(problems), problems)
    return checked
