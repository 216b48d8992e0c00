"""The per-key gate that orders REST calls in flight (services/executor/core/gate.py)."""

from __future__ import annotations

from services.executor.core.gate import (
    ALL,
    BARRIER,
    KeyGate,
    category_claim,
    link_key,
    order_claim,
)


def test_independent_orders_go_together() -> None:
    gate: KeyGate[str] = KeyGate()
    assert gate.offer("create a", order_claim("linear", link_key("a")))
    assert gate.offer("create b", order_claim("linear", link_key("b")))
    assert gate.offer("create c", order_claim("spot", link_key("c")))
    assert gate.held == 0 and gate.busy(link_key("a")) and gate.busy(("cat", "linear"))


def test_cancel_waits_for_its_create_and_goes_when_it_finishes() -> None:
    gate: KeyGate[str] = KeyGate()
    c = order_claim("linear", link_key("a"))
    assert gate.offer("create a", c)
    assert not gate.offer("cancel a", order_claim("linear", link_key("a")))
    assert gate.offer("create b", order_claim("linear", link_key("b")))  # other orders are not held
    assert gate.claimed(link_key("a")) and gate.held == 1
    assert gate.release(c) == ["cancel a"]
    assert gate.busy(link_key("a")) and gate.held == 0


def test_held_calls_of_one_order_keep_their_order() -> None:
    gate: KeyGate[str] = KeyGate()
    c = order_claim("linear", link_key("a"))
    gate.offer("create a", c)
    amend = order_claim("linear", link_key("a"))
    assert not gate.offer("amend a", amend)
    assert not gate.offer("cancel a", order_claim("linear", link_key("a")))
    assert gate.release(c) == ["amend a"]  # one at a time: the cancel waits for the amend
    assert gate.release(amend) == ["cancel a"]


def test_a_later_call_never_overtakes_a_held_one_on_a_shared_key() -> None:
    gate: KeyGate[str] = KeyGate()
    ca = category_claim("linear")
    first = order_claim("linear", link_key("a"))
    gate.offer("create a", first)
    assert not gate.offer("cancel_all linear", ca)  # waits for create a
    # a create after the cancel-all waits for it, although no call in flight holds its keys
    later = order_claim("linear", link_key("z"))
    assert not gate.offer("create z", later)
    assert gate.offer("create s", order_claim("spot", link_key("s")))  # another category is free
    assert gate.release(first) == ["cancel_all linear"]
    assert gate.release(ca) == ["create z"]


def test_cancel_all_waits_for_every_call_of_its_category() -> None:
    gate: KeyGate[str] = KeyGate()
    a, b = order_claim("linear", link_key("a")), order_claim("linear", link_key("b"))
    gate.offer("a", a)
    gate.offer("b", b)
    ca = category_claim("linear")
    assert not gate.offer("cancel_all", ca)
    assert gate.release(a) == []
    assert gate.release(b) == ["cancel_all"]
    assert gate.release(ca) == [] and gate.idle


def test_barrier_waits_for_everything_and_holds_everything_after_it() -> None:
    gate: KeyGate[str] = KeyGate()
    a, s = order_claim("linear", link_key("a")), order_claim("spot", link_key("s"))
    gate.offer("a", a)
    gate.offer("s", s)
    assert not gate.offer("barrier", BARRIER)
    assert not gate.offer("after", order_claim("inverse", link_key("i")))
    assert gate.release(a) == []
    assert gate.release(s) == ["barrier"]
    assert gate.busy(ALL)
    assert gate.release(BARRIER) == ["after"]


def test_barrier_on_an_idle_gate_goes_at_once() -> None:
    gate: KeyGate[str] = KeyGate()
    assert gate.offer("barrier", BARRIER)
    assert gate.release(BARRIER) == [] and gate.idle


def test_follow_up_keeps_the_key_ahead_of_held_calls() -> None:
    gate: KeyGate[str] = KeyGate()
    c = order_claim("linear", link_key("a"))
    gate.offer("create a", c)
    assert not gate.offer("cancel a", order_claim("linear", link_key("a")))
    lookup = order_claim("linear", link_key("a"))
    # the create's outcome was unknown: its lookup takes the key over; the cancel keeps waiting
    assert gate.release(c, [lookup]) == []
    assert gate.busy(link_key("a")) and gate.held == 1
    assert gate.release(lookup) == ["cancel a"]


def test_merged_claims_count_shared_keys_per_call() -> None:
    gate: KeyGate[str] = KeyGate()
    a, b = order_claim("linear", link_key("a")), order_claim("linear", link_key("b"))
    gate.offer("a", a)
    gate.offer("b", b)
    merged = a + b  # one create-batch carrying both
    ca = category_claim("linear")
    assert not gate.offer("cancel_all", ca)
    assert gate.release(merged) == ["cancel_all"]
    gate.release(ca)
    assert gate.idle


def test_order_id_keys_are_separate_from_link_keys() -> None:
    gate: KeyGate[str] = KeyGate()
    gate.offer("cancel by id", order_claim("linear", ("oid", "123")))
    assert gate.offer("cancel by link", order_claim("linear", link_key("123")))
