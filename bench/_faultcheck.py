"""What a fault-harness run found: copies per reader against what the report says.

The truth is what the provider actually released (``SendGridTestServer.
delivered_recipients``: held and discarded mail does not count) or, for the outbox,
the message files on disk. A report is *truthful* when the edition is in a final
state that matches its counts (``report.final_state``), every reader counted as sent
(accepted or later) was released and every reader released is counted as sent, and
no reader is left in a state that is neither sent nor failed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bench._stack import FINAL
from newsletter.delivery.models import FAILED_STATES, SENT_STATES
from newsletter.delivery.report import DeliveryReport, final_state

_SENT = frozenset(state.value for state in SENT_STATES)
_FAILED = frozenset(state.value for state in FAILED_STATES)


@dataclass(frozen=True)
class Outcome:
    """One run's figures and whether its report told the truth (with why not)."""

    readers: int
    delivered: int
    duplicates: int
    lost: int
    truthful: bool
    state: str
    by_state: dict[str, int]
    problems: tuple[str, ...] = ()
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """The target: no duplicate, no loss, a truthful report."""
        return self.duplicates == 0 and self.lost == 0 and self.truthful

    def line(self) -> str:
        """One line of figures."""
        truth = "truthful" if self.truthful else "NOT truthful"
        states = ", ".join(f"{name} {count:,}" for name, count in sorted(self.by_state.items()))
        return (
            f"{self.readers:,} readers, delivered {self.delivered:,}, duplicates "
            f"{self.duplicates:,}, lost {self.lost:,}; report {truth} "
            f"(state {self.state}; {states})"
        )


def judge(
    readers: Mapping[str, str],
    copies: Mapping[str, int],
    report: DeliveryReport,
    *,
    notes: dict[str, Any] | None = None,
    problems: list[str] | None = None,
) -> Outcome:
    """Compare each reader's delivery state (address → state) with the copies released."""
    problems = list(problems or [])
    released = Counter({address: n for address, n in copies.items() if n > 0})
    duplicates = sum(n - 1 for n in released.values() if n > 1)
    lost = sum(1 for address in readers if address not in released)
    strangers = [address for address in released if address not in readers]
    said_sent_not_released = [a for a, s in readers.items() if s in _SENT and a not in released]
    released_not_said_sent = [a for a, s in readers.items() if a in released and s not in _SENT]
    open_states = Counter(s for s in readers.values() if s not in _SENT | _FAILED)
    if said_sent_not_released:
        problems.append(
            f"{len(said_sent_not_released)} reader(s) reported sent but never released, "
            f"e.g. {said_sent_not_released[0]}"
        )
    if released_not_said_sent:
        example = released_not_said_sent[0]
        problems.append(
            f"{len(released_not_said_sent)} reader(s) released but reported "
            f"{Counter(readers[a] for a in released_not_said_sent).most_common()}, e.g. {example}"
        )
    if open_states:
        problems.append(f"readers left in open states: {dict(open_states)}")
    if strangers:
        problems.append(f"{len(strangers)} address(es) released that are not readers")
    expected = final_state(report.sent, report.failed)
    if report.state not in {state.value for state in FINAL}:
        problems.append(f"the edition is still {report.state}")
    elif report.state != expected.value:
        problems.append(f"state {report.state} but counts say {expected.value}")
    if report.sent != len([a for a in readers if a in released]):
        problems.append(
            f"report counts {report.sent} sent, the provider released to {len(released)}"
        )
    return Outcome(
        readers=len(readers),
        delivered=len(released),
        duplicates=duplicates,
        lost=lost,
        truthful=not problems,
        state=report.state,
        by_state=dict(report.by_state),
        problems=tuple(problems),
        notes=dict(notes or {}),
    )


@dataclass
class Tally:
    """Totals over the runs of one scenario."""

    runs: int = 0
    clean: int = 0
    delivered: int = 0
    duplicates: int = 0
    lost: int = 0
    untruthful: int = 0
    broken: int = 0  # runs that did not finish
    seconds: float = 0.0

    def add(self, outcome: Outcome, seconds: float) -> None:
        """Count one run."""
        self.runs += 1
        self.clean += outcome.clean
        self.delivered += outcome.delivered
        self.duplicates += outcome.duplicates
        self.lost += outcome.lost
        self.untruthful += not outcome.truthful
        self.seconds += seconds

    def figures(self, key: str) -> dict[str, float]:
        """The totals, keyed ``<key>_...``."""
        return {
            f"{key}_runs": self.runs,
            f"{key}_clean": self.clean,
            f"{key}_duplicates": self.duplicates,
            f"{key}_lost": self.lost,
            f"{key}_untruthful": self.untruthful,
            f"{key}_unfinished": self.broken,
        }
