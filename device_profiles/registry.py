"""The set of known profiles: built-in files plus operator directories that add or replace."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from device_profiles.errors import ProfileFileError, UnknownProfileError
from device_profiles.loader import PROFILE_SUFFIXES, load_profile_file
from device_profiles.schema import Profile
from device_profiles.validate import CompiledProfile

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).resolve().parent / "profiles"


class ProfileRegistry:
    """Immutable name -> Profile mapping, with compiled validators built once per profile."""

    __slots__ = ("_compiled", "_profiles", "_sources")

    def __init__(self, profiles: Sequence[Profile], sources: dict[str, Path] | None = None) -> None:
        self._profiles: dict[str, Profile] = {}
        for profile in profiles:
            self._profiles[profile.name] = profile
        self._sources = dict(sources or {})
        self._compiled = {n: CompiledProfile.from_profile(p) for n, p in self._profiles.items()}

    @classmethod
    def load(cls, dirs: Sequence[Path] = (), *, builtin: bool = True) -> ProfileRegistry:
        """Load the built-in profiles, then each of ``dirs`` in order.

        A file whose profile name is already known replaces the earlier one, so operators add
        or override a profile by dropping a ``*.yaml``/``*.yml``/``*.json`` file in their dir.
        """
        profiles: dict[str, Profile] = {}
        sources: dict[str, Path] = {}
        for directory in ([BUILTIN_DIR] if builtin else []) + [Path(d) for d in dirs]:
            if not directory.is_dir():
                raise ProfileFileError(directory, [(None, "profile directory not found")])
            in_this_dir: dict[str, Path] = {}
            for path in sorted(directory.iterdir()):
                if path.suffix not in PROFILE_SUFFIXES or not path.is_file():
                    continue
                if path.stem in in_this_dir:
                    other = in_this_dir[path.stem].name
                    problem = f"profile {path.stem!r} is also defined by {other}"
                    raise ProfileFileError(path, [(None, problem)])
                in_this_dir[path.stem] = path
                profile = load_profile_file(path)
                if profile.name in sources:
                    log.info(
                        "profile %s from %s overrides %s", profile.name, path, sources[profile.name]
                    )
                profiles[profile.name] = profile
                sources[profile.name] = path
        return cls(list(profiles.values()), sources)

    def get(self, name: str) -> Profile:
        """Return the profile called ``name``; raise UnknownProfileError if there is none."""
        try:
            return self._profiles[name]
        except KeyError:
            raise UnknownProfileError(name, self.names()) from None

    def compiled(self, name: str) -> CompiledProfile:
        """Return the hot-path validator of profile ``name`` (built once at load time)."""
        try:
            return self._compiled[name]
        except KeyError:
            raise UnknownProfileError(name, self.names()) from None

    def source(self, name: str) -> Path | None:
        """The file a profile was loaded from (None for profiles passed in directly)."""
        return self._sources.get(name)

    def names(self) -> tuple[str, ...]:
        """Sorted profile names."""
        return tuple(sorted(self._profiles))

    def __contains__(self, name: object) -> bool:
        return name in self._profiles

    def __iter__(self) -> Iterator[Profile]:
        return iter(self._profiles[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._profiles)
