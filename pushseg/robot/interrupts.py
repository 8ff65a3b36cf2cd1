"""What Ctrl-C (SIGINT) does while the real robot moves: one rule, whatever else handles SIGINT.

The rule (docs/real-robot.md, "Ctrl-C"):

* While an arm motion runs in the **main thread**, the backend's own SIGINT
  handler is installed. It only sets a flag; the motion's wait loop sees it
  within 20 ms, cancels every arm goal, takes the arms out of view and raises
  :class:`MotionInterrupted`, a :class:`KeyboardInterrupt`. This holds
  whatever handler was there before (Python's default, ``SIG_IGN`` as in a
  background job, rospy's, or your own) and in whatever order rospy and the
  backend installed theirs; a previous Python handler is then called once
  (so rospy still shuts its node down), and whatever it raises is not
  what comes out. A second Ctrl-C during the retract abandons it (the goals
  are cancelled again, the arms stop where they are) and still raises
  :class:`MotionInterrupted`.
* Python delivers signals to the main thread only. A motion started from
  **another thread** is refused before anything is sent, unless the main
  thread forwards Ctrl-C to that backend with :func:`forward_sigint`.
* ``backend.interrupt()`` does the same from any thread. Given while no
  motion runs, the next motion raises :class:`MotionInterrupted` before sending
  anything.

Pure Python (no ROS), so that it can be tested on its own.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

log = logging.getLogger("pushseg.robot")


class MotionInterrupted(KeyboardInterrupt):
    """Ctrl-C (or ``interrupt()``) stopped an arm motion; the message says whether the arms were retracted."""


class Interruptible(Protocol):
    def interrupt(self) -> None: ...


class SigintForwarder:
    """A SIGINT handler for the main thread that asks backends to stop; it raises nothing itself."""

    def __init__(self, targets: tuple[Interruptible, ...]) -> None:
        self.targets = targets

    def __call__(self, signum: int, frame: Any) -> None:
        for target in self.targets:
            target.interrupt()

    def forwards_to(self, target: object) -> bool:
        return any(t is target for t in self.targets)


@contextlib.contextmanager
def forward_sigint(*backends: Interruptible) -> Iterator[None]:
    """In the main thread: while inside, Ctrl-C stops the motions of ``backends`` running in other threads.

    The thread that runs the motion gets :class:`MotionInterrupted`; the main
    thread goes on (so it can wait for the retract to finish). Example::

        with forward_sigint(backend):
            worker = threading.Thread(target=collect_with, args=(backend,))
            worker.start()
            worker.join()
    """
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("forward_sigint() must be entered in the main thread (only it receives SIGINT)")
    previous = signal.signal(signal.SIGINT, SigintForwarder(tuple(backends)))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class SigintGuard:
    """Installs ``on_sigint`` for the duration of a motion (main thread), or checks forwarding (other threads).

    Nested guards (the retract that follows an interrupt) keep the handler; the
    outermost one restores what was there before and remembers it in ``previous``.
    """

    def __init__(self, owner: object, on_sigint: Callable[[int, Any], None]) -> None:
        self.owner = owner
        self.on_sigint = on_sigint
        self.previous: Any = None
        self._depth = 0

    def check_thread(self, what: str) -> None:
        """Raise RuntimeError when a Ctrl-C could not stop a motion started from this thread."""
        if threading.current_thread() is threading.main_thread():
            return
        handler = signal.getsignal(signal.SIGINT)
        if isinstance(handler, SigintForwarder) and handler.forwards_to(self.owner):
            return
        raise RuntimeError(
            f"{what} was asked for from thread {threading.current_thread().name!r}, but Ctrl-C reaches only the "
            "main thread, so it could not stop this motion. Move the arms from the main thread, or have the main "
            "thread forward Ctrl-C: `with pushseg.robot.interrupts.forward_sigint(backend): ...` "
            "(docs/real-robot.md)"
        )

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        main = threading.current_thread() is threading.main_thread()
        if main and self._depth == 0:
            self.previous = signal.signal(signal.SIGINT, self.on_sigint)
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if main and self._depth == 0:
                signal.signal(signal.SIGINT, self.previous)

    def chain(self, signum: int = signal.SIGINT) -> None:
        """Call the handler that was installed before ours (e.g. rospy's, which shuts the node down), once.

        Python's default handler (which would only raise KeyboardInterrupt),
        ``SIG_DFL`` and ``SIG_IGN`` are skipped; whatever the handler raises is
        logged, never propagated, so the caller's exception type does not change.
        """
        previous = self.previous
        if not callable(previous) or previous is signal.default_int_handler or previous == self.on_sigint:
            return
        if isinstance(previous, SigintForwarder):
            return
        try:
            previous(signum, None)
        except KeyboardInterrupt:
            pass
        except Exception as e:  # a user's handler must not change what Ctrl-C raises
            log.warning("the SIGINT handler installed before the backend's raised %s: %s", type(e).__name__, e)
