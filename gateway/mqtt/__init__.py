"""A small MQTT v5 client for the gateway's receive path.

Why our own: the gateway must acknowledge each QoS 1 message only after the batch that
carried it is committed, and must do so at tens of thousands of messages per second.
paho-mqtt 2.x has ``manual_ack`` but a paho subscriber alone tops out near 30k msg/s on our
machine (figure from the issue, docs/performance.md); aiomqtt has no public
manual acknowledgement (its issue #345); gmqtt is fast but only acknowledges through a
coroutine per message. This client parses PUBLISH frames straight from the socket buffer
and writes the acknowledgements of a whole batch in one write. It speaks only what a
subscriber needs: CONNECT/CONNACK, SUBSCRIBE/SUBACK, PUBLISH in, PUBACK out, PING and
DISCONNECT. Outgoing device commands use aiomqtt (low rate, full client).
"""

from .codec import MqttProtocolError
from .connection import ConnectOptions, MqttConnectError, MqttConnection

__all__ = ["ConnectOptions", "MqttConnectError", "MqttConnection", "MqttProtocolError"]
