"""SSRF protection for webhooks: which URLs and which addresses a delivery may reach.

A webhook URL is written by an operator, but the server that calls it sits inside the
city's network: without a check, a rule could make citygate call its database, the
cloud metadata service (169.254.169.254) or an admin page on loopback. So by default only
public (globally routable) addresses are reached; private ranges need an explicit setting
(``CITYGATE_WEBHOOK_ALLOW_PRIVATE=true``) or an allow-list of hosts and CIDRs.

Two stages: :func:`check_webhook_url` checks the URL alone (rule validation, before any
DNS); :func:`resolve_target` resolves the host at delivery time and checks every address
it answers, and the delivery then connects to that checked address (pinned), so DNS
rebinding cannot swap it between check and connect.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = [
    "IPAddress",
    "Resolver",
    "TargetRefused",
    "WebhookPolicy",
    "address_refusal",
    "check_webhook_url",
    "resolve_target",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port -> the addresses the host resolves to
Resolver = Callable[[str, int], Awaitable[list[str]]]

_SCHEMES = ("http", "https")
_MAX_URL = 2048
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetRefused(Exception):
    """A target the policy refuses; ``transient`` when a later try may succeed (a name
    that does not resolve now)."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.transient = transient


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    """What webhook deliveries may reach beyond public addresses."""

    allow_private: bool = False
    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, allow_private: bool, allowed: Iterable[str] = ()) -> WebhookPolicy:
        """From settings: ``allowed`` holds host names and CIDRs (``10.1.2.0/24``)."""
        hosts: set[str] = set()
        nets: list[IPNetwork] = []
        for raw in allowed:
            entry = raw.strip()
            if not entry:
                continue
            try:
                nets.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(allow_private, frozenset(hosts), tuple(nets))

    def host_allowed(self, host: str) -> bool:
        """True when the allow-list names ``host`` itself."""
        return host.lower().rstrip(".") in self.allowed_hosts

    def address_allowed(self, ip: IPAddress) -> bool:
        """True when ``ip`` lies in an allowed network."""
        return any(ip.version == n.version and ip in n for n in self.allowed_networks)


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: IPAddress) -> str | None:
    """Why a delivery may not connect to ``ip`` under the default policy, or None."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            reason = address_refusal(inner)
            return f"{reason} (as IPv6 {ip})" if reason else None
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address (cloud metadata lives here)"),
        (ip.version == 4 and ip in _CGNAT, "a carrier-grade NAT address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "not a public address"),
    )
    for hit, what in checks:
        if hit:
            return f"{ip} is {what}"
    return None


def _literal_address(host: str) -> IPAddress | None:
    """``host`` as an IP address, including legacy IPv4 forms the OS resolver accepts
    (``2130706433``, ``0x7f.1``, ``127.1``), or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def check_webhook_url(url: str, policy: WebhookPolicy) -> str | None:
    """Why ``url`` may not be a webhook target, or None; checks the URL alone (no DNS):
    scheme, credentials, host, and an address or well-known local name in it."""
    if len(url) > _MAX_URL:
        return f"URL longer than {_MAX_URL} characters"
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return "URL contains whitespace or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"URL is malformed: {exc}"
    if parts.scheme.lower() not in _SCHEMES:
        return f"scheme {parts.scheme or '(none)'!r} is not allowed; use http or https"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "credentials in the URL are not allowed"
    host = parts.hostname
    if not host:
        return "URL has no host"
    if port == 0:
        return "port 0 is not allowed"
    if policy.allow_private or policy.host_allowed(host):
        return None
    literal = _literal_address(host)
    if literal is not None:
        if policy.address_allowed(literal):
            return None
        return address_refusal(literal)
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith((".localhost", ".local", ".internal")):
        return f"host {host!r} names a local machine"
    if "." not in name:
        return f"host {host!r} is not a fully qualified name"
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the operating system resolves ``host`` to."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


async def resolve_target(
    host: str, port: int, policy: WebhookPolicy, resolver: Resolver = system_resolver
) -> IPAddress:
    """The address to connect to; raises :class:`TargetRefused` when the host cannot be
    resolved or any address it resolves to is refused (a mixed answer is refused whole)."""
    literal = _literal_address(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            answers = await resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise TargetRefused(f"cannot resolve {host!r}: {exc}", transient=True) from None
        addresses = []
        for a in answers:
            try:
                addresses.append(ipaddress.ip_address(a.split("%", 1)[0]))
            except ValueError:
                raise TargetRefused(f"{host!r} resolved to an unusable address {a!r}") from None
        if not addresses:
            raise TargetRefused(f"{host!r} resolved to no address", transient=True)
    if policy.allow_private or policy.host_allowed(host):
        return addresses[0]
    for ip in addresses:
        if policy.address_allowed(ip):
            continue
        reason = address_refusal(ip)
        if reason is not None:
            raise TargetRefused(reason if literal is not None else f"{host} resolves to {reason}")
    return addresses[0]
