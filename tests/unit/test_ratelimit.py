"""Quotas when Redis cannot count them, and the defaults against the stage throttle: no service."""

import socket

import pytest
import redis
from cfnlint.decode import cfn_yaml
from redis.backoff import NoBackoff
from redis.retry import Retry

from chalicelib.adapters.redis.ratelimit import LocalWindows
from chalicelib.edge import http
from chalicelib.wiring import clients, settings
from tests.conftest import ROOT

TEMPLATE = cfn_yaml.load(str(ROOT / "infra" / "template.yaml"))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed


def test_a_quota_still_refuses_while_redis_cannot_count():
    # Redis down (or full under noeviction) must not turn every quota off: each process counts.
    down = redis.Redis(port=_closed_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    quotas = {"RATE_LIMIT_CREATES": "2", "RATE_LIMIT_WINDOW_SECONDS": "3600"}
    limits = clients.rate_limits(settings.from_env(quotas), down)
    decisions = [limits.take("application:1", "creates") for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert 0 < decisions[-1].reset_seconds <= 3600
    assert limits.take("application:2", "creates").allowed  # each subject has its own


def test_local_windows_reset_with_the_window():
    now = [1000.0]
    windows = LocalWindows(max_keys=3, clock=lambda: now[0])
    assert [windows.take("a", 10)[0] for _ in range(3)] == [1, 2, 3]
    assert windows.take("a", 10)[1] == 10  # 1000 is a window's first second
    now[0] = 1010.0
    assert windows.take("a", 10) == (1, 10)


def test_local_windows_stay_bounded_and_fresh_keys_buy_no_fresh_quota():
    # While Redis is down, a client that makes the process count many subjects (applications,
    # addresses) must neither grow its memory nor reset the counts it has already used up.
    now = [1000.0]
    windows = LocalWindows(max_keys=3, clock=lambda: now[0])
    for _ in range(5):
        windows.take("spent", 10)
    for n in range(10_000):
        windows.take(f"fresh-{n}", 10)
    assert windows.take("spent", 10)[0] == 6
    assert windows.size() <= 3 + 1  # the keys, and the one that counts the keys that found no room
    # The keys that found no room share one count: they get one quota, not one each.
    assert windows.take("one more", 10)[0] > 10_000 - 3
    now[0] = 1010.0  # a new window: past windows' counts make room
    assert windows.take("later", 10) == (1, 10)
    assert windows.size() <= 3 + 1


def _per_second(requests: int, window: int) -> float:
    return requests / window


def test_every_default_quota_is_well_below_the_stage_throttle():
    # The stage throttle is the last line: one application in a loop, or one address creating
    # applications, must get no more than a fifth of it.
    defaults = settings.from_env({})
    stage = int(TEMPLATE["Parameters"]["ApiThrottlingRateLimit"]["Default"])
    window = defaults.rate_limit_window_seconds
    for name in ("creates", "edits", "searches", "reads"):
        quota = getattr(defaults, f"rate_limit_{name}")
        assert _per_second(quota, window) <= stage / 5, name
    new_apps = defaults.rate_limit_applications_window_seconds
    assert _per_second(defaults.rate_limit_applications, new_apps) <= stage / 5
    assert defaults.rate_limit_applications_per_address < defaults.rate_limit_applications


@pytest.mark.parametrize(
    ("parameter", "field"),
    [
        ("RateLimitWindowSeconds", "rate_limit_window_seconds"),
        ("RateLimitCreates", "rate_limit_creates"),
        ("RateLimitEdits", "rate_limit_edits"),
        ("RateLimitSearches", "rate_limit_searches"),
        ("RateLimitReads", "rate_limit_reads"),
        ("RateLimitApplicationsWindowSeconds", "rate_limit_applications_window_seconds"),
        ("RateLimitApplicationsPerAddress", "rate_limit_applications_per_address"),
        ("RateLimitApplications", "rate_limit_applications"),
    ],
)
def test_the_template_defaults_are_the_settings_defaults_and_reach_the_api(parameter, field):
    assert int(TEMPLATE["Parameters"][parameter]["Default"]) == getattr(settings.from_env({}), field)
    variables = TEMPLATE["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
    env = {
        name: value["Ref"] for name, value in variables.items() if isinstance(value, dict) and "Ref" in value
    }
    assert parameter in env.values()
    name = next(k for k, v in env.items() if v == parameter)
    assert getattr(settings.from_env({name: "7"}), field) == 7


@pytest.mark.parametrize(
    ("source", "subject"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),  # the same subscriber's other address
        ("::ffff:203.0.113.7", "203.0.113.7"),  # an IPv4 client seen over IPv6 is that client
        ("", "unknown"),
        ("not an address", "unknown"),
    ],
)
def test_a_client_is_its_address_or_its_ipv6_64(source, subject):
    assert http.client_address({"identity": {"sourceIp": source}}) == subject
