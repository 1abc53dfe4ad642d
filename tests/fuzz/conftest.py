"""Prints the fuzz figures at the end of a test run (CI's log shows them)."""

from __future__ import annotations

from tests.fuzz import summary


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if summary.LINES:
        terminalreporter.section("fuzz figures")
        for line in summary.LINES:
            terminalreporter.write_line(line)
