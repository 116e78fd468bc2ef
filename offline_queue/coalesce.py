"""Coalescing of absolute-valued updates (pure decision, no I/O).

Some APIs take absolute values (Alipay `marketing.card.update`: "points = 120", not "+20"), so for
one ordering key (a card) only the newest state matters, and an older state must never overwrite
a newer one. For a kind declared `absolute`, each (kind, ordering key) has a watermark: the newest
business_time ever accepted. The rule, applied atomically at enqueue:

1. An update whose business_time is OLDER than the watermark is stale: it is recorded (state
   `superseded`, with the reason) but never sent, whether the newer one is pending, in flight or
   already sent.
2. Otherwise it is accepted, the watermark moves up to its business_time, and every PENDING (not
   in-flight) update of that kind and key is superseded by it: only the newest is sent.
   An equal business_time counts as newer (the later enqueue is the ECR's latest word).
3. An update already in flight is never recalled; the accepted one is queued behind it (ordering
   keys run one at a time), so the newer state is always applied last.

Stale or superseded jobs count as handled: they appear in stats and history, not as losses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CoalesceDecision:
    stale: bool
    supersede: tuple[int, ...]  # ids of pending jobs made obsolete by the new one
    watermark: float  # the (kind, key) watermark after this enqueue


def decide(
    business_time: float, watermark: float | None, pending: Iterable[tuple[int, float | None]]
) -> CoalesceDecision:
    """Decide what one enqueue of an absolute update does.

    `pending` lists (job id, business_time) of the same kind and key that are pending, not in flight.
    """
    if watermark is not None and business_time < watermark:
        return CoalesceDecision(stale=True, supersede=(), watermark=watermark)
    obsolete = tuple(job_id for job_id, other_time in pending if other_time is None or other_time <= business_time)
    return CoalesceDecision(stale=False, supersede=obsolete, watermark=business_time)
