"""CSV (RFC 4180) as a stream of chunks: a header row, CRLF line ends, fields quoted only
when needed, times in ISO 8601 UTC with ``Z``, floats in their shortest exact form."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

__all__ = ["CSV_MEDIA_TYPE", "csv_chunks", "csv_value"]

CSV_MEDIA_TYPE = "text/csv; charset=utf-8; header=present"
_CHUNK_ROWS = 2000


def csv_value(value: object) -> object:
    """One field: times as ISO 8601 UTC, floats exactly (``repr``), None empty."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


async def csv_chunks(
    header: Sequence[str], rows: AsyncIterator[Sequence[object]]
) -> AsyncIterator[bytes]:
    """Encoded CSV text, a chunk every couple of thousand rows."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    n = 0
    async for row in rows:
        writer.writerow([csv_value(v) for v in row])
        n += 1
        if n % _CHUNK_ROWS == 0:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()
