"""The chaos order audit: one exchange order or one refusal per intent, journal and reports agree."""

from __future__ import annotations

from chaos.orders import Intent, audit
from chaos.plan import KILLS, KINDS, schedule


def intent(link, *statuses):
    i = Intent(link, "resting", {"orderLinkId": link})
    i.statuses = list(statuses)
    return i


def ex(link, status="New", oid=None):
    return {"orderLinkId": link, "orderStatus": status, "orderId": oid or f"id-{link}"}


def test_consistent_outcomes_pass() -> None:
    intents = {
        "a": intent("a", ("accepted", "0"), ("new", "")),
        "b": intent("b", ("rejected", "bad_tick")),
        "c": intent("c", ("rejected", "110007")),
        "d": intent("d", ("accepted", "0"), ("rejected", "duplicate"), ("cancelled", "")),
    }
    res = audit(
        intents,
        [ex("a"), ex("d", "Cancelled")],
        {"a": ("new", "id-a"), "c": ("rejected", ""), "d": ("cancelled", "id-d")},
        {"b": [("refused", "bad_tick")], "d": [("done", ""), ("refused", "duplicate")]},
    )
    assert res.violations == []
    assert (res.exchange_orders, res.refusals) == (2, 2)


def test_every_disagreement_is_a_violation() -> None:
    intents = {
        "two": intent("two"),
        "nojournal": intent("nojournal"),
        "journal_wrong": intent("journal_wrong"),
        "reported_rejected": intent("reported_rejected", ("rejected", "10001")),
        "phantom": intent("phantom", ("accepted", "0")),
        "lost": intent("lost"),
        "refused_but_new": intent("refused_but_new", ("new", "")),
    }
    exchange = [
        ex("two"),
        ex("two", oid="other"),
        ex("nojournal"),
        ex("journal_wrong", "Filled"),
        ex("reported_rejected"),
        ex("stranger"),
    ]
    journal = {
        "journal_wrong": ("new", "id-journal_wrong"),
        "reported_rejected": ("new", "id-reported_rejected"),
        "phantom": ("accepted", "x"),
    }
    res = audit(intents, exchange, journal, {"refused_but_new": [("refused", "bad_tick")]})
    text = "\n".join(res.violations)
    for word in (
        "two: 2 exchange orders",
        "nojournal: on the exchange",
        "journal_wrong: journal",
        "reported_rejected: reported rejected",
        "phantom: journal says accepted",
        "lost: never journaled",
        "refused_but_new: refused, but reported",
        "'stranger' matches no intent",
    ):
        assert word in text, (word, text)


def test_schedule_is_seeded_and_covers_every_kind() -> None:
    a, b = schedule(7, 2), schedule(7, 2)
    assert [(x.kind, x.faults, x.restart_after) for x in a] == [
        (x.kind, x.faults, x.restart_after) for x in b
    ]
    assert {x.kind for x in a[: len(KINDS)]} == set(KINDS)
    assert [x.kind for x in schedule(8, 1)] != [x.kind for x in a[: len(KINDS)]]
    assert all(x.service for x in a if x.kind in KILLS)
