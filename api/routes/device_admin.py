"""Operator: register, change, disable, enable and remove devices, and import many at once.

Every endpoint checks the key's role (operator; viewer to read a registration) and that
each device it touches, before and after the change, is in the key's district scope."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import ValidationError

from ingest.devices import DeviceRecord, disable_device, parse_devices, upsert_devices
from ingest.errors import DeviceError
from ingest.queries.device_admin import create_device, delete_device, known_districts, record_of
from ingest.queries.open_data import DeviceInfo, device_info

from ..auth import Principal
from ..context import ApiContext
from ..deps import ConnDep, Operator, Viewer
from ..open_data.models import DeviceAdmin, DevicePatch, ErrorDetail, ImportResult
from ..open_data.params import bad
from ..open_data.present import device_admin_dict
from ..open_data.state import Ctx, OpenDataDep
from .devices import DeviceId

OPERATOR_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorDetail, "description": "The body is not valid JSON"},
    401: {"model": ErrorDetail, "description": "No API key, or an unknown or revoked one"},
    403: {"model": ErrorDetail, "description": "The key's role or district scope is too small"},
    404: {"model": ErrorDetail, "description": "Not found"},
    422: {"model": ErrorDetail, "description": "The request is invalid"},
    429: {"model": ErrorDetail, "description": "Too many requests without a valid key"},
}
router = APIRouter(
    prefix="/api/v1/devices", tags=["operator: devices"], responses=OPERATOR_RESPONSES
)

MAX_IMPORT_BYTES = 10 * 1024 * 1024
_NULLABLE = frozenset({"lat", "lon", "district", "credentials_ref"})


def check_profile(ctx: ApiContext, name: str) -> None:
    """422 unless ``name`` is a known profile."""
    if name not in ctx.profiles:
        raise bad(f"unknown profile {name!r}; profiles: {', '.join(ctx.profiles.names())}")


def _admin(info: DeviceInfo | None, device_id: str) -> DeviceAdmin:
    if info is None:
        raise HTTPException(404, f"no device {device_id!r}")
    return DeviceAdmin.model_validate(device_admin_dict(info))


async def _owned(conn: ConnDep, principal: Principal, device_id: str) -> DeviceInfo:
    info = await device_info(conn, device_id)
    if info is None:
        raise HTTPException(404, f"no device {device_id!r}")
    principal.check_district(info.district, f"device {device_id}")
    return info


@router.get("/{device_id}/registration")
async def registration(device_id: DeviceId, conn: ConnDep, principal: Viewer) -> DeviceAdmin:
    """A device with its operator-only fields (attributes, credentials reference)."""
    return _admin(await _owned(conn, principal, device_id), device_id)


@router.post("", status_code=201, responses={409: {"model": ErrorDetail,
             "description": "A device with this id exists"}})  # fmt: skip
async def create(
    body: DeviceRecord, conn: ConnDep, ctx: Ctx, od: OpenDataDep, principal: Operator
) -> DeviceAdmin:
    """Register a device. Its profile must be known; its district in the key's scope."""
    check_profile(ctx, body.profile)
    principal.check_district(body.district, f"device {body.id}")
    if (body.lat is None) != (body.lon is None):
        raise bad("give both lat and lon, or neither")
    if not await create_device(conn, body):
        raise HTTPException(409, f"device {body.id!r} exists; change it with PATCH")
    od.devices_changed()
    return _admin(await device_info(conn, body.id), body.id)


@router.patch("/{device_id}")
async def update(
    device_id: DeviceId,
    body: DevicePatch,
    conn: ConnDep,
    ctx: Ctx,
    od: OpenDataDep,
    principal: Operator,
) -> DeviceAdmin:
    """Change some fields of a device; the others stay as they are."""
    changes = body.model_dump(exclude_unset=True)
    nulled = sorted(k for k, v in changes.items() if v is None and k not in _NULLABLE)
    if nulled:
        raise bad(f"{', '.join(nulled)} cannot be null")
    if ("lat" in changes) != ("lon" in changes) or (
        "lat" in changes and (changes["lat"] is None) != (changes["lon"] is None)
    ):
        raise bad("lat and lon change together (both null removes the location)")
    async with conn.transaction():
        current = await record_of(conn, device_id, lock=True)
        if current is None:
            raise HTTPException(404, f"no device {device_id!r}")
        principal.check_district(current.district, f"device {device_id}")
        try:
            new = DeviceRecord.model_validate({**current.model_dump(), **changes})
        except ValidationError as exc:
            err = exc.errors()[0]
            raise bad(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None
        check_profile(ctx, new.profile)
        principal.check_district(new.district, f"device {device_id} (after the change)")
        await upsert_devices(conn, [new])
    od.devices_changed()
    return _admin(await device_info(conn, device_id), device_id)


async def _set_enabled(
    conn: ConnDep, od: OpenDataDep, principal: Principal, device_id: str, enabled: bool
) -> DeviceAdmin:
    await _owned(conn, principal, device_id)
    try:
        await disable_device(conn, device_id, enabled=enabled)
    except DeviceError as exc:
        raise HTTPException(404, str(exc)) from None
    od.devices_changed()
    return _admin(await device_info(conn, device_id), device_id)


@router.post("/{device_id}/disable")
async def disable(
    device_id: DeviceId, conn: ConnDep, od: OpenDataDep, principal: Operator
) -> DeviceAdmin:
    """Disable a device: the gateway quarantines its messages from now on."""
    return await _set_enabled(conn, od, principal, device_id, False)


@router.post("/{device_id}/enable")
async def enable(
    device_id: DeviceId, conn: ConnDep, od: OpenDataDep, principal: Operator
) -> DeviceAdmin:
    """Enable a device again."""
    return await _set_enabled(conn, od, principal, device_id, True)


@router.delete("/{device_id}", status_code=204, response_class=Response)
async def delete(
    device_id: DeviceId, conn: ConnDep, od: OpenDataDep, principal: Operator
) -> Response:
    """Remove a device from the registry (its stored readings stay until retention)."""
    await _owned(conn, principal, device_id)
    if not await delete_device(conn, device_id):
        raise HTTPException(404, f"no device {device_id!r}")
    od.devices_changed()
    return Response(status_code=204)


_IMPORT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "array", "items": {"$ref": "#/components/schemas/DeviceRecord"}}
        },
        "text/csv": {"schema": {"type": "string"}},
    },
}


@router.post(
    "/import",
    openapi_extra={"requestBody": _IMPORT_BODY},
    responses={413: {"model": ErrorDetail, "description": "The file is too large"}},
)
async def import_devices(
    request: Request, conn: ConnDep, ctx: Ctx, od: OpenDataDep, principal: Operator
) -> ImportResult:
    """Create or update many devices from a JSON list or a CSV file (the format of
    ``citygate devices import``). All rows are checked first; any bad row imports
    nothing and the answer lists the bad rows."""
    kind = "csv" if "csv" in request.headers.get("content-type", "") else "json"
    text = await _body_text(request)
    try:
        records = parse_devices(text, kind, "import")
    except DeviceError as exc:
        raise bad(str(exc)) from None
    unknown = sorted({r.profile for r in records} - set(ctx.profiles.names()))
    if unknown:
        raise bad(f"unknown profile(s) {', '.join(unknown)}; profiles: "
                  f"{', '.join(ctx.profiles.names())}")  # fmt: skip
    existing = await known_districts(conn, [r.id for r in records])
    for r in records:
        principal.check_district(r.district, f"device {r.id}")
        if r.id in existing:
            principal.check_district(existing[r.id], f"device {r.id} (as registered)")
    await upsert_devices(conn, records)
    od.devices_changed()
    return ImportResult(
        imported=len(records), created=len(records) - len(existing), updated=len(existing)
    )


async def _body_text(request: Request) -> str:
    size = 0
    parts: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_IMPORT_BYTES:
            raise HTTPException(413, f"an import may hold at most {MAX_IMPORT_BYTES} bytes")
        parts.append(chunk)
    try:
        return b"".join(parts).decode("utf-8")
    except UnicodeDecodeError:
        raise bad("the import is not UTF-8 text") from None
