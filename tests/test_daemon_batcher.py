"""challenger.batching.Batcher alone: what goes into a batch, when, and in how many transactions."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from challenger.batching import Batcher


class Op:
    """The parts of an operator daemon the batcher uses; sends are recorded (and succeed unless refused)."""

    races = ("RequestNotOpen",)

    def __init__(self, refuse: bool = False, taken: int | None = None) -> None:
        self.sent: list[tuple[str, int, list[int], int]] = []
        self.posted: list[int] = []
        self.refuse = refuse
        self.taken = taken      # a request another operator took: a batch naming it reverts RequestNotOpen
        self.statuses: dict[int, str] = {}
        self.last_revert: str | None = None
        self.last_revert_fields: dict[str, Any] = {}
        self.system = SimpleNamespace(params=SimpleNamespace(result_bond=7))
        self.store = SimpleNamespace(count_post=self.posted.append, set_request_status=self.statuses.__setitem__)

    def send(self, key: str, function: str, model_id: int, claims: list[Any], *, value: int, expected: Any) -> bool:
        self.sent.append((function, model_id, [c[0] for c in claims], value))
        self.last_revert, self.last_revert_fields = None, {}
        if self.taken in [c[0] for c in claims]:
            self.last_revert, self.last_revert_fields = "RequestNotOpen", {"requestId": self.taken}
            return False
        return not self.refuse

    def emit(self, event: str, **fields: Any) -> None:
        pass


def trace(rid: int) -> SimpleNamespace:
    return SimpleNamespace(output=bytes([rid]), final_packed=bytes(186), output_proof=lambda: [bytes(32)])


def tick(b: Batcher, op: Op, open_now: dict[int, list[int]]) -> int:
    """One answer_requests pass: the requests open now are added (or found held), then post."""
    b.begin()
    for model, rids in open_now.items():
        for rid in rids:
            if not b.holds(model, rid):
                b.add(model, rid, trace(rid), 0)
    return b.post(op)


def test_one_batch_per_model_split_at_max_batch() -> None:
    op, b = Op(), Batcher(0, max_batch=3)
    assert tick(b, op, {1: [5, 2, 9, 4], 2: [7]}) == 3
    assert op.sent == [("postBatch", 1, [2, 4, 5], 21), ("postBatch", 1, [9], 7), ("postBatch", 2, [7], 7)]
    assert sorted(op.posted) == [2, 4, 5, 7, 9]
    assert tick(b, op, {}) == 0 and len(op.sent) == 3     # nothing left over


def test_the_interval_holds_claims_and_drops_requests_no_longer_open() -> None:
    op, b = Op(), Batcher(3600)
    assert tick(b, op, {1: [1, 2, 3]}) == 0 and op.sent == []    # the interval has not passed
    b.last_post -= 3600
    assert tick(b, op, {1: [1, 3]}) == 1                          # request 2 was taken meanwhile
    assert op.sent == [("postBatch", 1, [1, 3], 14)]


def test_a_refused_batch_is_rebuilt_from_what_is_open_next_tick() -> None:
    op, b = Op(refuse=True), Batcher(0)
    assert tick(b, op, {1: [1, 2]}) == 0 and op.posted == []
    op.refuse = False
    assert tick(b, op, {1: [2]}) == 1 and op.sent[-1] == ("postBatch", 1, [2], 7)


def test_a_batch_lost_to_another_operator_drops_the_taken_request_and_goes_again_at_once() -> None:
    op, b = Op(taken=2), Batcher(3600)
    b.last_post -= 3600
    assert tick(b, op, {1: [1, 2, 3]}) == 0 and op.statuses == {2: "posted"}   # no longer open here
    op.taken = None
    assert tick(b, op, {1: [1, 3]}) == 1                  # the next tick, not an interval later
    assert op.sent[-1] == ("postBatch", 1, [1, 3], 14)
    assert tick(b, op, {1: [4]}) == 0                     # then the interval holds again


def test_a_batch_refused_otherwise_waits_for_the_interval() -> None:
    op, b = Op(refuse=True), Batcher(3600)
    b.last_post -= 3600
    assert tick(b, op, {1: [1]}) == 0
    op.refuse = False
    assert tick(b, op, {1: [1]}) == 0 and len(op.sent) == 1


@pytest.mark.parametrize("interval, max_batch", [(-1, 10), (0, 0), (0, 1025)])
def test_bad_settings_are_refused(interval: float, max_batch: int) -> None:
    with pytest.raises(ValueError):
        Batcher(interval, max_batch)
