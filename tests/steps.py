"""Concurrency on demand: actors (bucket writers, Lambda invocations) run in threads, but one at
a time, and every AWS call is a step at which the scheduler may hand the turn to another actor.
A test's `choose` decides whose turn comes next, so hypothesis explores the interleavings of
concurrent invocations and replays any it finds failing. An actor makes its calls from its own
thread: a gated call from any other thread would wait for a turn that never comes.

`After` is the hand-written kind of interleaving: something happens right after one given call."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

STEP_SECONDS = 30  # far longer than any step; reached only when an actor hangs


class Scheduler:
    """Runs actors one step at a time, in the order `choose` picks among the waiting ones."""

    def __init__(self, choose: Callable[[int], int]) -> None:
        self._choose = choose
        self._turns = threading.Condition()
        self._waiting: list[threading.Thread] = []
        self._turn: threading.Thread | None = None
        self._live: set[threading.Thread] = set()
        self.failures: list[BaseException] = []

    def spawn(self, work: Callable[[], None]) -> None:
        """Start an actor; it waits for its first turn before doing anything."""

        def actor() -> None:
            try:
                self.step()
                work()
            except BaseException as exc:  # reported by the test
                self.failures.append(exc)
            finally:
                with self._turns:
                    self._live.discard(threading.current_thread())
                    if self._turn is threading.current_thread():
                        self._turn = None
                    self._turns.notify_all()

        thread = threading.Thread(target=actor, daemon=True)
        with self._turns:
            self._live.add(thread)
        thread.start()

    def step(self) -> None:
        """Give up the turn, and wait until the scheduler hands it back."""
        me = threading.current_thread()
        with self._turns:
            self._waiting.append(me)
            if self._turn is me:
                self._turn = None
            self._turns.notify_all()
            if not self._turns.wait_for(lambda: self._turn is me, STEP_SECONDS):
                raise TimeoutError("no turn came")

    def run(self) -> None:
        """Hand out turns until every actor has finished."""
        with self._turns:
            while True:
                settled = self._turns.wait_for(
                    lambda: self._turn is None and len(self._waiting) == len(self._live),
                    STEP_SECONDS,
                )
                if not settled:
                    raise TimeoutError("an actor neither finished nor reached a step")
                if not self._waiting:
                    return
                self._turn = self._waiting.pop(self._choose(len(self._waiting)))
                self._turns.notify_all()

    def gated(self, client: Any) -> Any:
        """`client` whose every call is a step first."""
        return _Gated(client, self)


class _Gated:
    def __init__(self, client: Any, scheduler: Scheduler) -> None:
        self._client = client
        self._scheduler = scheduler

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self._scheduler.step()
            return attribute(*args, **kwargs)

        return call


class After:
    """`target` (a client or a store) whose `method` runs `then()` once, right after its first
    call returns: another actor's whole turn, say, or a response lost after the call took
    effect (`then` raising)."""

    def __init__(self, target: Any, method: str, then: Callable[[], None]) -> None:
        self._target = target
        self._method = method
        self._then: Callable[[], None] | None = then

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if name != self._method:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            then, self._then = self._then, None
            if then is not None:
                then()
            return result

        return call
