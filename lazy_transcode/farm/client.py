"""ltd's side of the farm: one Dask client on ltd's loop, the workers it accepts, and remote pieces.

The client reconnects for as long as ltd runs; while the scheduler is unreachable `slots()` is 0, so
jobs encode every piece here, and `status()` says why. A worker joins only if ltworker started it with
ltd's own lazy-transcode version and ffmpeg build and it can read the library; a worker that fails the
same piece twice, or cannot read a job's files, is refused from then on. Each refusal is one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lazy_transcode.farm.build import ffmpeg_build
from lazy_transcode.farm.config import FarmConfig
from lazy_transcode.farm.task import encode_piece, worker_report
from lazy_transcode.jobs.remote import RemoteFailed, RemotePiece
from lazy_transcode.media.binary import ffmpeg_exe

log = logging.getLogger(__name__)

RETRY = 2.0  # seconds between connection attempts
CONNECT_TIMEOUT = 5.0
POLL = 1.0  # seconds between looks at the scheduler's workers
LOST_AFTER = 3.0  # seconds a disconnected client may take to come back before its pieces go elsewhere
FAILURES = 2  # failures of one piece that take a worker out
_KEY = re.compile(r"^piece-(.*)-(\d+)-[0-9a-f]+$")


@dataclass
class Worker:
    name: str
    address: str
    cores: int
    done: int = 0
    current: list[str] = field(default_factory=list)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


class FarmClient:
    """The farm as ltd's jobs use it (`RemotePieces`) and as `ltctl farm` shows it."""

    def __init__(self, cfg: FarmConfig, ffmpeg: str | None, roots: list[Path]) -> None:
        self.cfg = cfg
        self.local_pieces = cfg.local_pieces
        self.ffmpeg = ffmpeg
        self.roots = roots
        self.build: dict[str, str] | None = None
        self.client: Any = None
        self.error: str | None = "connecting"
        self.workers: dict[str, Worker] = {}  # accepted, by address
        self.refused: dict[str, tuple[str, str]] = {}  # by name: (address, why)
        self._failures: Counter[tuple[str, str, int]] = Counter()  # (worker name, source, piece)
        self._done_by_name: Counter[str] = Counter()
        self._checked: set[str] = set()  # addresses already accepted or refused

    # --- the connection ----------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, watch the workers, and reconnect whenever the scheduler goes away, until cancelled."""
        if self.cfg.insecure and not self.cfg.tls:
            log.warning("FARM WITHOUT TLS (insecure = true): anyone who reaches %s can run code as ltd's workers "
                        "and read what they encode", self.cfg.scheduler)  # fmt: skip
        self.build = await asyncio.to_thread(ffmpeg_build, ffmpeg_exe(self.ffmpeg))
        while True:
            try:
                await self._connect()
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.error is None:
                    log.warning("farm: lost the scheduler %s (%s); encoding here until it is back",
                                self.cfg.scheduler, _one_line(exc))  # fmt: skip
                self.error = f"scheduler unreachable: {_one_line(exc)}"
            await self._drop()
            await asyncio.sleep(RETRY)

    async def close(self) -> None:
        await self._drop()

    async def _connect(self) -> None:
        from distributed import Client
        from distributed.security import Security

        security = None
        if self.cfg.tls:
            security = Security(tls_ca_file=self.cfg.tls_ca_file, tls_client_cert=self.cfg.tls_cert,
                                tls_client_key=self.cfg.tls_key, require_encryption=True)  # fmt: skip
        self.client = await Client(
            self.cfg.scheduler, asynchronous=True, security=security, timeout=CONNECT_TIMEOUT, name="ltd",
            set_as_default=False, direct_to_workers=False,
        )  # fmt: skip
        self.error = None
        log.info("farm: connected to %s", self.cfg.scheduler)

    async def _drop(self) -> None:
        client, self.client = self.client, None
        self.workers.clear()
        self._checked.clear()
        if client is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(client.close(timeout=2), 3)

    async def _watch(self) -> None:
        client = self.client
        lost = 0.0
        while True:
            if client.status != "running":
                lost += POLL
                if lost >= LOST_AFTER:
                    raise ConnectionError(f"connection {client.status}")
                await asyncio.sleep(POLL)
                continue
            lost = 0.0
            info = await asyncio.wait_for(client.scheduler.identity(n_workers=-1), 10)
            present = info.get("workers", {})
            for address in list(self.workers):
                if address not in present:
                    log.info("farm: worker %s left", self.workers.pop(address).name)
            self._checked &= set(present)
            for address, meta in present.items():
                if address not in self._checked:
                    self._checked.add(address)
                    await self._check(address, meta)
            processing = await asyncio.wait_for(client.processing(), 10)
            for address, worker in self.workers.items():
                worker.current = [self._shown_key(k) for k in processing.get(address, ())]
            await asyncio.sleep(POLL)

    @staticmethod
    def _shown_key(key: Any) -> str:
        match = _KEY.match(str(key))
        return f"{match[1]} piece {int(match[2])}" if match else str(key)

    # --- admission ---------------------------------------------------------------------------
    def _library_paths(self) -> list[str]:
        paths = {self.cfg.path_map.to_worker(root) for root in self.roots}
        paths.update(worker for _local, worker in self.cfg.path_map.pairs)
        return sorted(paths)

    async def _check(self, address: str, meta: dict[str, Any]) -> None:
        name = str(meta.get("name") or address)
        if name in self.refused:
            self.refused[name] = (address, self.refused[name][1])
            return
        cores = int(meta.get("resources", {}).get("piece", 0))
        try:
            replies = await asyncio.wait_for(
                self.client.run(worker_report, self._library_paths(), workers=[address]), 15
            )
            report = replies[address]
        except Exception as exc:
            return self._refuse(name, address, f"did not answer the check ({_one_line(exc)})")
        why = self._mismatch(report, cores)
        if why:
            return self._refuse(name, address, why)
        self.workers[address] = Worker(name=name, address=address, cores=cores, done=self._done_by_name[name])
        log.info("farm: worker %s (%s) joined with %d core(s)", name, address, cores)

    def _mismatch(self, report: dict[str, Any], cores: int) -> str | None:
        from lazy_transcode import __version__

        checks = report.get("checks")
        if checks is None:
            return "not started by ltworker (no piece checks)"
        if checks.get("version") != __version__:
            return f"lazy-transcode {checks.get('version')}, ltd runs {__version__}"
        theirs, ours = checks.get("build", {}), self.build or {}
        if theirs.get("version") != ours.get("version"):
            return f"another ffmpeg build: {theirs.get('version')!r}, ltd has {ours.get('version')!r}"
        if theirs.get("encoders") != ours.get("encoders"):
            return f"its ffmpeg has other encoders ({theirs.get('count')}, ltd's has {ours.get('count')})"
        if report.get("unreadable"):
            return f"cannot read {', '.join(report['unreadable'])}"
        if cores < 1:
            return "offers no piece resource (start it with ltworker)"
        return None

    def _refuse(self, name: str, address: str, why: str) -> None:
        self.refused[name] = (address, why)
        self.workers.pop(address, None)
        log.warning("farm: worker %s (%s) refused: %s", name, address, why)

    # --- remote pieces (RemotePieces) --------------------------------------------------------
    def slots(self) -> int:
        if self.client is None or self.error is not None:
            return 0
        return sum(w.cores for w in self.workers.values())

    async def encode(self, piece: RemotePiece) -> dict[str, Any]:
        client = self.client
        allowed = list(self.workers)
        if client is None or not allowed:
            raise RemoteFailed("no worker in the farm")
        to_worker = self.cfg.path_map.to_worker
        spec = {
            "source": to_worker(piece.source), "part": to_worker(piece.part), "info": piece.info,
            "time_base": piece.time_base, "plan": piece.plan, "args": piece.args,
            "timing": piece.timing,
        }  # fmt: skip
        stem = re.sub(r"[^A-Za-z0-9._]+", "_", piece.source.name)[:80]
        key = f"piece-{stem}-{piece.plan.index}-{secrets.token_hex(6)}"
        future = client.submit(encode_piece, spec, key=key, resources={"piece": 1}, workers=allowed,
                               allow_other_workers=False, pure=False)  # fmt: skip

        async def result() -> Any:
            return await future

        waiting = asyncio.ensure_future(result())
        try:
            while not waiting.done():
                await asyncio.wait([waiting], timeout=POLL)
                if self.client is not client:
                    raise RemoteFailed("the scheduler went away")
                if not waiting.done() and not any(address in self.workers for address in allowed):
                    # The task may run on these workers only: gone (a worker that restarts comes back
                    # under another address), it would wait for them forever.
                    with contextlib.suppress(BaseException):
                        await asyncio.wait_for(client.cancel([future], reason="its workers left the farm"), 5)
                    raise RemoteFailed("the workers it was sent to left the farm")
            outcome = waiting.result()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(client.cancel([future], reason="ltd paused or stopped the job"), 5)
                raise
            raise RemoteFailed("the task was cancelled by the scheduler") from None
        except RemoteFailed:
            raise
        except Exception as exc:  # KilledWorker, a lost connection...
            raise RemoteFailed(_one_line(exc)) from None
        finally:
            waiting.cancel()
        outcome["source"] = str(piece.source)
        if not outcome.get("ok"):
            self._failed(outcome, outcome.get("error", "failed"))
            raise RemoteFailed(f"worker {self._name(outcome['worker'])}: {outcome.get('error')}")
        if outcome.get("build") != self.build:
            self._refuse(self._name(outcome["worker"]), outcome["worker"], "its ffmpeg build changed")
            raise RemoteFailed("the piece came from another ffmpeg build")
        return outcome

    def checked(self, receipt: Any, refused: str | None) -> None:
        if refused is not None:
            self._failed(receipt, f"its piece was refused: {refused}")
            return
        name = self._name(receipt["worker"])
        self._done_by_name[name] += 1
        if receipt["worker"] in self.workers:
            self.workers[receipt["worker"]].done += 1

    def _name(self, address: str) -> str:
        worker = self.workers.get(address)
        return worker.name if worker is not None else address

    def _failed(self, outcome: dict[str, Any], why: str) -> None:
        address = outcome["worker"]
        name = self._name(address)
        if why == "cancelled":
            return
        if outcome.get("path"):
            return self._refuse(name, address, why)
        key = (name, outcome["source"], int(outcome["piece"]))
        self._failures[key] += 1
        if self._failures[key] >= FAILURES:
            self._refuse(name, address, f"failed piece {key[2]} of {Path(key[1]).name} twice: {why}")

    # --- what ltctl shows --------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """For `ltctl status`: reachable or why not, and the farm's size."""
        connected = self.client is not None and not self.error
        return {
            "scheduler": self.cfg.scheduler, "tls": self.cfg.tls, "connected": connected, "error": self.error,
            "workers": len(self.workers), "cores": self.slots(), "refused": len(self.refused),
        }  # fmt: skip

    def status(self) -> dict[str, Any]:
        """For `ltctl farm`: every worker with its cores, pieces done and current pieces; the refused."""
        return {
            **self.summary(),
            "build": (self.build or {}).get("version"),
            "members": [vars(w).copy() for w in sorted(self.workers.values(), key=lambda w: w.name)],
            "refused_workers": [{"name": n, "address": a, "reason": r} for n, (a, r) in sorted(self.refused.items())],
        }
