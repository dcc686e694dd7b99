"""A source is done when an output naming its content is where its job would put it, even once the records
beside the media are gone (`ltctl cleanup`): a library never encodes a file again because its small record
was cleaned up. Outputs name their source by `LAZY_TRANSCODE_SOURCE` (`media.tags`).
"""

from __future__ import annotations

import glob
from pathlib import Path

from lazy_transcode.jobs.api import JobOptions
from lazy_transcode.jobs.preflight import destination_folder
from lazy_transcode.media.fingerprint import identify
from lazy_transcode.media.tags import output_source_id
from lazy_transcode.options import CONTAINERS


def output_of(source: Path, options: JobOptions) -> Path | None:
    """An output of `source`'s content where a job with `options` writes (`{stem}_*.mkv` and the like)."""
    folder = destination_folder(source, options)
    pattern = f"{glob.escape(source.stem)}_*"
    candidates = [
        path
        for path in sorted(folder.glob(pattern))
        if path.suffix.lstrip(".") in CONTAINERS and path != source and path.is_file() and not path.is_symlink()
    ]
    if not candidates:
        return None
    try:
        content = identify(source).id
    except OSError:
        return None
    return next((path for path in candidates if output_source_id(path) == content), None)
