"""Which pieces each of a job's piece encoders ("lanes") takes, so that all of them finish together.

A lane encodes a contiguous run of pieces with one decoder (no seek per piece). An idle lane first
claims its fair share of the pieces nobody has claimed, from the front; once all are claimed it takes
the back half of the not yet started pieces of the lane with the most left (work stealing), so near the
end no lane idles while another still has a long run ahead. The lanes' order of work never changes a
piece's bytes: each piece is encoded alone from its own frames.
"""

from __future__ import annotations

import math
from collections import deque

from lazy_transcode.media.pieces import PiecePlan


class Lanes:
    """The pieces left to encode and the runs the lanes hold; one event loop drives it (no locks)."""

    def __init__(self, pieces: list[PiecePlan], lanes: int) -> None:
        if lanes < 1:
            raise ValueError("at least one lane")
        self.count = lanes
        self.unclaimed: deque[PiecePlan] = deque(sorted(pieces, key=lambda p: p.index))
        self.waiting: dict[int, deque[PiecePlan]] = {}  # per lane: claimed, not started, in order

    def busy(self) -> int:
        """Lanes holding a run (encoding or about to): the cores are shared among them."""
        return len(self.waiting)

    def nothing_left_to_start(self) -> bool:
        """No piece is waiting to be started anywhere: the ones running now are the job's last."""
        return not self.unclaimed and not any(self.waiting.values())

    def claim(self, lane: int) -> list[PiecePlan] | None:
        """The next run for an idle `lane`, or None when no work is left to take."""
        self.waiting.pop(lane, None)
        run = self._share() or self._steal()
        if run:
            self.waiting[lane] = deque(run)
        return run or None

    def start(self, lane: int, plan: PiecePlan) -> bool:
        """Whether `lane` still holds `plan` (then it is started now), or another lane took it."""
        queue = self.waiting.get(lane)
        if not queue or queue[0].index != plan.index:
            return False
        queue.popleft()
        return True

    def release(self, lane: int) -> None:
        """`lane` ended its run: whatever it had not started went to others or stays unclaimed."""
        queue = self.waiting.pop(lane, None)
        if queue:  # a run that failed or stopped early: its pieces are still to do
            self.unclaimed.extendleft(reversed(queue))

    def give_back(self, plan: PiecePlan) -> None:
        """A started piece that did not come back (a remote worker failed): it is to do again, first."""
        self.unclaimed.appendleft(plan)

    def open_work(self) -> bool:
        """Whether an idle lane would find a run to claim (unclaimed, or unstarted in another lane)."""
        return bool(self.unclaimed) or any(self.waiting.values())

    def _share(self) -> list[PiecePlan]:
        """A fair share of the unclaimed pieces (by frames, among the lanes without a run), from the front."""
        if not self.unclaimed:
            return []
        idle = max(1, self.count - len(self.waiting))
        share = sum(p.frame_count for p in self.unclaimed) / idle
        run = [self.unclaimed.popleft()]
        frames = run[0].frame_count
        while self.unclaimed and self.unclaimed[0].index == run[-1].index + 1:
            after = frames + self.unclaimed[0].frame_count
            if abs(after - share) >= abs(frames - share):
                break
            run.append(self.unclaimed.popleft())
            frames = after
        return run

    def _steal(self) -> list[PiecePlan]:
        """The back half of the unstarted pieces of the lane with the most frames still to start."""
        victims = [(sum(p.frame_count for p in q), lane) for lane, q in self.waiting.items() if q]
        if not victims:
            return []
        _, victim = max(victims)
        queue = self.waiting[victim]
        taken = [queue.pop() for _ in range(math.ceil(len(queue) / 2))]
        return taken[::-1]
