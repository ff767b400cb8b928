"""permessage-deflate from Python: ``Client(url, compression="deflate")`` as ``websockets``
spells it, against the fixtures' ``websockets`` server (which accepts it by default), one
started with ``compression=None`` (which does not), and over TLS; ``Opened.compression`` and
``Stats.compression`` say whether it was negotiated."""

from __future__ import annotations

import json

import pytest

import wsbeat
from wsbeat import BinaryMessage, Client, InvalidArgumentError, Opened, TextMessage

from conftest import TIMEOUT
from test_client import pull_until


def test_compression_option_records_the_c_call():
    calls = dict(wsbeat.Config.from_options(compression="deflate")._calls)
    assert calls["ws_config_set_compression"] == (True, 15, False, 64)
    assert "ws_config_set_compression" not in dict(wsbeat.Config.from_options()._calls)
    calls = dict(wsbeat.Config().compression(None)._calls)
    assert calls["ws_config_set_compression"][0] is False
    with pytest.raises(InvalidArgumentError):
        wsbeat.Config().compression("gzip")


def test_bad_window_bits_are_refused_by_the_library(echo_server):
    with pytest.raises(InvalidArgumentError):
        Client(echo_server.url, wsbeat.Config().compression(window_bits=8))


@pytest.mark.parametrize("takeover", [True, False])
def test_deflate_echo_small_and_1_mib(echo_server, takeover):
    cfg = wsbeat.Config().compression("deflate", no_context_takeover=not takeover)
    text = json.dumps([{"ModeCode": "message", "msg": f"hello world {i}"} for i in range(30000)])
    text = text[: 1 << 20]
    with Client(echo_server.url, cfg) as c:
        pull_until(c, Opened)
        server_side = echo_server.connections.get(timeout=TIMEOUT)
        answer = server_side.response.headers.get("Sec-WebSocket-Extensions", "")
        assert answer.startswith("permessage-deflate"), answer
        assert ("server_no_context_takeover" in answer) == (not takeover), answer
        for _ in range(2):
            c.send("small")
            assert pull_until(c, TextMessage).data == "small"
            c.send(text)
            assert pull_until(c, TextMessage).data == text
            c.send(text.encode())
            assert pull_until(c, BinaryMessage).data == text.encode()
        c.close()


def test_opened_and_stats_say_negotiated(echo_server):
    with Client(echo_server.url, compression="deflate") as c:
        opened = pull_until(c, Opened)
        assert opened.compression is True, opened
        assert "permessage-deflate" in str(opened)
        assert c.stats.compression is True
        c.send("x" * 100)
        assert pull_until(c, TextMessage).data == "x" * 100
        c.close()
    assert c.stats.compression is True  # the last connection's, after close


def test_opened_and_stats_say_not_negotiated(plain_echo_server, echo_server):
    # Offered, refused by the server: plain frames.
    with Client(plain_echo_server.url, compression="deflate") as c:
        opened = pull_until(c, Opened)
        assert opened.compression is False, opened
        assert "permessage-deflate" not in str(opened)
        assert c.stats.compression is False
        c.send("y" * 100)
        assert pull_until(c, TextMessage).data == "y" * 100
        server_side = plain_echo_server.connections.get(timeout=TIMEOUT)
        assert "Sec-WebSocket-Extensions" not in server_side.response.headers
        c.close()
    # Not offered, to a server that would accept it.
    with Client(echo_server.url) as c:
        assert pull_until(c, Opened).compression is False
        assert c.stats.compression is False
        c.close()


def test_deflate_over_tls(tls_server, tls_files):
    # ~700 KB: under the fixture server's 1 MiB max_size (websockets' default).
    big = json.dumps([{"ModeCode": "message", "msg": f"hello world {i}"} for i in range(15000)])
    with Client(tls_server.url, ca_file=str(tls_files / "ca.pem"), compression="deflate") as c:
        assert pull_until(c, Opened).compression is True
        assert c.stats.compression is True
        c.send(big)
        assert pull_until(c, TextMessage).data == big
        c.send(big.encode())
        assert pull_until(c, BinaryMessage).data == big.encode()
        c.close()
