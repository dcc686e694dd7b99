"""How `ltctl status` and `ltctl farm` show the farm: one line per worker, one per refused worker."""

from __future__ import annotations

from typing import Any


def farm_line(farm: dict[str, Any]) -> str:
    """The farm in one line of `ltctl status`: reachable and how big, or why not (jobs then encode here)."""
    where = f"{farm['scheduler']}{'' if farm.get('tls') else ' (no TLS)'}"
    if not farm.get("connected"):
        return f"farm: {where}: {farm.get('error') or 'not connected'}; encoding here meanwhile"
    refused = f", {farm['refused']} refused" if farm.get("refused") else ""
    return f"farm: {where}: {farm['workers']} worker(s), {farm['cores']} core(s){refused}"


def farm_lines(result: dict[str, Any]) -> list[str]:
    if not result.get("configured"):
        return ["no farm configured (set [farm] scheduler in ltd's config)"]
    lines = [farm_line(result)]
    for w in result.get("members", []):
        current = ", ".join(w.get("current") or []) or "idle"
        lines.append(f"  {w['name']}  {w['address']}  cores {w['cores']}  pieces done {w['done']}  now: {current}")
    for r in result.get("refused_workers", []):
        lines.append(f"  refused {r['name']} ({r['address']}): {r['reason']}")
    return lines
