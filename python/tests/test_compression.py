"""permessage-deflate from Python: ``Client(url, compression="deflate")`` as ``websockets``
spells it, against the fixtures' ``websockets`` server (which accepts it by default)."""

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
