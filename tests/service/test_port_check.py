"""A busy port is refused before any model loads, with one line naming the setting to change."""

import socket
import time

import pytest

from vecclf.service.config import Config
from vecclf.service.serve import check_port
from vecclf.training.errors import ConfigError


@pytest.fixture
def busy_port():
    """Listen on a loopback port for the test; yield its number."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("command", [["serve"], ["quickstart"]])
def test_busy_port_is_one_line_error_at_once(busy_port, cli, store_dir, command):
    """serve and quickstart stop within a second with `port N is in use (set --port or VECCLF_PORT)`, exit 2."""
    started = time.monotonic()
    code, out, err = cli(*command, "--host", "127.0.0.1", "--port", busy_port, "--store", store_dir)
    assert time.monotonic() - started < 1.0
    assert (code, out) == (2, "")
    assert err == f"vecclf: error: port {busy_port} is in use (set --port or VECCLF_PORT)\n"
    assert list(store_dir.iterdir()) == []  # quickstart trained nothing


@pytest.mark.parametrize(
    "host, message",
    [
        ("no-such-host.invalid", "cannot listen on host 'no-such-host.invalid'"),
        ("192.0.2.1", "cannot listen on 192.0.2.1:"),
    ],
)
def test_unusable_addresses_are_refused(host, message):
    """A host that does not resolve, or is not this machine's, is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=message):
        check_port(Config(host=host, port=8123))


def test_a_free_port_passes_and_stays_free():
    """Checking a free port does not keep it: gunicorn can bind it next."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    check_port(Config(host="127.0.0.1", port=port))
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))
