"""A spending budget the AI stages respect: `Budget` and its `Reservation`s."""

from __future__ import annotations

import math
import threading

from ._exceptions import BudgetExceeded, ConfigurationError

__all__ = ["Budget", "Reservation"]


class Reservation:
    """Money set aside for one stage's provider calls, until `settle` records what they cost."""

    def __init__(self, budget: Budget, amount: float) -> None:
        self._budget = budget
        self.amount = amount
        self._open = True

    def settle(self, actual_usd: float) -> None:
        """Replace the reservation with the actual cost of the calls."""
        self._budget._settle(self, actual_usd)

    def release(self) -> None:
        """Give the reservation back unspent (the calls did not happen)."""
        self._budget._settle(self, 0.0)


class Budget:
    """A pipeline's spending limit, shared by all its videos and stages.

    Each AI stage reserves its estimated cost before its first provider call;
    a reservation that would take spending plus open reservations past
    `limit_usd` raises [`BudgetExceeded`][videopipe.BudgetExceeded] instead.
    After the calls, the reservation is replaced by their actual cost. With
    `limit_usd=None` nothing is limited, but spending is still counted.

    Reserving never awaits, so two stages cannot both pass the check for the
    last dollar; the lock also covers callers on other threads.

    Args:
        limit_usd: The most to spend, in US dollars, or `None` for no limit.

    Note:
        Added in 0.1.0.
    """

    def __init__(self, limit_usd: float | None = None) -> None:
        if limit_usd is not None and (not math.isfinite(limit_usd) or limit_usd < 0):
            raise ConfigurationError(f"budget_usd must be a non-negative number, got {limit_usd}")
        self.limit_usd = limit_usd
        self.spent_usd = 0.0
        self.reserved_usd = 0.0
        self._open = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"Budget(limit_usd={self.limit_usd}, spent_usd={self.spent_usd:.4f}, "
            f"reserved_usd={self.reserved_usd:.4f})"
        )

    @property
    def remaining_usd(self) -> float | None:
        """What is left after spending and open reservations, or `None` without a limit."""
        if self.limit_usd is None:
            return None
        return max(0.0, self.limit_usd - self.spent_usd - self.reserved_usd)

    def reserve(self, amount_usd: float, *, stage: str, video_id: str) -> Reservation:
        """Set `amount_usd` aside for `stage` of `video_id`.

        Raises:
            BudgetExceeded: The reservation would pass the limit.
        """
        amount = max(0.0, amount_usd)
        with self._lock:
            limit = self.limit_usd
            if (
                limit is not None
                and amount > 0
                and self.spent_usd + self.reserved_usd + amount > limit + 1e-12
            ):
                raise BudgetExceeded(
                    f"budget exceeded: stage {stage!r} of video {video_id} needs an estimated "
                    f"${amount:.4f}, but ${self.spent_usd:.4f} is spent and "
                    f"${self.reserved_usd:.4f} reserved of the ${limit:.4f} budget. "
                    "Completed stages are kept: raise the budget (budget_usd=) and run "
                    "the video again to resume where it stopped."
                )
            self.reserved_usd += amount
            self._open += 1
        return Reservation(self, amount)

    def _settle(self, reservation: Reservation, actual_usd: float) -> None:
        with self._lock:
            if not reservation._open:
                return
            reservation._open = False
            self._open -= 1
            # Back to exactly 0 when nothing is open, so float residue never piles up.
            self.reserved_usd = (
                max(0.0, self.reserved_usd - reservation.amount) if self._open else 0.0
            )
            self.spent_usd += max(0.0, actual_usd)
