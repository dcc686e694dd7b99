"""Lanes whose pieces are encoded elsewhere (a farm), beside the job's own lanes.

A remote lane claims runs from the same `Lanes` as the local ones and hands their pieces, one at a
time, to the farm; each returned piece is checked (decoded in full) and recorded exactly like a local
one. A piece that does not come back goes back to the front of the work, so the local lanes, which
wait while any lane holds a run, encode it. Lanes are added while the farm offers slots, so a farm that
comes back mid-job gets pieces again; pause and stop cancel the remote pieces at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lazy_transcode.control import JobStopped
from lazy_transcode.jobs.lanes import Lanes
from lazy_transcode.jobs.remote import RemoteFailed, RemotePiece, RemotePieces
from lazy_transcode.media.pieces import PiecePlan
from lazy_transcode.state.held import shown

if TYPE_CHECKING:
    from lazy_transcode.jobs.encode import PieceEncoder

log = logging.getLogger(__name__)

REMOTE_TEMP = ".remote-"  # in the name of a piece a remote task is writing (renamed to `.part` when done)
POLL = 0.25  # seconds between looks at pause/stop while a remote piece runs
WATCH = 1.0  # seconds between looks at the farm's slots


class RemoteLanes:
    """The remote lanes of one job's encode, added and ended as the farm's slots come and go."""

    def __init__(self, encoder: PieceEncoder, remote: RemotePieces) -> None:
        self.encoder = encoder
        self.remote = remote
        self.control = encoder.control

    async def run(self, lanes: Lanes, first_lane: int, group: asyncio.TaskGroup) -> None:
        """Keep one remote lane per farm slot until every piece is done; with no local lane (local_pieces
        = 0) and no farm, encode here in one lane (in `group`, the lanes' group, where it defers checks)."""
        tasks: dict[int, asyncio.Task[None]] = {}
        next_lane = first_lane
        try:
            while True:
                for lane, task in list(tasks.items()):
                    if task.done():
                        del tasks[lane]
                        task.result()
                if not lanes.open_work() and lanes.busy() == 0 and not tasks:
                    return
                self.control.check_stop()
                remote_lanes = sum(1 for n in tasks if n not in self.encoder._local_ids)
                if not self.encoder._local_ids and not self.remote.slots() and not tasks and lanes.open_work():
                    self.encoder._local_ids.add(next_lane)  # no lane of our own and no farm: one here
                    tasks[next_lane] = asyncio.ensure_future(self.encoder._lane(lanes, next_lane, group))
                    next_lane += 1
                while not self.control.paused and remote_lanes < self.remote.slots() and lanes.open_work():
                    tasks[next_lane] = asyncio.ensure_future(self._lane(lanes, next_lane))
                    next_lane += 1
                    remote_lanes += 1
                lanes.count = max(1, len(self.encoder._local_ids) + remote_lanes)
                await asyncio.wait([*tasks.values(), asyncio.ensure_future(asyncio.sleep(WATCH))],
                                   return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            for task in tasks.values():
                task.cancel()
            for task in tasks.values():
                with contextlib.suppress(BaseException):
                    await task

    async def _lane(self, lanes: Lanes, lane: int) -> None:
        """One remote lane: claim runs and send their pieces until the farm fails it or no work is left."""
        try:
            while not self.control.paused and not self.control.stop_requested:
                if (run := lanes.claim(lane)) is None:
                    return
                for plan in run:
                    if not lanes.start(lane, plan):
                        break
                    if not await self._piece(plan):
                        lanes.give_back(plan)
                        return
        finally:
            lanes.release(lane)
            self.encoder._lanes_changed.set()

    async def _piece(self, plan: PiecePlan) -> bool:
        """Encode `plan` remotely, then check and record it; False if it must be encoded again."""
        enc = self.encoder
        piece = RemotePiece(
            source=enc.source, part=Path(shown(enc._part_path(plan.index))), info=enc.info,
            time_base=enc.rec.time_base, plan=plan, args=enc.remote_args(), encoder=enc.profile.name,
            timing=enc.rec.timing(),
        )  # fmt: skip
        enc._in_flight[plan.index] = 0
        task = asyncio.ensure_future(self.remote.encode(piece))
        try:
            while not task.done():
                await asyncio.wait([task], timeout=POLL)
                if not task.done() and (self.control.paused or self.control.stop_requested):
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
                    if self.control.stop_requested:
                        raise JobStopped("stopped")
                    return False
            try:
                receipt = task.result()
            except RemoteFailed as exc:
                log.info("%s: piece %d came not back from the farm (%s); encoding it elsewhere",
                         enc.source.name, plan.index, exc)  # fmt: skip
                return False
        finally:
            if not task.done():
                task.cancel()
            enc._in_flight.pop(plan.index, None)
        enc._fresh_frames += plan.frame_count
        reason = await enc._accept_piece(plan, decode=True)
        self.remote.checked(receipt, reason)
        return reason is None
