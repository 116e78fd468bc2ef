"""The same code in view is reported once, until it leaves the view or time passes."""

from __future__ import annotations

from drivers.camera.dedupe import Deduplicator


def test_a_code_held_in_view_is_reported_once() -> None:
    dedupe = Deduplicator(gone_after=0.5, repeat_after=5.0)
    reported = [dedupe.observe(["A"], now=t / 10) for t in range(30)]
    assert reported[0] == ["A"]
    assert all(r == [] for r in reported[1:])


def test_a_missed_frame_does_not_count_as_leaving() -> None:
    dedupe = Deduplicator(gone_after=0.5)
    assert dedupe.observe(["A"], now=0.0) == ["A"]
    assert dedupe.observe([], now=0.1) == []
    assert dedupe.observe(["A"], now=0.2) == []


def test_a_code_that_left_the_view_is_reported_again() -> None:
    dedupe = Deduplicator(gone_after=0.5)
    assert dedupe.observe(["A"], now=0.0) == ["A"]
    assert dedupe.observe([], now=0.7) == []
    assert dedupe.observe(["A"], now=0.8) == ["A"]


def test_a_code_kept_in_view_is_repeated_after_the_configured_time() -> None:
    dedupe = Deduplicator(gone_after=0.5, repeat_after=2.0)
    times = [t / 10 for t in range(45)]
    reported_at = [t for t in times if dedupe.observe(["A"], now=t)]
    assert reported_at == [0.0, 2.0, 4.0]


def test_codes_are_tracked_independently_and_in_frame_order() -> None:
    dedupe = Deduplicator()
    assert dedupe.observe(["B", "A", "B"], now=0.0) == ["B", "A"]
    assert dedupe.observe(["A", "C"], now=0.1) == ["C"]
