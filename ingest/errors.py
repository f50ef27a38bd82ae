"""The ingest package's exception root."""

from __future__ import annotations


class IngestError(Exception):
    """Base class of the errors the ingest package raises."""


class DatabaseUnavailable(IngestError):
    """The database cannot be reached; the message says where and why, in one line."""


class MigrationError(IngestError):
    """A migration failed or the recorded history does not match the files."""


class DeviceError(IngestError):
    """A device registry operation was refused (unknown device, bad record)."""
