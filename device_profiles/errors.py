"""Exceptions of the device_profiles package; everything raised here derives from ProfileError."""

from __future__ import annotations

from pathlib import Path


class ProfileError(Exception):
    """Root of every error raised by device_profiles."""


class ProfileFileError(ProfileError):
    """A profile file could not be read or is invalid.

    The message names the file, the line (when known) and the problem, one problem per line,
    e.g. ``profiles/noise.yaml:12: metrics.LAeq.min: Input should be a valid number``.
    """

    def __init__(self, path: Path | str, problems: list[tuple[int | None, str]]) -> None:
        self.path = Path(path)
        self.problems = tuple(problems)
        lines = [
            f"{self.path}:{line}: {text}" if line is not None else f"{self.path}: {text}"
            for line, text in problems
        ]
        super().__init__("\n".join(lines))

    @property
    def line(self) -> int | None:
        """Line (1-based) of the first problem, if known."""
        return self.problems[0][0] if self.problems else None


class UnknownProfileError(ProfileError, KeyError):
    """No profile with that name is registered."""

    def __init__(self, name: str, known: tuple[str, ...] = ()) -> None:
        self.name = name
        hint = f" (known: {', '.join(known)})" if known else ""
        self.message = f"unknown profile {name!r}{hint}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class DecodeError(ProfileError):
    """A payload or binary frame could not be decoded; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class EncodeError(ProfileError):
    """Values could not be encoded into a binary frame (wrong metric, type or range)."""
