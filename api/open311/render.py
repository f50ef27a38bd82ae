"""GeoReport v2 answers in JSON and XML: the spec's element names, UTF-8, and the JSON
as the Spark-convention mapping of the XML (lists for repeated elements)."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import orjson
from fastapi import HTTPException, Response

from rules.actions.service_request_queries import ServiceRequest
from rules.actions.service_types import ServiceType

__all__ = [
    "FORMATS",
    "check_format",
    "public_request",
    "respond",
    "service_definition",
    "service_entry",
    "w3",
]

FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
# Repeated elements: the XML name of a list's items.
ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
}
# Characters XML 1.0 cannot carry even escaped; dropped from text on the way out.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def check_format(fmt: str) -> str:
    """The format named by the URL's extension, or 404."""
    if fmt not in FORMATS:
        raise HTTPException(404, f"unknown format {fmt!r}: use .json or .xml")
    return fmt


def w3(value: datetime | None) -> str | None:
    """A date/time in the W3C profile of ISO 8601 the spec requires, in UTC."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return _NOT_XML.sub("", str(value))


def _build(parent: ET.Element, name: str, value: object) -> None:
    node = ET.SubElement(parent, name)
    if isinstance(value, Mapping):
        for key, child in value.items():
            _build(node, key, child)
    elif isinstance(value, list | tuple):
        item = ITEM_NAMES.get(name, "item")
        for child in value:
            _build(node, item, child)
    else:
        node.text = _text(value)


def to_xml(root: str, value: object) -> bytes:
    """``value`` as an XML document whose root element is ``root``."""
    holder = ET.Element("holder")
    _build(holder, root, value)
    body = ET.tostring(holder[0], encoding="unicode")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body.encode()


def respond(fmt: str, root: str, value: object, status: int = 200) -> Response:
    """The answer in ``fmt``: JSON of ``value`` or XML under ``root``."""
    content = to_xml(root, value) if fmt == "xml" else orjson.dumps(value)
    return Response(content, status_code=status, media_type=FORMATS[fmt])


def service_entry(t: ServiceType) -> dict[str, object]:
    """One service of GET services."""
    return {
        "service_code": t.service_code,
        "service_name": t.service_name,
        "description": t.description,
        "metadata": t.metadata,
        "type": t.type,
        "keywords": ", ".join(t.keywords),
        "group": t.group,
    }


def service_definition(t: ServiceType) -> dict[str, object]:
    """GET services/{code}: the service's attributes in their order."""
    return {
        "service_code": t.service_code,
        "attributes": [
            {
                "variable": a.variable,
                "code": a.code,
                "datatype": a.datatype,
                "required": a.required,
                "datatype_description": a.datatype_description,
                "order": a.order,
                "description": a.description,
                "values": [{"key": v.key, "name": v.name} for v in a.values],
            }
            for a in t.attributes
        ],
    }


def public_request(r: ServiceRequest) -> dict[str, object]:
    """A request as anyone may see it: never the reporter's contact details."""
    return {
        "service_request_id": r.id,
        "status": r.status,
        "status_notes": r.status_notes,
        "service_name": r.service_name,
        "service_code": r.service_code,
        "description": r.description,
        "agency_responsible": r.agency_responsible,
        "service_notice": r.service_notice,
        "requested_datetime": w3(r.requested_at),
        "updated_datetime": w3(r.updated_at),
        "expected_datetime": w3(r.expected_at),
        "address": r.address,
        "address_id": r.address_id,
        "zipcode": r.zipcode,
        "lat": r.lat,
        "long": r.lon,
        "media_url": r.media_url,
    }


def error_list(status: int, problems: Sequence[str]) -> list[dict[str, object]]:
    """The spec's error array."""
    return [{"code": status, "description": p} for p in problems]
