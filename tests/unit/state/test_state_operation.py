"""TranscodeOperation and the state record: exact JSON round-trips and validation of untrusted data."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lazy_transcode.state import SCHEMA_VERSION, FutureSchemaError, StateCorruptError, TranscodeOperation
from lazy_transcode.state.schema import TranscodeState
from lazy_transcode.state.store import encode_json

finite = st.floats(allow_nan=False, allow_infinity=False)
text = st.text()  # any unicode, including newlines and lone surrogates (undecodable file names)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)
operations = st.builds(
    TranscodeOperation,
    operation_type=text.filter(bool),
    input_file=text.filter(bool),
    encoder=st.none() | text,
    encoder_type=st.none() | text,
    target_vmaf=st.none() | finite | st.integers(),
    target_qp=st.none() | st.integers(),
    vmaf_tolerance=st.none() | finite,
    preset=st.none() | text,
    samples=st.none() | st.integers(),
    output_dir=st.none() | text,
    replace_original=st.booleans(),
    extra=st.dictionaries(text, json_values, max_size=5),
)


def _types(value: Any) -> Any:
    """Structure with types, so 1 and 1.0 (or True and 1) do not compare equal."""
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return (type(value).__name__, value)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_operation_round_trips_through_json_exactly(op: TranscodeOperation) -> None:
    back = TranscodeOperation.from_dict(json.loads(encode_json(op.to_dict())))
    assert back == op
    assert _types(back.to_dict()) == _types(op.to_dict())


@settings(max_examples=100, deadline=None)
@given(operations, st.dictionaries(text, json_values, max_size=3))
def test_state_round_trip_keeps_unknown_keys(op: TranscodeOperation, unknown: dict[str, Any]) -> None:
    state = TranscodeState(operation=op, checkpoint={"pieces": [1, 2.5, "x"]}, optimization_results={"a": 1})
    data = state.to_dict()
    unknown = {f"future_{k}": v for k, v in unknown.items()}
    data.update(unknown)
    back = TranscodeState.from_dict(json.loads(encode_json(data)))
    assert back.operation == op
    assert back.unknown == unknown
    assert _types(json.loads(encode_json(back.to_dict()))) == _types(json.loads(encode_json(data)))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be an object"),
        ({"input_file": "a"}, "'operation_type' is missing"),
        ({"operation_type": "vbr", "input_file": 3}, "'input_file' has the wrong type (int)"),
        ({"operation_type": "vbr", "input_file": "a", "target_qp": 2.5}, "'target_qp' has the wrong type (float)"),
        ({"operation_type": "vbr", "input_file": "a", "target_qp": True}, "'target_qp' has the wrong type (bool)"),
        ({"operation_type": "vbr", "input_file": "a", "replace_original": 1}, "'replace_original' has the wrong"),
        ({"operation_type": "vbr", "input_file": "a", "bogus": 1}, "unknown operation field 'bogus'"),
        ({"operation_type": "", "input_file": "a"}, "operation_type must not be empty"),
    ],
)
def test_operation_rejects_bad_data(data: Any, message: str) -> None:
    with pytest.raises(StateCorruptError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TranscodeOperation.from_dict(data)


def test_operation_refuses_values_json_cannot_hold() -> None:
    with pytest.raises(ValueError, match="must be a finite number"):
        TranscodeOperation("vbr", "a", target_vmaf=float("nan"))
    with pytest.raises(ValueError, match="JSON cannot hold"):
        TranscodeOperation("vbr", "a", extra={"when": object()})
    with pytest.raises(ValueError, match="non-string key"):
        TranscodeOperation("vbr", "a", extra={1: "x"})


GOOD = {"operation": {"operation_type": "vbr", "input_file": "/v/a.mkv"}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"current_step": 5}, "'current_step' must be a string"),
        ({"steps_completed": "abc"}, "'steps_completed' must be a list of strings"),
        ({"progress_percent": "75"}, "'progress_percent' must be a number"),
        ({"progress_percent": 101}, "'progress_percent' must be a number"),
        ({"completed": "false"}, "'completed' must be true or false"),
        ({"checkpoint": []}, "'checkpoint' must be an object"),
        ({"optimization_results": 3}, "'optimization_results' must be a list or an object"),
        ({"start_time": -1}, "'start_time' must be a non-negative number"),
        ({"schema_version": "1"}, "'schema_version' must be a positive integer"),
        ({"operation": None}, "'operation' must be an object"),
    ],
)
def test_state_rejects_wrongly_typed_fields(change: dict[str, Any], message: str) -> None:
    with pytest.raises(StateCorruptError, match=message):
        TranscodeState.from_dict({**GOOD, **change})


def test_future_schema_is_its_own_error() -> None:
    with pytest.raises(FutureSchemaError, match=f"newer than this lazy-transcode supports \\({SCHEMA_VERSION}\\)"):
        TranscodeState.from_dict({**GOOD, "schema_version": SCHEMA_VERSION + 1})


def test_original_files_without_version_or_new_keys_load() -> None:
    state = TranscodeState.from_dict({**GOOD, "current_step": "x", "start_time": 1693824000.0})
    assert state.schema_version == SCHEMA_VERSION
    assert state.updated_time == 1693824000.0
    assert state.checkpoint == {} and state.completed is False
