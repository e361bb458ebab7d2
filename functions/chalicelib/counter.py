"""The counter: brings chats_count and messages_count in line with the persisted rows."""
import time

from .service import Deps


def refresh_counts(deps: Deps) -> dict:
    started = time.monotonic()
    chats_changed, applications_changed = deps.db.refresh_counts()
    return {"chats_changed": chats_changed, "applications_changed": applications_changed,
            "seconds": round(time.monotonic() - started, 3)}
