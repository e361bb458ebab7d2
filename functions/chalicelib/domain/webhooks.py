"""Webhook endpoints: what an application registers, the events it may ask for, their secrets."""

import base64
import datetime
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import BadRequest

EVENT_TYPES = ("message.created", "message.edited", "message.deleted", "chat.created")
MAX_URL_CHARS = 2048
MAX_ENDPOINTS = 10
MAX_DESCRIPTION_CHARS = 255
# Standard Webhooks secrets: "whsec_" and the base64 of 24 to 64 random bytes (we mint 32).
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
# How long a replaced secret keeps signing beside the new one, at the most (and by default).
MAX_SECRET_GRACE_SECONDS = 7 * 86400
DEFAULT_SECRET_GRACE_SECONDS = 86400
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# IPv6 ranges whose last 32 bits are an IPv4 address that a translator (a VPC NAT gateway's NAT64)
# or the kernel may reach: NAT64's well-known prefix, IPv4-compatible, SIIT's IPv4-translated.
_CARRYING_IPV4 = tuple(ipaddress.IPv6Network(n) for n in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96"))
# Deprecated site-local addresses, which `is_global` still counts as global.
_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")


@dataclass(frozen=True)
class Endpoint:
    id: int
    application_id: int
    number: int  # what the application calls it (1, 2, … per application); `id` stays inside
    url: str
    events: tuple[str, ...]
    description: str
    enabled: bool
    secret: str
    # The secret a rotation replaced, signing beside `secret` until `previous_secret_expires_at`.
    previous_secret: str | None = None
    previous_secret_expires_at: datetime.datetime | None = None
    created_at: datetime.datetime | None = None
    # While deliveries to it fail: how many in a row, and when the next may be tried.
    failures: int = 0
    retry_at: datetime.datetime | None = None

    def wants(self, event_type: str) -> bool:
        return self.enabled and event_type in self.events

    def sends_like(self, other: "Endpoint") -> bool:
        """Deliveries to either go to the same place, for the same events, signed alike."""
        fields = ("id", "url", "events", "enabled", "secret", "previous_secret", "previous_secret_expires_at")
        return all(getattr(self, f) == getattr(other, f) for f in fields)

    def signing_secrets(self, now: datetime.datetime) -> list[str]:
        """The secrets a delivery is signed with now: the current one, and the replaced one in its grace."""
        if self.previous_secret and self.previous_secret_expires_at and now < self.previous_secret_expires_at:
            return [self.secret, self.previous_secret]
        return [self.secret]

    def to_json(self, with_secret: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "number": self.number,
            "url": self.url,
            "events": list(self.events),
            "description": self.description,
            "enabled": self.enabled,
        }
        if self.created_at is not None:
            out["created_at"] = rfc3339(self.created_at)
        if with_secret:
            out["secret"] = self.secret
        return out


@dataclass(frozen=True)
class EndpointChange:
    """What a PATCH sets; None leaves the field as it is."""

    url: str | None = None
    events: tuple[str, ...] | None = None
    description: str | None = None
    enabled: bool | None = None


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def rfc3339(moment: datetime.datetime) -> str:
    """UTC with milliseconds and a Z, as every time the API answers."""
    utc = moment.replace(tzinfo=datetime.UTC) if moment.tzinfo is None else moment.astimezone(datetime.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def events_field(raw: object) -> tuple[str, ...]:
    """The events asked for: a non-empty list of EVENT_TYPES, kept in their canonical order."""
    if not isinstance(raw, list) or not raw or not all(isinstance(e, str) for e in raw):
        raise BadRequest(f"events must be a non-empty list of: {', '.join(EVENT_TYPES)}")
    unknown = sorted(set(raw) - set(EVENT_TYPES))
    if unknown:
        raise BadRequest(f"unknown event types {unknown}; known: {', '.join(EVENT_TYPES)}")
    return tuple(e for e in EVENT_TYPES if e in raw)


def url_field(raw: object, allow_loopback_http: bool = False) -> str:
    """An absolute https URL without credentials, of at most MAX_URL_CHARS. Where a host resolves
    to is checked at every delivery (adapters/http): DNS may change after registration. Locally
    (`allow_loopback_http`) http://127.0.0.1 and http://localhost are accepted too, for tests."""
    if not isinstance(raw, str) or not raw:
        raise BadRequest("url must be a non-empty string")
    if len(raw) > MAX_URL_CHARS:
        raise BadRequest(f"url is longer than {MAX_URL_CHARS} characters")
    if not raw.isascii() or any(c.isspace() or ord(c) < 32 for c in raw):
        raise BadRequest("url must be ASCII without spaces (punycode a domain, percent-encode a path)")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise BadRequest("url is not a valid URL") from None
    host = parts.hostname or ""
    if parts.username is not None or parts.password is not None:
        raise BadRequest("url must not carry credentials: verify the signature instead")
    if parts.fragment:
        raise BadRequest("url must not have a fragment")
    loopback = _is_loopback_name(host)
    if parts.scheme != "https" and not (allow_loopback_http and parts.scheme == "http" and loopback):
        raise BadRequest("url must use the https scheme")
    if not host:
        raise BadRequest("url has no host")
    if port == 0:
        raise BadRequest("url has port 0")
    if _is_literal_non_public(host) and not (allow_loopback_http and loopback):
        raise BadRequest("url points at a private, loopback or link-local address")
    return raw


def _is_loopback_name(host: str) -> bool:
    name = host.rstrip(".")
    address = _literal_address(name)
    return name == "localhost" or (address is not None and ipaddress.ip_address(address).is_loopback)


def _is_literal_non_public(host: str) -> bool:
    """A literal address (or localhost) that is not public: refused at once, not at delivery."""
    name = host.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = _literal_address(name)
    return address is not None and not allowed(address, allow_loopback=False)


def _literal_address(host: str) -> str | None:
    """The address `host` is, as the resolver reads it (IPv4's old forms too: 2130706433, 0x7f.1,
    10.1); None for a name, checked where it resolves at each delivery."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


def allowed(address: str, allow_loopback: bool) -> bool:
    """Whether a webhook may go to `address` (a literal URL's, or one its name resolved to): a
    public unicast address, judged by the IPv4 address an IPv6 one carries; loopback if allowed."""
    ip = _reached(ipaddress.ip_address(address.split("%", 1)[0]))
    if allow_loopback and ip.is_loopback:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip in _SITE_LOCAL:
        return False
    return ip.is_global and not ip.is_multicast


def _reached(ip: Address) -> Address:
    """The address a connection to `ip` reaches: the IPv4 one an IPv6 address carries, if any."""
    if not isinstance(ip, ipaddress.IPv6Address) or ip.is_loopback:
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    if any(ip in network for network in _CARRYING_IPV4):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)  # 64:ff9b::10.0.0.1 reaches 10.0.0.1
    return ip
