"""Our PATCHes' echoes are matched by count and time; anything more is read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobs.pipeline.echoes import ECHO_WINDOW, REPEAT_WINDOW, ExpectedEchoes

SENT = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
CE = 88001


def after(seconds: float) -> datetime:
    """A moment `seconds` after the PATCH was sent."""
    return SENT + timedelta(seconds=seconds)


def test_the_echo_of_a_patch_is_not_read_and_is_expected_once() -> None:
    """One PATCH, one delivery after it: the echo; a delivery later still is a new event."""
    echoes = ExpectedEchoes()
    echoes.expect(CE, SENT)
    assert echoes.all_echoes(CE, [after(1)])
    assert len(echoes) == 0
    assert not echoes.all_echoes(CE, [after(30)])  # a later delivery is a new event


def test_a_delivery_received_before_the_patch_was_sent_is_not_its_echo() -> None:
    """An event that came before our PATCH announces someone else's change."""
    echoes = ExpectedEchoes()
    echoes.expect(CE, SENT)
    assert not echoes.all_echoes(CE, [after(-0.5)])
    assert len(echoes) == 0  # the record is read: nothing is expected of it any more


def test_a_delivery_past_the_repeat_window_is_a_staff_edit_and_is_read() -> None:
    """One PATCH, two deliveries seconds apart: the second is another change."""
    echoes = ExpectedEchoes()
    echoes.expect(CE, SENT)
    later = after(1) + REPEAT_WINDOW + timedelta(seconds=1)
    assert not echoes.all_echoes(CE, [after(1), later])


def test_a_repeat_within_seconds_in_the_same_batch_is_the_same_echo() -> None:
    """Wisenet delivers at least once: a repeat within seconds is the same echo."""
    echoes = ExpectedEchoes()
    echoes.expect(CE, SENT)
    assert echoes.all_echoes(CE, [after(1.2), after(1)])
    assert not echoes.all_echoes(CE, [after(2)])  # in a later batch: read, to be safe


def test_two_patches_expect_two_echoes() -> None:
    """Each PATCH expects its own echo."""
    echoes = ExpectedEchoes()
    echoes.expect(CE, SENT)
    echoes.expect(CE, after(20))
    assert echoes.all_echoes(CE, [after(1)])
    assert len(echoes) == 1
    assert echoes.all_echoes(CE, [after(21)])


def test_an_echo_that_never_comes_stops_being_expected() -> None:
    """Past its window an expectation is dropped, so it cannot hide a later edit."""
    echoes = ExpectedEchoes()
    echoes.expect(CE, SENT)
    echoes.forget_before(SENT + ECHO_WINDOW + timedelta(seconds=1))
    assert len(echoes) == 0
    assert not echoes.all_echoes(CE, [SENT + ECHO_WINDOW + timedelta(seconds=2)])


def test_dropping_a_record_forgets_its_expectations_and_echoes() -> None:
    """A record read anyway expects nothing more; no delivery at all is no echo."""
    echoes = ExpectedEchoes()
    echoes.expect(CE, SENT)
    echoes.drop(CE)
    assert not echoes.all_echoes(CE, [after(1)])
    assert not echoes.all_echoes(CE, [])
