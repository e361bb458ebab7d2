"""Fixtures of the use-case tests: a fresh in-memory world (tests/fakes.py) and a tenant in it
(files may define their own)."""

import pytest

from chalicelib.usecases import identity, service
from tests import fakes


@pytest.fixture(autouse=True)
def fresh_process():
    """Each test is a function environment of its own: no token or key version known yet."""
    identity.forget_everything()
    yield
    identity.forget_everything()


@pytest.fixture
def deps() -> fakes.FakeDeps:
    return fakes.deps()


@pytest.fixture
def token(deps) -> str:
    """The token of an application with one chat (so the token is in every cache)."""
    token = service.create_application(deps, "app").token
    service.create_chat(deps, token)
    return token
