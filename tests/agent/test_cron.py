"""The 5-field cron matcher used for portal_script `cron`."""

from __future__ import annotations

import datetime as dt

import pytest

from portal_agent.cron import Cron, CronError


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("expression", "when", "expected"),
    [
        ("* * * * *", "2026-11-27T09:13", True),
        ("*/15 * * * *", "2026-11-27T09:45", True),
        ("*/15 * * * *", "2026-11-27T09:46", False),
        ("0 9-17 * * mon-fri", "2026-11-27T12:00", True),  # a Friday
        ("0 9-17 * * mon-fri", "2026-11-28T12:00", False),  # a Saturday
        ("30 2 * * 0", "2026-11-29T02:30", True),  # Sunday as 0
        ("30 2 * * 7", "2026-11-29T02:30", True),  # ... and as 7
        ("0 0 1,15 * *", "2026-11-15T00:00", True),
        ("0 0 1 jan *", "2026-01-01T00:00", True),
        ("5/20 * * * *", "2026-11-27T09:45", True),
        ("5/20 * * * *", "2026-11-27T09:40", False),
        # Both day fields restricted: either matching is enough (Vixie cron).
        ("0 0 13 * fri", "2026-11-27T00:00", True),
        ("0 0 13 * fri", "2026-11-13T00:00", True),
        ("0 0 13 * fri", "2026-11-14T00:00", False),
        ("@hourly", "2026-11-27T10:00", True),
    ],
)
def test_matches(expression, when, expected):
    assert Cron(expression).matches(at(when)) is expected


def test_next_after():
    assert Cron("0 9 * * mon").next_after(at("2026-11-27T09:13")) == at("2026-11-30T09:00")
    assert Cron("*/5 * * * *").next_after(at("2026-11-27T09:13:40")) == at("2026-11-27T09:15")
    assert Cron("0 0 29 2 *").next_after(at("2026-03-01T00:00")) == at("2028-02-29T00:00")


@pytest.mark.parametrize(
    "bad", ["* * * *", "60 * * * *", "* * * * 8", "*/0 * * * *", "a b c d e", "5-1 * * * *"]
)
def test_rejects_invalid(bad):
    with pytest.raises(CronError):
        Cron(bad)


def test_agent_runs_matching_cron_scripts_only_while_connected(monkeypatch):
    import asyncio
    import time
    import types

    from portal_agent import agent as agent_module
    from portal_agent import scripts

    # Every "minute boundary" is 20 ms away, so the loop ticks quickly.
    fake_time = types.SimpleNamespace(
        time=lambda: 59.98, monotonic=time.monotonic, strftime=time.strftime
    )
    monkeypatch.setattr(scripts, "time", fake_time)

    async def scenario(connected: bool) -> list[str]:
        agent = agent_module.Agent("http://127.0.0.1:1", "token")
        agent._outbox_ready = asyncio.Event()
        agent.connected = connected
        agent.manifest = {
            "scripts": [
                {"display_name": "every", "script": "echo tick", "cron": "* * * * *"},
                {"display_name": "never", "script": "echo no", "cron": "0 0 31 2 *"},
                {"display_name": "bad", "script": "echo no", "cron": "61 * * * *"},
            ]
        }
        loop_task = asyncio.ensure_future(agent._cron_loop())
        await asyncio.sleep(0.8)
        loop_task.cancel()
        await asyncio.gather(*agent._tasks, return_exceptions=True)
        return [f"{e['source']}:{e['output']}" for e in agent._logs]

    logs = asyncio.run(scenario(connected=True))
    assert "every:tick" in logs
    assert not [line for line in logs if line.startswith("never:")]
    assert [line for line in logs if line.startswith("bad:")] == [
        "bad:invalid cron schedule: 61 is outside 0-59"
    ]
    assert "every:tick" not in asyncio.run(scenario(connected=False))
