"""Settings, results, history and statistics as words for people (`status JOB`, `history`, `stats`).

The daemon sends data (`--json` prints it as it is); what a person reads is made here: `encoder libx265`,
`quality 30 (CRF/QP)`, `12.3 MiB -> 4.1 MiB (67% saved)`, never a Python repr.
"""

from __future__ import annotations

import time
from typing import Any


def size(n: int | float | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""  # pragma: no cover


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def yes_no(value: Any) -> str:
    return "yes" if value else "no"


def setting(quality: int | None, bitrate: int | None) -> str:
    if quality is not None:
        return f"quality {quality} (CRF/QP)"
    if bitrate is not None:
        return f"{bitrate} kbit/s"
    return ""


def describe_settings(options: dict[str, Any]) -> str:
    """A job's options in words: `mode qp, quality 30 (CRF/QP), encoder libx265, preset ultrafast, ...`."""
    parts = [f"mode {options.get('mode', '?')}"]
    if options.get("qp") is not None:
        parts.append(f"quality {options['qp']} (fixed CRF/QP, no search)")
    else:
        tol = options.get("vmaf_tol")
        parts.append(f"VMAF target {options.get('vmaf_target', 95):g}" + (f" (+{tol:g})" if tol is not None else ""))
        if options.get("samples") is not None:
            parts.append(f"{options['samples']} sample clips")
    parts.append(f"encoder {options.get('encoder', '?')}")
    parts.append(f"preset {options['preset']}" if options.get("preset") else "the encoder's default preset")
    parts.append(f"container {options.get('container', 'mkv')}")
    parts.append(f"verify {options.get('verify', 'full')}")
    if options.get("replace"):
        parts.append("replaces the source once verified")
    else:
        parts.append(f"output in {options['output_dir']}" if options.get("output_dir") else "output beside the source")
    parts.append(f"force {yes_no(options.get('force'))}")
    if options.get("piece_seconds") is not None:
        parts.append(f"pieces of {options['piece_seconds']:g} s")
    if options.get("min_saving") is not None:
        parts.append(f"keeps an output only if it saves {100 * options['min_saving']:g}% or more")
    return ", ".join(parts)


def describe_result(result: dict[str, Any]) -> str:
    """How a job ended in words: `completed -> OUT; 12.3 MiB -> 4.1 MiB (67% saved); quality 30; VMAF 95.2`."""
    status = str(result.get("status", "?"))
    parts = [status + (f" -> {result['output_file']}" if result.get("output_file") else "")]
    if result.get("reason"):
        parts[0] += f": {result['reason']}"
    src, out = result.get("source_size"), result.get("output_size")
    if src and out is not None:
        parts.append(f"{size(src)} -> {size(out)} ({100 * (1 - out / src):.0f}% saved)")
    elif src:
        parts.append(f"source {size(src)}")
    chosen = result.get("setting") or {}
    words = setting(chosen.get("quality"), chosen.get("bitrate_kbps"))
    if words:
        parts.append(words)
    if result.get("vmaf") is not None:
        parts.append(f"VMAF {result['vmaf']:.2f}")
    return "; ".join(parts)


def _saved(row: dict[str, Any]) -> str:
    src, out = row.get("source_size"), row.get("output_size")
    if not src or out is None:
        return ""
    return f"{100 * (1 - out / src):.0f}%"


def history_rows(jobs: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """The rows of `ltctl history` (see its headers)."""
    rows = []
    for job in jobs:
        finished = time.strftime("%Y-%m-%d %H:%M", time.localtime(job["finished"]))
        vmaf = f"{job['vmaf']:.1f}" if job.get("vmaf") is not None else ""
        reason = " ".join(str(job.get("reason") or "").split())
        rows.append(
            (
                str(job["job_id"]),
                str(job["state"]),
                finished,
                size(job.get("source_size")),
                size(job.get("output_size")),
                _saved(job),
                setting(job.get("quality"), job.get("bitrate_kbps")),
                vmaf,
                duration(job.get("wall_seconds")),
                reason if len(reason) <= 40 else reason[:39] + "…",
                job["source"],
            )
        )
    return rows


def _total_lines(total: dict[str, Any], indent: str = "") -> list[str]:
    others = [f"{total[k]} {k}" for k in ("skipped", "failed", "cancelled") if total.get(k)]
    percent = f" ({total['saved_percent']:.1f}%)" if total.get("saved_percent") is not None else ""
    cpu = f", {duration(total['cpu_seconds'])} of ffmpeg CPU" if total.get("cpu_seconds") else ""
    return [
        f"{indent}files done: {total['files']}" + (f" ({', '.join(others)})" if others else ""),
        f"{indent}bytes in: {size(total['bytes_in'])}, bytes out: {size(total['bytes_out'])},"
        f" saved: {size(total['saved'])}{percent}",
        f"{indent}time spent: {duration(total['wall_seconds'])}{cpu}",
    ]


def stats_lines(result: dict[str, Any]) -> list[str]:
    """`ltctl stats`: the totals, then each library's."""
    since = result.get("since")
    head = f"since {time.strftime('%Y-%m-%d %H:%M', time.localtime(since))}" if since else "all time"
    lines = [f"{head}:", *_total_lines(result["total"], "  ")]
    for library in result.get("libraries", []):
        name = library["library"]
        lines.append(f"library {name}:" if name else "outside every library:")
        lines.extend(_total_lines(library, "  "))
    return lines
