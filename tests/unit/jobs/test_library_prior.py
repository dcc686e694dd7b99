"""The records beside a file teach its search; anything that is not a record of a finished search is skipped."""

from __future__ import annotations

import json
import os
from pathlib import Path

from lazy_transcode.jobs.library import MAX_RECORD_BYTES, taught_by_folder

BEST = {
    "setting": {"quality": 21}, "probes": 2, "vmaf": 93.4,
    "taught": {"encoder": "libx265", "preset": "ultrafast", "kind": "quality", "size_class": -5,
               "points": [[20, 92.6], [21, 93.4]]},
}  # fmt: skip


def test_finished_records_teach_and_junk_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "a.mkv_qp.state.json").write_text(json.dumps({"best_result": BEST}))
    (tmp_path / "own.mkv_qp.state.json").write_text(json.dumps({"best_result": BEST}))
    (tmp_path / "old.mkv_qp.state.json").write_text(json.dumps({"best_result": {**BEST, "taught": None}}))
    (tmp_path / "bad.mkv_qp.state.json").write_text(json.dumps({"best_result": {**BEST, "taught": {"points": 3}}}))
    (tmp_path / "list.mkv_qp.state.json").write_text("[1, 2]")
    (tmp_path / "text.mkv_qp.state.json").write_text("not json")
    (tmp_path / "big.mkv_qp.state.json").write_text(json.dumps({"best_result": BEST, "x": "y" * MAX_RECORD_BYTES}))
    os.mkfifo(tmp_path / "fifo.mkv_qp.state.json")
    os.symlink(tmp_path / "a.mkv_qp.state.json", tmp_path / "link.mkv_qp.state.json")
    taught = taught_by_folder(tmp_path, "own.mkv_qp.state.json")
    assert len(taught) == 1
    assert taught[0].points == ((20.0, 92.6), (21.0, 93.4)) and taught[0].size_class == -5
