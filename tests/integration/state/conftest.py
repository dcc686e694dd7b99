"""Makes the spec's examples (spec_examples.py beside this file) importable by the tests of this folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lazy_transcode.state import default_pause_manager

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def fresh_default_pause_manager():
    """The examples use the process-wide pause manager: no request may leak from one test to the next."""
    default_pause_manager().reset()
    default_pause_manager().ask = None
    yield default_pause_manager()
    default_pause_manager().reset()
    default_pause_manager().ask = None
