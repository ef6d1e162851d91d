"""A shutdown step that never ends is given up after its bound, not waited for forever."""

import asyncio
import logging

import pytest
from chargeyard_platform import runtime


@pytest.mark.asyncio
async def test_a_step_that_hangs_is_left_behind_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(runtime, "STOP_STEP_S", 0.2)
    never = asyncio.get_running_loop().create_future()
    with caplog.at_level(logging.WARNING, logger=runtime.__name__):
        await asyncio.wait_for(runtime._bounded("Kafka consumer", never), 5)
    assert "Kafka consumer did not finish" in caplog.text
    assert never.cancelled()


@pytest.mark.asyncio
async def test_a_step_that_ends_is_awaited() -> None:
    done: list[str] = []

    async def step() -> None:
        await asyncio.sleep(0.01)
        done.append("stopped")

    await runtime._bounded("database", step())
    assert done == ["stopped"]
