"""A revoked or rotated token is refused by warm functions within the stated bound (15 s)."""

import time
from concurrent.futures import ThreadPoolExecutor

from chalicelib.usecases.identity import REVOCATION_SECONDS

PARALLEL = 6  # requests at once: LocalStack keeps several warm environments, each with its cache


def statuses(api, token: str) -> set[int]:
    """What warm environments answer for `token` on a route that takes it from their caches."""
    with ThreadPoolExecutor(PARALLEL) as pool:
        return set(pool.map(lambda _: api.get(f"/applications/{token}/chats").status_code, range(PARALLEL)))


def seconds_until_refused(api, token: str) -> float:
    """From now until every warm environment answers 404 for `token`, three rounds running."""
    started, refused_rounds = time.monotonic(), 0
    while refused_rounds < 3:
        assert time.monotonic() - started < REVOCATION_SECONDS + 30, "still served"
        refused_rounds = refused_rounds + 1 if statuses(api, token) == {404} else 0
        time.sleep(0.2)
    return time.monotonic() - started


def test_warm_functions_refuse_a_token_rotated_without_grace_within_the_bound(api, application):
    token = application["token"]
    for _ in range(3):
        assert statuses(api, token) == {200}  # every warm environment knows it now
    rotated = api.post(f"/applications/{token}/token", json={"grace_seconds": 0})
    assert rotated.status_code == 200, rotated.text
    assert seconds_until_refused(api, token) <= REVOCATION_SECONDS + 2
    assert statuses(api, rotated.json()["token"]) == {200}


def test_warm_functions_refuse_a_revoked_previous_token_within_the_bound(api, application):
    token = application["token"]
    new = api.post(f"/applications/{token}/token", json={"grace_seconds": 3600}).json()["token"]
    for _ in range(3):
        assert statuses(api, token) == {200}  # in its grace, and known to every environment
    assert api.delete(f"/applications/{new}/previous_token").status_code == 204
    assert seconds_until_refused(api, token) <= REVOCATION_SECONDS + 2
    assert statuses(api, new) == {200}
