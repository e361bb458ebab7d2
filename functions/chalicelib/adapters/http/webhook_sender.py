"""Posts one webhook to a receiver, as a careful client: only to public addresses, checked where
the connection is made, within timeouts and a size cap, redirects not followed.

The URL's host is resolved here, at each delivery, and every address it resolves to must be
public (not private, loopback, link-local, shared, reserved or multicast; the metadata services
169.254.169.254 and fd00:ec2::254 are link-local and unique-local): one that is not refuses the
delivery. The socket is then connected to a checked address itself, and TLS verifies the
certificate for the URL's host, so a DNS answer that changes between check and connect (DNS
rebinding) cannot move the connection elsewhere. Which addresses are public is the domain's rule
(domain/webhooks.allowed), applied at registration to literal addresses too.

Every step has a deadline, so one delivery ends within CONNECT + RESPONSE timeouts whatever the
receiver, its DNS or its addresses do: resolving, connecting (to each address in turn) and the
TLS handshake share the connect timeout; the exchange has its own. A caller may give a send
less (`within` seconds for all of it: the fast lane's budget); an outcome that ran out of time
says so (`late`): the receiver may have got the request all the same.
"""

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable
from urllib.parse import SplitResult, urlsplit

from ...domain.deliveries import Outcome
from ...domain.webhooks import allowed

# Resolving the host, connecting and the TLS handshake, together.
CONNECT_TIMEOUT_SECONDS = 3.0
# The whole exchange, from the first byte sent to the last one read.
RESPONSE_TIMEOUT_SECONDS = 5.0
# Bytes of a response body read at the most (headers are bounded by http.client: 100 lines).
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "chat-api-webhooks/1"

Resolve = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class WebhookSender:
    def __init__(
        self,
        allow_loopback: bool = False,
        resolve: Resolve = resolve,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        response_timeout: float = RESPONSE_TIMEOUT_SECONDS,
    ):
        self._allow_loopback = allow_loopback
        self._resolve = resolve
        self._connect_timeout = connect_timeout
        self._response_timeout = response_timeout
        self._tls = ssl.create_default_context()

    def send(self, url: str, headers: dict[str, str], body: bytes, within: float | None = None) -> Outcome:
        """Posts `body`; within the sender's timeouts, or `within` seconds in all when given."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        started = time.monotonic()
        connect_timeout = self._connect_timeout if within is None else min(self._connect_timeout, within)
        connect_by = started + connect_timeout
        addresses = self._resolved(host, port, connect_timeout)
        if addresses is None:
            return Outcome(False, f"the host did not resolve within {connect_timeout:g} s", late=True)
        if not addresses:
            return Outcome(False, "the host did not resolve")
        if not all(allowed(a, self._allow_loopback) for a in addresses):
            return Outcome(False, "refused: the host resolves to an address that is not public")
        try:
            sock = self._connect(addresses, port, connect_by)
        except OSError as exc:
            late = isinstance(exc, TimeoutError) or time.monotonic() >= connect_by
            return Outcome(False, f"could not connect within {connect_timeout:g} s", late=late)
        try:
            if parts.scheme == "https":
                # The handshake ends by the connect deadline too (ssl's timeout bounds all of it).
                sock.settimeout(max(connect_by - time.monotonic(), 0.001))
                sock = self._tls.wrap_socket(sock, server_hostname=host)
            answer_timeout = self._response_timeout
            if within is not None:
                answer_timeout = max(min(answer_timeout, started + within - time.monotonic()), 0.001)
            return self._exchange(sock, host, port, parts, headers, body, answer_timeout)
        except TimeoutError:
            return Outcome(False, f"the TLS handshake did not end within {connect_timeout:g} s", late=True)
        except ssl.SSLError:
            return Outcome(False, "TLS failed (certificate not valid for the host?)")
        except (OSError, http.client.HTTPException):
            return Outcome(False, "the connection failed, or the answer was malformed")
        finally:
            sock.close()

    def _resolved(self, host: str, port: int, timeout: float) -> list[str] | None:
        """The host's addresses ([] if it has none); None if the resolver does not answer within
        `timeout` (getaddrinfo has no timeout: it goes on in a thread of its own, never one
        shared with another tenant's lookups)."""
        found: list[str] = []

        def look_up() -> None:
            try:
                found.extend(self._resolve(host, port))
            except (OSError, UnicodeError):
                pass

        lookup = threading.Thread(target=look_up, daemon=True)
        lookup.start()
        lookup.join(timeout)
        return None if lookup.is_alive() else found

    def _connect(self, addresses: list[str], port: int, by: float) -> socket.socket:
        """A socket connected to the first address that answers before `by` (one deadline for all)."""
        last: OSError = OSError("no address")
        for address in addresses:
            left = by - time.monotonic()
            if left <= 0:
                break
            try:
                return socket.create_connection((address, port), timeout=left)
            except OSError as exc:
                last = exc
        raise last

    def _exchange(
        self,
        sock: socket.socket,
        host: str,
        port: int,
        parts: SplitResult,
        headers: dict[str, str],
        body: bytes,
        timeout: float,
    ) -> Outcome:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.sock = sock  # connected to the checked address: http.client never resolves the host
        sock.settimeout(timeout)
        # A receiver dripping bytes under the per-read timeout still ends at the deadline; what
        # http.client reads after the cut (headers ended by EOF) is not an answer.
        cut = threading.Event()
        watchdog = threading.Timer(timeout, _shut, (sock, cut))
        watchdog.daemon = True
        started = time.monotonic()
        watchdog.start()
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            all_headers = {
                **headers,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Connection": "close",
            }
            conn.request("POST", path, body=body, headers=all_headers)
            response = conn.getresponse()
            response.read(MAX_RESPONSE_BYTES)
        except (OSError, http.client.HTTPException) as exc:
            if cut.is_set() or isinstance(exc, TimeoutError):
                return Outcome(False, f"no answer within {timeout:.2g} s", late=True)
            raise
        finally:
            watchdog.cancel()
        if cut.is_set() or time.monotonic() - started > timeout:
            return Outcome(False, f"no answer within {timeout:.2g} s", late=True)
        status = response.status
        if 200 <= status < 300:
            return Outcome(True)
        retry_after = response.getheader("Retry-After", "")
        wait = int(retry_after) if retry_after.isdigit() else None
        if 300 <= status < 400:
            return Outcome(False, f"answered {status}: redirects are not followed")
        return Outcome(False, f"answered {status}", retry_after=wait)


def _shut(sock: socket.socket, cut: threading.Event) -> None:
    cut.set()
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
