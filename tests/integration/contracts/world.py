"""What a contract test is given: the ports of one world, fake or real."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.wiring.stores import Stores
from tests.fakes import FakeDeps


@dataclass
class World:
    deps: Stores | FakeDeps
    # Makes what was indexed searchable (Elasticsearch refreshes; the fake has nothing to do).
    refresh: Callable[[], None]
    real: bool


def new_application(world: World) -> int:
    """A fresh application (the foreign key every chat needs); returns its id."""
    return world.deps.db.insert_application(f"c-{uuid.uuid4().hex}", "contract").id
