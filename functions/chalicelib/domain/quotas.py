"""Per-application request quotas: what a quota allows, and what one request was told."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Quota:
    """`requests` of one kind per subject in each window of `window_seconds`."""

    kind: str
    requests: int
    window_seconds: int


@dataclass(frozen=True)
class Decision:
    quota: Quota
    allowed: bool
    remaining: int
    reset_seconds: int
