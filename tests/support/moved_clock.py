"""Running the suite with the wall clock moved by libfaketime (Debian's `faketime`).

libfaketime moves the monotonic clock too unless told not to, and then every timed thread wait
(`sem_clockwait` on CLOCK_MONOTONIC, which it does not translate) waits until the moved deadline:
the run hangs. Told to leave the monotonic clock alone (`FAKETIME_DONT_FAKE_MONOTONIC=1`), it
still shifts absolute monotonic sleeps by its offset, so `time.sleep` fails with EINVAL. The test
run therefore asks for a real monotonic clock (re-executing itself once with that setting) and
sleeps with a relative wait, which libfaketime leaves as it is. Only the wall clock moves, for
this process and for every process it starts.
"""

from __future__ import annotations

import os
import select
import sys
import time
from typing import SupportsIndex

import pytest

KEEP_MONOTONIC = "FAKETIME_DONT_FAKE_MONOTONIC"


def under_faketime() -> bool:
    """Whether libfaketime is preloaded into this process."""
    return "faketime" in os.environ.get("LD_PRELOAD", "")


def relative_sleep(seconds: float | SupportsIndex) -> None:
    """`time.sleep` as a relative wait, which libfaketime does not shift."""
    length = float(seconds) if isinstance(seconds, float | int) else float(seconds.__index__())
    if length < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + length
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


def keep_the_monotonic_clock(config: pytest.Config) -> None:
    """Under libfaketime: re-run with a real monotonic clock if need be, and sleep relatively."""
    if not under_faketime():
        return
    if os.environ.get(KEEP_MONOTONIC) != "1" and os.environ.get("DONT_FAKE_MONOTONIC") != "1":
        # libfaketime reads its settings when the process starts, so the run starts again.
        capture = config.pluginmanager.getplugin("capturemanager")
        if capture is not None:
            capture.stop_global_capturing()  # hand the real stdout and stderr to the new run
        os.environ[KEEP_MONOTONIC] = "1"
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, sys.orig_argv)  # noqa: S606 - this very command, once more
    time.sleep = relative_sleep
