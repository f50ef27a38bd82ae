"""What the OpenAPI document publishes for GeoReport v2 answers: the JSON bodies as models
(the routes build them as plain data, see ``render.py``), the same documents in XML, and
the spec's errors with the statuses each endpoint may answer."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from ..errors import ErrorSpec, Responses, error_responses

__all__ = [
    "FORM_SCHEMA",
    "XML",
    "Discovery",
    "Open311Error",
    "PostedRequest",
    "PublicRequest",
    "Service",
    "ServiceDefinition",
    "TokenRequest",
    "errors",
    "success",
]

XML: dict[str, Any] = {
    "text/xml": {"schema": {"type": "string", "description": "The same document in XML"}}
}

OPEN311_ERRORS = {
    400: "The request cannot be fulfilled: a parameter or form field is missing or invalid",
    403: "No api_key, or an invalid one",
    404: "Unknown format (use .json or .xml), jurisdiction_id or id",
    429: "Too many requests from this client without a valid API key; see Retry-After",
}


class Open311Error(BaseModel):
    """One error of the spec's error list."""

    code: int
    description: str


def errors(*specs: ErrorSpec) -> Responses:
    """The ``responses`` of GeoReport v2 errors: the spec's list, in JSON or XML."""
    xml = {"text/xml": {"schema": {"type": "string", "description": "<errors><error>..."}}}
    return error_responses(specs, list[Open311Error], OPEN311_ERRORS, xml)


def success(status: int, model: Any, description: str) -> Responses:
    """The answer ``status`` of an endpoint: ``model`` in JSON, the same in XML."""
    return {status: {"model": model, "description": description, "content": copy.deepcopy(XML)}}


class Endpoint(BaseModel):
    """A GeoReport v2 endpoint of discovery."""

    specification: str
    url: str
    changeset: datetime
    type: Literal["production", "test"]
    formats: list[str]


class Discovery(BaseModel):
    """Service discovery."""

    changeset: datetime
    contact: str
    key_service: str
    endpoints: list[Endpoint]


class Service(BaseModel):
    """One service of GET Service List."""

    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str = Field(description="comma separated")
    group: str


class ServiceAttributeValue(BaseModel):
    """One option of a list attribute."""

    key: str
    name: str


class ServiceAttribute(BaseModel):
    """One attribute of a service definition."""

    variable: bool
    code: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool
    datatype_description: str | None
    order: int
    description: str
    values: list[ServiceAttributeValue]


class ServiceDefinition(BaseModel):
    """GET Service Definition."""

    service_code: str
    attributes: list[ServiceAttribute]


class PublicRequest(BaseModel):
    """A service request as anyone may see it."""

    service_request_id: int
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str
    service_code: str
    description: str
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


class TokenRequest(BaseModel):
    """The request a token stands for."""

    service_request_id: int
    token: str


class PostedRequest(BaseModel):
    """The answer to POST Service Request: the id (realtime services) or a token (batch
    services), neither for blackbox services."""

    service_request_id: int | SkipJsonSchema[None] = None
    token: str | SkipJsonSchema[None] = None
    service_notice: str | None
    account_id: str | None


_TEXT: dict[str, Any] = {"type": "string"}
# POST Service Request: form fields (all text on the wire); ``attribute[<code>]`` fields
# answer the service definition's attributes (repeated for a multivaluelist).
FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **{
            name: _TEXT
            for name in (
                "api_key", "jurisdiction_id", "service_code", "address_string", "address_id",
                "email", "device_id", "account_id", "first_name", "last_name", "phone",
                "description", "media_url",
            )
        },
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
        "long": {"type": "number", "minimum": -180, "maximum": 180},
    },
    "required": ["api_key", "service_code"],
}  # fmt: skip
