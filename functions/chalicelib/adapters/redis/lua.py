"""The Lua scripts the Redis adapters run, kept in scripts/*.lua with the KEYS and ARGV they take."""

from functools import cache
from pathlib import Path

_SCRIPTS = Path(__file__).parent / "scripts"


@cache
def script(*names: str) -> str:
    """The scripts `names` joined in order (a shared prelude of functions first), read once."""
    return "\n".join((_SCRIPTS / f"{name}.lua").read_text() for name in names)
