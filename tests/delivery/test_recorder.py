"""The recorder: results written in groups off the sending threads, never more than ``cap`` behind."""

from __future__ import annotations

import threading

import pytest

from newsletter.delivery.recorder import Answered, Recorder
from newsletter.errors import Unavailable
from newsletter.mail.backends.base import SendResult, SendStatus

OK = SendResult(SendStatus.SENT, 250, "ok")


def test_concurrent_senders_never_get_more_than_cap_ahead_of_what_is_written() -> None:
    written: list[int] = []
    lock = threading.Lock()
    ahead: list[int] = []
    release = threading.Event()

    def write(group: Answered) -> None:
        release.wait()  # a slow database: the senders must wait for it, not run ahead
        with lock:
            written.extend(i for i, _ in group)

    recorder = Recorder(write, cap=8)
    indexes = iter(range(200))
    next_lock = threading.Lock()

    def sender() -> None:
        while True:
            with next_lock:
                index = next(indexes, None)
            if index is None or not recorder.admit(index):
                return
            with lock:
                ahead.append(index + 1 - len(written))
            recorder.answered(index, OK)

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for thread in threads:
        thread.start()
    threading.Timer(0.2, release.set).start()
    for thread in threads:
        thread.join()
    recorder.finish([OK] * 200)
    assert sorted(written) == list(range(200))
    assert max(ahead) <= 8 + 2  # cap, plus what two other senders admitted in between the count


def test_results_never_reported_are_written_at_the_end() -> None:
    written: list[tuple[int, SendResult]] = []
    recorder = Recorder(written.extend, cap=4)
    assert recorder.admit(0)
    recorder.answered(0, OK)
    left = SendResult(SendStatus.DEFERRED, None, "not attempted")
    recorder.finish([OK, left, left])
    assert sorted(i for i, _ in written) == [0, 1, 2] and dict(written)[2] is left


def test_a_failed_write_stops_admitting_and_is_raised_to_the_sender() -> None:
    def write(group: Answered) -> None:
        raise Unavailable("database gone")

    recorder = Recorder(write, cap=2)
    admitted = 0
    for index in range(10):
        if not recorder.admit(index):
            break
        admitted += 1
        recorder.answered(index, OK)
    assert admitted <= 3  # the cap, and one that may slip in before the write failed
    with pytest.raises(Unavailable, match="database gone"):
        recorder.finish([OK] * 10)


def test_rows_the_tick_drops_are_no_longer_admitted() -> None:
    ticked = threading.Event()

    def tick() -> list[int]:
        ticked.set()
        return [5]

    recorder = Recorder(lambda group: None, cap=2, tick=tick)
    assert ticked.wait(5)
    for index in range(5):
        assert recorder.admit(index)
        recorder.answered(index, OK)
    assert not recorder.admit(5) and recorder.admit(6)
    recorder.answered(6, OK)
    recorder.finish()
