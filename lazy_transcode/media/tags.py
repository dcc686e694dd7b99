"""The container tag that marks lazy-transcode's outputs, and reading it back.

Every output carries `LAZY_TRANSCODE_SOURCE=<id of its source's content>` (a global Matroska tag, or an
MP4 metadata item). A file with it is an output: it is never queued as a source, even after the
records beside the media are gone, and a file at an output's destination is "this job's earlier
output" only when it names the same source.
"""

from __future__ import annotations

from pathlib import Path

OUTPUT_TAG = "LAZY_TRANSCODE_SOURCE"


def output_source_id(path: Path) -> str | None:
    """The source id an output names, None for any other file (or one that cannot be read)."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            value = container.metadata.get(OUTPUT_TAG)
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, str) and value else None
