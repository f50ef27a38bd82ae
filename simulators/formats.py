"""Wire formats: the (topic, payload) a simulated device publishes for one reading.

* ``json``: citygate's native ``{"id", "ts", "seq", "values"}`` on ``{prefix}/{id}/telemetry/json``.
* ``senml``: an RFC 8428 pack with base name ``urn:dev:ow:{id}:`` and base time; SenML has no
  sequence number field (the decoder reads none), so SenML messages carry no seq.
* ``ttn``: a The Things Stack v3 uplink message; ``f_cnt`` is the seq.
* ``chirpstack``: a ChirpStack v4 ``up`` event; ``fCnt`` is the seq.

LoRaWAN devices whose profile declares a codec send the binary frame (``frm_payload`` /
``data``, base64); the others send the network server's decoded values (``decoded_payload``
/ ``object``). Like the real servers, a zero frame counter is omitted from the JSON.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import orjson

from device_profiles import Codec, EncodeError, build_codec
from device_profiles.topics import TopicScheme

from ._rand import hash_keys, string_key, unit
from .fleet import TTS_TENANT, Fleet, SimDevice
from .signals import Values

__all__ = ["F_PORT", "SENML_SYMBOLS", "Document", "Encoder", "dumps", "rfc3339"]

Document = dict[str, Any] | list[dict[str, Any]]
F_PORT = 2
# UN/CEFACT code -> SenML unit symbol (RFC 8428 / RFC 8798), for the metrics that have one.
SENML_SYMBOLS: dict[str, str] = {
    "CEL": "Cel",
    "P1": "%",
    "2N": "dBA",
    "MTR": "m",
    "CMT": "cm",
    "MMT": "mm",
    "MTS": "m/s",
    "KMH": "km/h",
    "A97": "hPa",
    "LUX": "lx",
    "WTT": "W",
    "KWH": "kWh",
    "VLT": "V",
    "AMP": "A",
    "MQS": "m3/s",
    "GQ": "ug/m3",
    "SEC": "s",
}


def rfc3339(ts: float, *, nanos: bool = False) -> str:
    """UTC RFC 3339 time; TTS writes nanoseconds and ``Z``, ChirpStack ``+00:00``."""
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")
    return text.replace("+00:00", "000Z") if nanos else text


def dumps(doc: Document, *, allow_nan: bool = False) -> bytes:
    """Serialise a document; ``allow_nan`` writes raw ``NaN``/``Infinity`` tokens (which
    orjson, being strict, would turn into null)."""
    if allow_nan:
        return json.dumps(doc, separators=(",", ":"), allow_nan=True).encode()
    return orjson.dumps(doc)


class Encoder:
    """Builds topics and payload documents for the devices of one fleet."""

    __slots__ = ("_codecs", "_fleet", "_scheme", "_units")

    def __init__(self, fleet: Fleet, scheme: TopicScheme) -> None:
        self._fleet = fleet
        self._scheme = scheme
        self._codecs: dict[str, Codec | None] = {p.name: build_codec(p) for p in fleet.profiles}
        self._units = {
            p.name: {m: SENML_SYMBOLS.get(s.unit or "") for m, s in p.metrics.items()}
            for p in fleet.profiles
        }

    @property
    def scheme(self) -> TopicScheme:
        """The topic scheme messages are addressed by."""
        return self._scheme

    def codec(self, profile: str) -> Codec | None:
        """The binary codec of a profile (None when it declares none)."""
        return self._codecs.get(profile)

    def topic(self, device: SimDevice) -> str:
        """Where the device publishes telemetry in its format."""
        s = self._scheme
        if device.fmt == "ttn":
            return f"{s.ttn_prefix}/{device.application_id}@{TTS_TENANT}/devices/{device.id}/up"
        if device.fmt == "chirpstack":
            return f"{s.chirpstack_prefix}/{device.application_id}/device/{device.dev_eui}/event/up"
        return s.telemetry_topic(device.id, device.fmt)

    def status_topic(self, device: SimDevice) -> str:
        """Where a native device publishes ``online``/``offline``."""
        return self._scheme.status_topic(device.id)

    def document(
        self, device: SimDevice, values: Values, ts: float, seq: int, *, binary: bool | None = None
    ) -> Document:
        """The payload as a JSON document; ``binary=False`` forces decoded values for a
        LoRaWAN device (as a network server payload formatter would send them)."""
        use_binary = device.binary if binary is None else binary and device.binary
        if device.fmt == "json":
            return {"id": device.id, "ts": round(ts, 3), "seq": seq, "values": values}
        if device.fmt == "senml":
            return self._senml(device, values, ts)
        frame: str | None = None
        if use_binary:
            codec = self._codecs.get(device.profile)
            try:
                frame = base64.b64encode(codec.encode(values)).decode() if codec else None
            except EncodeError:
                frame = None
        if device.fmt == "ttn":
            return self._ttn(device, values, frame, ts, seq)
        if device.fmt == "chirpstack":
            return self._chirpstack(device, values, frame, ts, seq)
        raise ValueError(f"unknown format {device.fmt!r}")

    def encode(self, device: SimDevice, values: Values, ts: float, seq: int) -> tuple[str, bytes]:
        """(topic, payload bytes) of one clean reading."""
        return self.topic(device), dumps(self.document(device, values, ts, seq))

    def _senml(self, device: SimDevice, values: Values, ts: float) -> list[dict[str, Any]]:
        units = self._units[device.profile]
        pack: list[dict[str, Any]] = []
        for name, value in values.items():
            record: dict[str, Any] = {"n": name}
            if not pack:
                record = {"bn": f"urn:dev:ow:{device.id}:", "bt": round(ts, 3), "n": name}
            symbol = units.get(name)
            if symbol and not isinstance(value, str):
                record["u"] = symbol
            record["vs" if isinstance(value, str) else "v"] = value
            pack.append(record)
        return pack

    def _radio(self, device: SimDevice, seq: int) -> tuple[int, float, int, str, str]:
        """Deterministic RSSI, SNR, spreading factor, gateway id and gateway EUI."""
        h = hash_keys(device.key, seq, 0x7AD10)
        rssi = -60 - int(unit(h) * 60)
        snr = round(10.0 - unit(h, 1) * 17.5, 1)
        sf = 7 + int(unit(h, 2) * 4)
        district = device.district.lower().replace(" ", "-")
        gw_eui = f"{string_key(district) & 0xFFFFFFFFFFFF:012x}"
        return rssi, snr, sf, f"gw-{district}", "b827eb" + gw_eui[:10]

    def _ttn(
        self, device: SimDevice, values: Values, frame: str | None, ts: float, seq: int
    ) -> dict[str, Any]:
        received = rfc3339(ts, nanos=True)
        rssi, snr, sf, gw_id, gw_eui = self._radio(device, seq)
        up: dict[str, Any] = {"f_port": F_PORT}
        if seq:
            up["f_cnt"] = seq
        if frame is not None:
            up["frm_payload"] = frame
        else:
            up["decoded_payload"] = values
        up["rx_metadata"] = [
            {
                "gateway_ids": {"gateway_id": gw_id, "eui": gw_eui.upper()},
                "time": received,
                "rssi": rssi,
                "channel_rssi": rssi,
                "snr": snr,
                "received_at": received,
            }
        ]
        up["settings"] = {
            "data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": sf}},
            "frequency": "868100000",
        }
        up["received_at"] = received
        assert device.dev_eui is not None
        return {
            "end_device_ids": {
                "device_id": device.id,
                "application_ids": {"application_id": device.application_id},
                "dev_eui": device.dev_eui.upper(),
                "dev_addr": f"{device.key & 0xFFFFFFFF:08X}",
            },
            "correlation_ids": [f"as:up:{hash_keys(device.key, seq):016x}"],
            "received_at": received,
            "uplink_message": up,
        }

    def _chirpstack(
        self, device: SimDevice, values: Values, frame: str | None, ts: float, seq: int
    ) -> dict[str, Any]:
        rssi, snr, sf, _gw_id, gw_eui = self._radio(device, seq)
        dedup = f"{hash_keys(device.key, seq, 1):016x}{hash_keys(device.key, seq, 2):016x}"
        event: dict[str, Any] = {
            "deduplicationId": "-".join(
                (dedup[:8], dedup[8:12], dedup[12:16], dedup[16:20], dedup[20:])
            ),
            "time": rfc3339(ts),
            "deviceInfo": {
                "tenantId": self._fleet.chirpstack_tenant_id,
                "tenantName": "City",
                "applicationId": device.application_id,
                "applicationName": device.profile.replace("_", " "),
                "deviceProfileName": device.profile,
                "deviceName": device.id,
                "devEui": device.dev_eui,
            },
            "devAddr": f"{device.key & 0xFFFFFFFF:08x}",
            "adr": True,
            "dr": 12 - sf,
            "fPort": F_PORT,
            "confirmed": False,
        }
        if seq:
            event["fCnt"] = seq
        if frame is not None:
            event["data"] = frame
        else:
            event["object"] = values
        event["rxInfo"] = [{"gatewayId": gw_eui, "rssi": rssi, "snr": snr, "crcStatus": "CRC_OK"}]
        event["txInfo"] = {
            "frequency": 868100000,
            "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": sf}},
        }
        return event
