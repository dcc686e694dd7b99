"""Which pieces each of a job's piece encoders ("lanes") takes, so that all of them finish together.

A lane encodes a contiguous run of pieces with one decoder (no seek per piece). An idle lane first
claims its fair share of the pieces nobody has claimed, from the front; once all are claimed it takes
the back half of the not yet started pieces of the lane with the most left (work stealing), so near the
end no lane idles while another still has a long run ahead. The lanes' order of work never changes a
piece's bytes: each piece is encoded alone from its own frames.

Where a run starts, its decoder first decodes from the source keyframe before the run's first frame
(its lead-in) for nothing. Runs are therefore cut, within a little of the fair share or the half, before
the piece with the shortest lead-in: one that starts on a source keyframe costs nothing.
"""

from __future__ import annotations

from collections import deque
from fractions import Fraction

from lazy_transcode.media.pieces import PiecePlan


class Lanes:
    """The pieces left to encode and the runs the lanes hold; one event loop drives it (no locks)."""

    SLACK = 0.15  # a run may be this much of its share shorter or longer, for a cheaper start after it

    def __init__(self, pieces: list[PiecePlan], lanes: int, time_base: Fraction | None = None) -> None:
        if lanes < 1:
            raise ValueError("at least one lane")
        self.count = lanes
        self.time_base = time_base  # of the pieces' start_pts; None: lead-ins unknown, cut at the share
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
        """A started piece that did not come back (a remote worker failed, or a local encoder that is
        tried again another way): it is to do again, first."""
        self.unclaimed.appendleft(plan)

    def open_work(self) -> bool:
        """Whether an idle lane would find a run to claim (unclaimed, or unstarted in another lane)."""
        return bool(self.unclaimed) or any(self.waiting.values())

    def lead_in(self, plan: PiecePlan) -> float:
        """Seconds of source a run starting at `plan` decodes before its first frame."""
        if plan.seek is None or self.time_base is None:
            return 0.0
        return max(0.0, float(plan.start_pts * self.time_base) - plan.seek)

    def _share(self) -> list[PiecePlan]:
        """A fair share of the unclaimed pieces (by frames, among the lanes without a run), from the front,
        ending before the cheapest start for the next run within SLACK of the share."""
        if not self.unclaimed:
            return []
        idle = max(1, self.count - len(self.waiting))
        share = sum(p.frame_count for p in self.unclaimed) / idle
        ends: list[tuple[int, int]] = []  # (pieces, frames) of each possible run from the front
        frames = 0
        for n, plan in enumerate(self.unclaimed):
            if n and plan.index != self.unclaimed[n - 1].index + 1:
                break
            frames += plan.frame_count
            ends.append((n + 1, frames))
            if frames >= share * (1 + self.SLACK):
                break
        best = min(ends, key=lambda e: abs(e[1] - share))  # the fair share itself
        if idle > 1:
            near = [e for e in ends if abs(e[1] - share) <= share * self.SLACK and e[0] < len(self.unclaimed)]
            if near:
                best = min(near, key=lambda e: (self.lead_in(self.unclaimed[e[0]]), abs(e[1] - share)))
        return [self.unclaimed.popleft() for _ in range(best[0])]

    def _steal(self) -> list[PiecePlan]:
        """About the back half of the unstarted pieces of the lane with the most frames still to start,
        from the cheapest start among the middle pieces."""
        victims = [(sum(p.frame_count for p in q), lane) for lane, q in self.waiting.items() if q]
        if not victims:
            return []
        _, victim = max(victims)
        queue = self.waiting[victim]
        half = len(queue) // 2  # the first stolen piece: the victim keeps `half`
        splits = [k for k in (half - 1, half, half + 1) if 0 <= k < len(queue) and (k > 0 or len(queue) == 1)]
        split = min(splits, key=lambda k: (self.lead_in(queue[k]), abs(k - half)))
        taken = [queue.pop() for _ in range(len(queue) - split)]
        return taken[::-1]
