"""Binary codecs declared by profiles (``kind: layout`` and ``kind: cayenne_lpp``)."""

from __future__ import annotations

from device_profiles.codec_spec import CayenneCodecSpec, LayoutCodecSpec
from device_profiles.codecs.base import MAX_FRAME, Codec, CodecErrors, Values
from device_profiles.codecs.cayenne import CayenneCodec
from device_profiles.codecs.layout import LayoutCodec
from device_profiles.schema import Profile

__all__ = [
    "MAX_FRAME",
    "CayenneCodec",
    "Codec",
    "CodecErrors",
    "LayoutCodec",
    "Values",
    "build_codec",
    "codec_for",
]

# Profiles are immutable and few; the cache keeps each profile alive, so ids are not reused.
_CACHE: dict[int, tuple[Profile, Codec | None]] = {}
_CACHE_MAX = 1024


def build_codec(profile: Profile) -> Codec | None:
    """Build the codec a profile declares (None when it declares none)."""
    spec = profile.codec
    if isinstance(spec, LayoutCodecSpec):
        return LayoutCodec(spec, profile.metrics)
    if isinstance(spec, CayenneCodecSpec):
        return CayenneCodec(spec, profile.metrics)
    return None


def codec_for(profile: Profile) -> Codec | None:
    """Like build_codec, but cached per profile object (decoders call this per message)."""
    hit = _CACHE.get(id(profile))
    if hit is not None and hit[0] is profile:
        return hit[1]
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    codec = build_codec(profile)
    _CACHE[id(profile)] = (profile, codec)
    return codec
