"""The envelope: valid requests round-trip; anything hostile becomes a ProtocolError, never a crash."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lazy_transcode import protocol
from lazy_transcode.protocol import ProtocolError


def test_request_round_trip() -> None:
    req = protocol.parse_request(protocol.build_request("abc-1", "list", {"states": ["queued"]}))
    assert (req.id, req.cmd, req.args) == ("abc-1", "list", {"states": ["queued"]})


def test_reply_round_trip() -> None:
    ok = protocol.parse_reply(protocol.build_ok(7, {"pong": True}))
    assert ok.ok and ok.id == 7 and ok.result == {"pong": True}
    err = protocol.parse_reply(protocol.build_error("x", protocol.NOT_FOUND, "no job 3"))
    assert not err.ok and err.code == "not_found" and err.message == "no job 3"


@pytest.mark.parametrize(
    ("payload", "code", "rid"),
    [
        (b"\xc1garbage", protocol.BAD_REQUEST, None),
        (msgpack.packb([1, 2]), protocol.BAD_REQUEST, None),
        (msgpack.packb({"v": 2, "id": 5, "cmd": "ping", "args": {}}), protocol.BAD_VERSION, 5),
        (msgpack.packb({"v": True, "id": 5, "cmd": "ping"}), protocol.BAD_VERSION, 5),
        (msgpack.packb({"v": 1, "id": 1.5, "cmd": "ping"}), protocol.BAD_REQUEST, None),
        (msgpack.packb({"v": 1, "id": "x" * 500, "cmd": "ping"}), protocol.BAD_REQUEST, None),
        (msgpack.packb({"v": 1, "id": 5, "cmd": "rm -rf"}), protocol.UNKNOWN_COMMAND, 5),
        (msgpack.packb({"v": 1, "id": 5, "cmd": 3}), protocol.BAD_REQUEST, 5),
        (msgpack.packb({"v": 1, "id": 5, "cmd": "ping", "args": [1]}), protocol.BAD_ARGS, 5),
        (msgpack.packb({"v": 1, "id": 5, "cmd": "ping", "extra": 1}), protocol.BAD_REQUEST, 5),
        (msgpack.packb({1: 1}), protocol.BAD_REQUEST, None),  # strict_map_key: int keys refused
        (msgpack.packb({"v": 1, "id": 5, "cmd": "ping", "args": {}}) + b"\x00", protocol.BAD_REQUEST, None),
        (msgpack.packb(msgpack.ExtType(5, b"abc")), protocol.BAD_REQUEST, None),
        (b"\x91" * 5000 + b"\x90", protocol.BAD_REQUEST, None),  # nesting far beyond any request
    ],
)
def test_hostile_requests_give_protocol_errors(payload: bytes, code: str, rid: object) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.parse_request(payload)
    assert info.value.code == code
    assert info.value.request_id == rid


def test_oversized_request_refused_before_unpacking() -> None:
    big = msgpack.packb({"v": 1, "id": 1, "cmd": "add", "args": {"paths": ["x" * (2 * 1024 * 1024)]}})
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        protocol.parse_request(big)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_escape_as_other_exceptions(data: bytes) -> None:
    try:
        protocol.parse_request(data)
    except ProtocolError:
        pass


json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["v", "id", "cmd", "args", "zz"]), json_like, max_size=5))
def test_random_maps_never_escape_as_other_exceptions(msg: dict) -> None:
    try:
        req = protocol.parse_request(msgpack.packb(msg, use_bin_type=True))
    except ProtocolError:
        return
    assert req.cmd in protocol.COMMANDS and isinstance(req.args, dict)


def test_take_checks_types_and_defaults() -> None:
    assert protocol.take({"n": 3}, "n", int) == 3
    assert protocol.take({}, "n", int, 9) == 9
    assert protocol.take({"n": None}, "n", int, 9) == 9
    with pytest.raises(ProtocolError, match="wrong type \\(bool\\)"):
        protocol.take({"n": True}, "n", int)
    with pytest.raises(ProtocolError, match="missing argument"):
        protocol.take({}, "n", int)
    with pytest.raises(ProtocolError, match="too long"):
        protocol.take({"s": "x" * 5000}, "s", str)
    assert protocol.take_ids({"ids": [1, 2]}) == [1, 2]
    for bad in ([0], [True], ["1"], [-3]):
        with pytest.raises(ProtocolError):
            protocol.take_ids({"ids": bad})
    with pytest.raises(ProtocolError, match="unknown argument"):
        protocol.reject_unknown({"x": 1}, ("y",))
