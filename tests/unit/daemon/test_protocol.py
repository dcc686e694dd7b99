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


def test_check_args_fills_defaults_and_checks_types() -> None:
    assert protocol.check_args("status", {}) == {"id": None}
    assert protocol.check_args("status", {"id": None}) == {"id": None}
    assert protocol.check_args("pause", {"all": True}) == {"ids": [], "all": True, "after_current": False}
    assert protocol.check_args("resume", {"ids": [2], "now": True}) == {"ids": [2], "all": False, "now": True}
    assert protocol.check_args("add", {"paths": ["/a"]}) == {
        "paths": ["/a"], "options": {}, "paused": False, "priority": 0, "restart": False, "again": False
    }  # fmt: skip
    assert protocol.check_args("add", {"paths": ["/a"], "options": {"vmaf-target": 90}})["options"] == {
        "vmaf_target": 90.0
    }
    assert protocol.check_args("ping", {}) == {}
    cases = [
        ("status", {"id": True}, "wrong type \\(bool\\)"),
        ("status", {"id": "3"}, "wrong type \\(str\\)"),
        ("add", {}, "missing argument 'paths'"),
        ("add", {"paths": []}, "give at least one path"),
        ("add", {"paths": [""]}, "paths must hold non-empty strings"),
        ("add", {"paths": ["/a\0b"]}, "paths must hold non-empty strings"),
        ("add", {"paths": ["/" + "x" * 5000]}, "paths must hold non-empty strings"),
        ("add", {"paths": ["/a"], "options": {"qp": "9"}}, "job option 'qp' has the wrong type \\(str\\)"),
        ("add", {"paths": ["/a"], "options": {"qp": 300}}, "qp must be in \\[0, 255\\], not 300"),
        ("add", {"paths": ["/a"], "options": {"colour": 1}}, "unknown job option 'colour'"),
        ("list", {"states": "queued"}, "wrong type \\(str\\)"),
        ("list", {"states": ["queued"] * 17}, "too long"),
        ("pause", {}, "give job ids or all"),
        ("pause", {"ids": [1], "all": 1}, "wrong type \\(int\\)"),
        ("cancel", {}, "give job ids"),
        ("ping", {"x": 1}, "unknown argument 'x'"),
    ]
    for cmd, args, message in cases:
        with pytest.raises(ProtocolError, match=message) as info:
            protocol.check_args(cmd, args)
        assert info.value.code == protocol.BAD_ARGS, (cmd, args)


@pytest.mark.parametrize(
    ("cmd", "args"),
    [
        ("status", {"id": 2**63}),
        ("status", {"id": 2**64 - 1}),
        ("status", {"id": 0}),
        ("cancel", {"ids": [2**63]}),
        ("cancel", {"ids": [-(2**63)]}),
        ("pause", {"ids": [1, 2**63]}),
        ("resume", {"ids": [0]}),
        ("add", {"paths": ["/a"], "priority": 1001}),
        ("add", {"paths": ["/a"], "priority": -1001}),
        ("add", {"paths": ["/a"], "priority": 2**64 - 1}),
    ],
)
def test_wire_integers_out_of_range_are_bad_args(cmd: str, args: dict) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.parse_request(msgpack.packb({"v": 1, "id": 7, "cmd": cmd, "args": args}))
    assert (info.value.code, info.value.request_id) == (protocol.BAD_ARGS, 7)
    assert "must be in" in info.value.message or "must hold integers in" in info.value.message


def test_the_bounds_are_inclusive() -> None:
    assert protocol.check_args("status", {"id": 2**63 - 1})["id"] == 2**63 - 1
    assert protocol.check_args("cancel", {"ids": [1, 2**63 - 1]})["ids"] == [1, 2**63 - 1]
    for priority in (-1000, 1000):
        assert protocol.check_args("add", {"paths": ["/a"], "priority": priority})["priority"] == priority


def test_build_command_checks_and_sends_the_args_as_given() -> None:
    req = protocol.parse_request(protocol.build_command("c-1", "add", {"paths": ["/a"], "options": {"qp": 20}}))
    assert req.args["options"] == {"qp": 20} and req.args["priority"] == 0
    raw = msgpack.unpackb(protocol.build_command("c-2", "add", {"paths": ["/a"]}))
    assert raw["args"] == {"paths": ["/a"]}  # no defaults on the wire: the daemon's own apply
    for cmd, args, code in [
        ("cancel", {"ids": [0]}, protocol.BAD_ARGS),
        ("add", {"paths": ["/a"], "options": {"mode": "fast"}}, protocol.BAD_ARGS),
        ("frobnicate", {}, protocol.UNKNOWN_COMMAND),
    ]:
        with pytest.raises(ProtocolError) as info:
            protocol.build_command("c-3", cmd, args)
        assert info.value.code == code


def test_every_command_has_a_handler() -> None:
    from lazy_transcode.daemon.handlers import HANDLERS

    assert tuple(HANDLERS) == protocol.COMMANDS
    with pytest.raises(ProtocolError, match="unknown argument"):
        protocol.reject_unknown({"x": 1}, ("y",))
