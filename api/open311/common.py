"""What every GeoReport v2 endpoint shares: the jurisdiction check and optional
arguments (an empty parameter counts as an absent one, as the spec asks)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query

from ..deps import Config

__all__ = ["Format", "Jurisdiction", "blank_to_none", "check_jurisdiction"]

# The URL's extension. Documented as its two values; any other is answered 404 (by the
# routes, with the spec's error), not as a validation error.
Format = Annotated[
    str, Path(description="json or xml", json_schema_extra={"enum": ["json", "xml"]})
]


def blank_to_none(value: str | None) -> str | None:
    """``None`` for an absent or empty parameter, else the value stripped."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def check_jurisdiction(config: Config, given: str | None) -> str:
    """The served jurisdiction; 404 when the caller names another one."""
    given = blank_to_none(given)
    if given is not None and given != config.open311_jurisdiction_id:
        raise HTTPException(
            404,
            f"jurisdiction_id {given!r} not found; this endpoint serves "
            f"{config.open311_jurisdiction_id!r}",
        )
    return config.open311_jurisdiction_id


async def _jurisdiction(
    config: Config, jurisdiction_id: Annotated[str | None, Query()] = None
) -> str:
    return check_jurisdiction(config, jurisdiction_id)


Jurisdiction = Annotated[str, Depends(_jurisdiction)]
