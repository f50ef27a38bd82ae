"""The form of a GeoReport v2 POST: ``application/x-www-form-urlencoded`` fields, checked
at the boundary (sizes, location, contact details, ``attribute[code]`` answers)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rules.actions.service_requests import CitizenRequest

__all__ = ["FormError", "RawForm", "citizen_request", "read_form"]

MAX_BODY = 64 * 1024
_ATTRIBUTE = re.compile(r"^attribute\[([^\]]{1,64})\](\[\])?$")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class FormError(Exception):
    """The form cannot be read; ``problems`` lists why."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


class _Fields(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    service_code: str = Field(min_length=1, max_length=64)
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    address_string: str | None = Field(default=None, max_length=500)
    address_id: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=254)
    device_id: str | None = Field(default=None, max_length=100)
    account_id: str | None = Field(default=None, max_length=100)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=50)
    description: str = Field(default="", max_length=4000)
    media_url: str | None = Field(default=None, max_length=2048)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError("not an email address")
        return value

    @field_validator("media_url")
    @classmethod
    def _media(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("must be an http or https URL")
        return value

    @model_validator(mode="after")
    def _location(self) -> _Fields:
        if (self.lat is None) != (self.long is None):
            raise ValueError("lat and long must be sent together")
        if self.lat is None and not self.address_string and not self.address_id:
            raise ValueError("a location is required: lat and long, address_string or address_id")
        return self


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise FormError([f"the form is larger than {MAX_BODY} bytes"])
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise FormError([f"the form is larger than {MAX_BODY} bytes"])
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class RawForm:
    """The fields of a POST as sent, before their check."""

    fields: dict[str, str]
    attributes: dict[str, list[str]]
    api_key: str | None


async def read_form(request: Request) -> RawForm:
    """The form's fields, ``attribute[code]`` answers and ``api_key`` (from the form, the
    query string or the ``X-API-Key`` header); empty fields count as absent."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("", "application/x-www-form-urlencoded"):
        raise FormError([f"send the request as application/x-www-form-urlencoded, not {ctype}"])
    try:
        text = (await _body(request)).decode("utf-8")
        pairs = list(request.query_params.multi_items())
        pairs += parse_qsl(text, keep_blank_values=True, max_num_fields=500, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError([f"the form is not valid UTF-8 form encoding: {exc}"]) from None
    fields: dict[str, str] = {}
    attributes: dict[str, list[str]] = {}
    for name, value in pairs:
        if _CONTROL.search(value) or _CONTROL.search(name):
            raise FormError([f"{name!r} contains control characters"])
        match = _ATTRIBUTE.match(name)
        if match:
            attributes.setdefault(match[1], []).append(value.strip())
        elif value.strip():
            fields[name] = value  # later wins: the body over the query string
    api_key = fields.pop("api_key", None) or request.headers.get("x-api-key")
    return RawForm(fields, attributes, api_key)


def citizen_request(form: RawForm) -> CitizenRequest:
    """The checked request; raises :class:`FormError` listing every problem."""
    try:
        checked = _Fields.model_validate(form.fields)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {msg}" if where else msg)
        raise FormError(problems) from None
    return CitizenRequest(
        service_code=checked.service_code,
        jurisdiction_id=form.fields.get("jurisdiction_id"),
        lat=checked.lat,
        lon=checked.long,
        address=checked.address_string,
        address_id=checked.address_id,
        email=checked.email,
        first_name=checked.first_name,
        last_name=checked.last_name,
        phone=checked.phone,
        account_id=checked.account_id,
        reporter_device_id=checked.device_id,
        description=checked.description,
        media_url=checked.media_url,
        attributes=form.attributes,
    )
