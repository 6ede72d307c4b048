"""The `connector` command as a child process of a test."""

from __future__ import annotations

import errno
import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

CONNECTOR = str(Path(sys.executable).parent / "connector")


def run_connector(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run `connector ARGS…` to its end with `env`, its output captured as text."""
    return subprocess.run(  # noqa: S603 - the project's own command
        [CONNECTOR, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_connector_on_terminal(
    *args: str,
    env: dict[str, str],
    cwd: Path,
    rows: int = 60,
    columns: int = 100,
    timeout: float = 300,
) -> tuple[int, str]:
    """Run `connector ARGS…` on a pseudo-terminal of `rows` by `columns`; its exit code and output.

    Standard input, output and error are the terminal, as when a person types the command. A
    child still running after `timeout` seconds is killed and the test fails.
    """
    controller, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    child = subprocess.Popen(  # noqa: S603 - the project's own command
        [CONNECTOR, *args],
        env=env,
        cwd=cwd,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([controller], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError as exc:  # EIO: every holder of the terminal closed it
                if exc.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            output += chunk
        else:
            raise AssertionError(f"connector {' '.join(args)} still running after {timeout} s")
        code = child.wait(timeout=timeout)
    finally:
        os.close(controller)
        if child.poll() is None:
            child.kill()
            child.wait()
    return code, output.decode("utf-8", errors="replace")


def screen_lines(output: str) -> list[str]:
    """What a terminal shows of `output`: one entry a line, as its last redraw left it."""
    lines = output.replace("\r\n", "\n").split("\n")
    if lines and not lines[-1]:
        lines.pop()
    return [next((part for part in reversed(line.split("\r")) if part), "") for line in lines]
