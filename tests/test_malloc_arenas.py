"""`portal server` caps glibc's malloc arenas for itself and its children, unless told otherwise."""

from __future__ import annotations

import subprocess
import sys

import pytest

from portal import malloc_arenas


def test_default_cap_reaches_executed_children(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    malloc_arenas.limit_arenas()
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ['MALLOC_ARENA_MAX'])"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert child.stdout.strip() == "2"


def test_operator_value_wins(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert malloc_arenas.limit_arenas() in (8, None)  # None: not glibc
    assert malloc_arenas.os.environ["MALLOC_ARENA_MAX"] == "8"


@pytest.mark.parametrize("bad", ["", "many"])
def test_bad_value_is_left_alone_not_a_crash(monkeypatch, bad):
    monkeypatch.setenv("MALLOC_ARENA_MAX", bad)
    assert malloc_arenas.limit_arenas() is None
    assert malloc_arenas.os.environ["MALLOC_ARENA_MAX"] == bad
