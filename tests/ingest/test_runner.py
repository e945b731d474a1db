"""The ingest runners wake the pipeline for each committed batch and when the pass ends."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mailflow.ingest.runner import ProcessRunner, ThreadRunner


def quiet_pass(on_batch: Callable[[], None]) -> str:
    """A pass that found no new mail: it commits no batch."""
    return "report"


def one_batch(on_batch: Callable[[], None]) -> str:
    on_batch()
    return "report"


@pytest.mark.parametrize("kind", ["thread", "process"])
@pytest.mark.parametrize("work", [quiet_pass, one_batch])
def test_the_end_of_a_pass_wakes_the_waiting_pipeline(kind: str, work: Callable[[Callable[[], None]], str]) -> None:
    """GIVEN a pass that ends (with or without a batch) WHEN the pipeline waits for a batch THEN it
    is woken rather than waiting out its timeout, which held acknowledgements back by half a second."""
    runner = ThreadRunner(work) if kind == "thread" else ProcessRunner(work, lambda: None)
    runner.start()
    woken = runner.wait_for_batch(10)
    while runner.running():
        woken = runner.wait_for_batch(10)
    assert woken and runner.result() == "report"
