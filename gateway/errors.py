"""The gateway package's exception root."""

from __future__ import annotations


class GatewayError(Exception):
    """Base class of the errors the gateway raises."""
