"""``AlertsSoon``: asks gather into one evaluation, full rounds go on, a failure waits for the
next ask (or the sweeper), and a drain finishes one round and stops."""

from __future__ import annotations

import asyncio

from application.compliance.alerts_soon import AlertsSoon


class ScriptedMonitor:
    """``evaluate_awaiting`` answers how many it evaluated, from a script (then 0)."""

    def __init__(self, *answers: int | Exception, pause: float = 0.0) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.pause = pause

    async def evaluate_awaiting(self, limit: int = 1_000) -> int:
        self.calls += 1
        await asyncio.sleep(self.pause)
        answer = self.answers.pop(0) if self.answers else 0
        if isinstance(answer, Exception):
            raise answer
        return answer


def _calls(monitor: ScriptedMonitor, *pauses: float, gather: float, per_round: int) -> int:
    """Ask once per pause, waiting that long after each ask; how many evaluations ran."""
    async def scenario() -> int:
        soon = AlertsSoon(monitor, gather_seconds=gather, per_round=per_round)
        for pause in pauses:
            soon.ask()
            await asyncio.sleep(pause)
        return monitor.calls

    return asyncio.run(scenario())


def test_asks_gather_into_one_evaluation_that_goes_on_while_rounds_are_full() -> None:
    calls = _calls(ScriptedMonitor(2, 2, 1), 0, 0, 0, 0, 0.2, gather=0.01, per_round=2)
    assert calls == 3  # two full rounds, then one that was not


def test_an_ask_during_an_evaluation_is_not_lost() -> None:
    # the second ask comes while the first evaluation is under way
    assert _calls(ScriptedMonitor(1, 1, pause=0.05), 0.02, 0.3, gather=0.0, per_round=10) == 2


def test_a_failure_is_left_to_the_next_ask() -> None:
    monitor = ScriptedMonitor(ConnectionError("monitoring went away"), 1)
    assert _calls(monitor, 0.05, 0.05, gather=0.0, per_round=10) == 2


def test_a_drain_finishes_one_round_of_a_backlog_and_stops() -> None:
    async def scenario() -> int:
        monitor = ScriptedMonitor(*[10] * 1_000, pause=0.001)  # full rounds without end
        soon = AlertsSoon(monitor, gather_seconds=0.0, per_round=10)
        soon.ask()
        await asyncio.sleep(0.05)
        await asyncio.wait_for(soon.drain(), 1)
        return monitor.calls

    assert 1 <= asyncio.run(scenario()) < 1_000
