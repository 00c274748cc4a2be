"""What one delivery attempt came to, and when to try again: shared by every sink and the deliverer (which
imports a sink's own module, and its network library, only when that sink is configured)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from bridge.settings import FhirServerSettings


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to: ``done``; else ``retry`` (after ``retry_after`` seconds when the server said)."""

    done: bool
    retry: bool = False
    error: str | None = None
    retry_after: float | None = None
    requests: int = 0


def next_attempt(settings: FhirServerSettings, attempts: int, created_at: float, now: float,
                 retry_after: float | None) -> float | None:
    """When to try again after ``attempts`` failed attempts (this one included); None: dead-letter it.

    Exponential back-off with full jitter in [delay/2, delay], capped; a server's Retry-After is honoured.
    """
    if attempts >= settings.max_attempts or now - created_at >= settings.max_age:
        return None
    delay = min(settings.backoff_cap, settings.backoff * 2 ** (attempts - 1))
    delay = delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not cryptography
    if retry_after is not None:
        delay = max(delay, retry_after)
    if now + delay - created_at > settings.max_age:
        return None
    return now + delay
