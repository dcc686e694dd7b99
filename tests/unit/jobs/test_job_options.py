"""Job options from untrusted data (msgpack requests, config tables, state files): the verify mode."""

from __future__ import annotations

import pytest

from lazy_transcode.cli import build_parser, options_from_args
from lazy_transcode.jobs.api import JobOptions, OptionError


def test_verify_defaults_to_full_and_accepts_quick() -> None:
    assert JobOptions().verify == "full"
    assert JobOptions.from_dict({"verify": "quick"}).verify == "quick"


@pytest.mark.parametrize(
    ("value", "message"),
    [("fast", "verify must be one of full, quick, not 'fast'"), (True, "wrong type \\(bool\\)"),
     (1, "wrong type \\(int\\)")],
)  # fmt: skip
def test_a_bad_verify_mode_is_one_clear_error(value: object, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        JobOptions.from_dict({"verify": value})


def test_the_program_passes_verify_through() -> None:
    args = build_parser().parse_args(["--verify", "quick", "a.mkv"])
    assert options_from_args(args).verify == "quick"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--verify", "none", "a.mkv"])
