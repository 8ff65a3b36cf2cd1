"""Ctrl-C semantics of the real backend, without ROS: real SIGINTs sent to this process."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from pushseg.robot.interrupts import MotionInterrupted, SigintForwarder, SigintGuard, forward_sigint


class Target:
    def __init__(self) -> None:
        self.interrupts = 0

    def interrupt(self) -> None:
        self.interrupts += 1


def _sigint_self(seen, timeout: float = 5.0) -> None:
    """Send SIGINT to this process and let the main thread run its handler."""
    before = seen()
    os.kill(os.getpid(), signal.SIGINT)
    deadline = time.monotonic() + timeout
    while seen() == before and time.monotonic() < deadline:
        time.sleep(0.001)


@pytest.fixture
def restore_sigint():
    saved = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, saved)


class Recorder:
    def __init__(self, raises: type[BaseException] | None = None) -> None:
        self.calls = 0
        self.raises = raises

    def __call__(self, signum, frame) -> None:
        self.calls += 1
        if self.raises is not None:
            raise self.raises("from the previous handler")


@pytest.mark.parametrize(
    "previous",
    [signal.default_int_handler, signal.SIG_IGN, Recorder(), Recorder(raises=ValueError),
     Recorder(raises=KeyboardInterrupt)],
    ids=["python-default", "ignored", "own-handler", "handler-raising-ValueError", "handler-raising-KeyboardInterrupt"],
)
def test_sigint_during_a_motion_only_sets_the_flag_and_the_previous_handler_is_chained_once(previous, restore_sigint):
    signal.signal(signal.SIGINT, previous)
    flag = threading.Event()
    guard = SigintGuard(Target(), lambda signum, frame: flag.set())
    with guard.installed():
        with guard.installed():  # nested (the retract after an interrupt): the handler stays
            _sigint_self(flag.is_set)
            assert flag.is_set()  # the handler raised nothing: we are still here
        assert signal.getsignal(signal.SIGINT) == guard.on_sigint
        guard.chain()  # whatever the previous handler does, nothing comes out of here
    assert signal.getsignal(signal.SIGINT) is previous  # restored
    if isinstance(previous, Recorder):
        assert previous.calls == 1
    # Whatever was there before, what the backend raises is one type.
    assert issubclass(MotionInterrupted, KeyboardInterrupt)


def test_motions_from_other_threads_need_forwarding(restore_sigint):
    target = Target()
    guard = SigintGuard(target, lambda signum, frame: None)
    guard.check_thread("push")  # the main thread: fine
    errors = []

    def in_thread():
        try:
            guard.check_thread("push")
        except RuntimeError as e:
            errors.append(str(e))

    worker = threading.Thread(target=in_thread, name="collector")
    worker.start()
    worker.join()
    assert errors and "push was asked for from thread 'collector', but Ctrl-C reaches only the main thread" in errors[0]
    assert "forward_sigint(backend)" in errors[0]

    errors.clear()
    with forward_sigint(target):
        assert isinstance(signal.getsignal(signal.SIGINT), SigintForwarder)
        worker = threading.Thread(target=in_thread)
        worker.start()
        worker.join()
        assert errors == []
        _sigint_self(lambda: target.interrupts)
        assert target.interrupts == 1  # forwarded, and the main thread was not interrupted
    # A forwarder for another backend does not count.
    with forward_sigint(Target()):
        worker = threading.Thread(target=in_thread)
        worker.start()
        worker.join()
    assert len(errors) == 1


def test_forward_sigint_only_from_the_main_thread():
    errors = []

    def in_thread():
        try:
            with forward_sigint(Target()):
                pass
        except RuntimeError as e:
            errors.append(str(e))

    worker = threading.Thread(target=in_thread)
    worker.start()
    worker.join()
    assert errors == ["forward_sigint() must be entered in the main thread (only it receives SIGINT)"]
