"""Device profiles: what each kind of city device reports, how to decode it, how to check it.

Pure package: no I/O except reading profile files in the loader.
"""

from __future__ import annotations

from device_profiles.codec_spec import CayenneCodecSpec, LayoutCodecSpec, LayoutField
from device_profiles.codecs import Codec, build_codec, codec_for
from device_profiles.decoded import Decoded, Reading
from device_profiles.decoders import FORMATS, decode
from device_profiles.errors import (
    DecodeError,
    EncodeError,
    ProfileError,
    ProfileFileError,
    UnknownProfileError,
)
from device_profiles.loader import load_profile_file
from device_profiles.registry import BUILTIN_DIR, ProfileRegistry
from device_profiles.schema import MetricSpec, Profile
from device_profiles.units import UNITS, Unit, get_unit
from device_profiles.validate import REJECTION_CODES, CompiledProfile, Rejection

__all__ = [
    "BUILTIN_DIR",
    "FORMATS",
    "REJECTION_CODES",
    "UNITS",
    "CayenneCodecSpec",
    "Codec",
    "CompiledProfile",
    "DecodeError",
    "Decoded",
    "EncodeError",
    "LayoutCodecSpec",
    "LayoutField",
    "MetricSpec",
    "Profile",
    "ProfileError",
    "ProfileFileError",
    "ProfileRegistry",
    "Reading",
    "Rejection",
    "Unit",
    "UnknownProfileError",
    "build_codec",
    "codec_for",
    "decode",
    "get_unit",
    "load_profile_file",
]
