"""Ports for test and demo servers come from outside the range outgoing connections use."""

from __future__ import annotations

import socket
from pathlib import Path

from connector.sandbox.app import _ephemeral_ports, free_port


def test_a_free_port_is_below_the_ephemeral_range_and_can_be_bound() -> None:
    """No outgoing connection can take it between choosing and binding."""
    port = free_port()
    assert 1024 <= port < _ephemeral_ports()[0]
    with socket.create_server(("127.0.0.1", port)):
        pass


def test_the_ephemeral_range_is_read_from_the_kernel_or_defaults(tmp_path: Path) -> None:
    """Linux's setting when it can be read, Linux's default otherwise."""
    setting = tmp_path / "ip_local_port_range"
    setting.write_text("40000\t50000\n")
    assert _ephemeral_ports(setting) == (40000, 50000)
    assert _ephemeral_ports(tmp_path / "missing") == (32768, 60999)
    setting.write_text("garbage")
    assert _ephemeral_ports(setting) == (32768, 60999)
