"""The central server's pure logic: signatures and badge hashes (docs/protocol.md's worked example), and which rules
let a badge power which outlets, when, for how long."""
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, strategies as st

from tools.server import demo
from tools.server.rules import Rule, decide, in_window
from tools.server.signing import answer_signature, badge_hash, request_signature

PROTOCOL = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text()
ALICE = "76953fbfd7ad35f6b4b1647dc8b5b8692608157ccd718f2d4e9f7710da5a0e21"
PARIS = ZoneInfo("Europe/Paris")


def test_protocol_worked_example_is_right():
    """The values a firmware author checks a client against, computed here and printed in docs/protocol.md."""
    assert badge_hash(demo.SITE_SECRET, "04A1B2C3") == badge_hash(demo.SITE_SECRET, "04a1b2c3") == ALICE
    body = ('{"badge":"%s"}' % ALICE).encode()
    request = request_signature(demo.DEVICE_SECRET, "POST", "/api/v1/device/authorize", "1767225600",
                                "a1b2c3d4e5f60718", body)
    answer = answer_signature(demo.DEVICE_SECRET, "a1b2c3d4e5f60718", 200,
                              b'{"allow":true,"outlets":[1,2,3,4,5,6],"seconds":null,"name":"Alice","reason":"ok"}')
    get = request_signature(demo.DEVICE_SECRET, "GET", "/api/v1/device/commands", "1767225600", "Zx9Yw8Vu", b"")
    assert (request, answer, get) == ("b053c69b669afe864441b7cc8b22f360d5fd16895e790e5d30ac49bfbe594a4f",
                                      "d9b1f32ff8f20789e18a59ecd6abe136770b23e839fee797f8c1e4ea74bee1a1",
                                      "aaeb7b7cdfe38581c9076af8d72dc06d7758973a49cc200a16b284c3b7617fe8")
    for value in (ALICE, request, answer, get, demo.DEVICE_SECRET, demo.SITE_SECRET):
        assert value in PROTOCOL


def test_every_signed_part_counts():
    base = ("s3cret", "POST", "/api/v1/device/heartbeat", "1767225600", "abcdefgh", b"{}")
    reference = request_signature(*base)
    for i, other in enumerate(("s3creT", "PUT", "/api/v1/device/heartbeaT", "1767225601", "abcdefgi", b"{ }")):
        changed = list(base)
        changed[i] = other
        assert request_signature(*changed) != reference
    assert answer_signature("s3cret", "abcdefgh", 200, b"{}") != answer_signature("s3cret", "abcdefgh", 401, b"{}")


def at(text, tz=PARIS):
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def rule(**kw):
    fields = dict(badge=None, device=None, outlets=None, days=None, start=None, end=None, max_seconds=None)
    return Rule(**(fields | kw))


BADGE = "a" * 64


def test_unknown_badge_is_refused_even_by_a_rule_for_everyone():
    d = decide([rule()], BADGE, False, "strip", 6, at("2026-03-02T10:00"))
    assert (d.allow, d.reason) == (False, "unknown badge")


def test_outlets_are_the_union_and_seconds_the_smallest_limit():
    rules = [rule(badge=BADGE, outlets=[1, 2], max_seconds=3600), rule(device="strip", outlets=[2, 5], max_seconds=600),
             rule(outlets=[3])]
    d = decide(rules, BADGE, True, "strip", 6, at("2026-03-02T10:00"))
    assert (d.allow, d.outlets, d.seconds, d.reason) == (True, [1, 2, 3, 5], 600, "ok")
    d = decide([rule(badge=BADGE)], BADGE, True, "strip", 4, at("2026-03-02T10:00"))
    assert (d.outlets, d.seconds) == ([1, 2, 3, 4], None)


def test_rules_of_other_badges_and_devices_do_not_apply():
    rules = [rule(badge="b" * 64), rule(device="other")]
    assert decide(rules, BADGE, True, "strip", 6, at("2026-03-02T10:00")).reason == "no rule"


def test_disabled_rules_do_not_apply():
    d = decide([rule(badge=BADGE, enabled=False)], BADGE, True, "strip", 6, at("2026-03-02T10:00"))
    assert (d.allow, d.reason) == (False, "disabled")
    d = decide([rule(badge=BADGE, enabled=False), rule(outlets=[4])], BADGE, True, "strip", 6, at("2026-03-02T10:00"))
    assert (d.allow, d.outlets) == (True, [4])


def test_outlets_the_device_does_not_have_are_left_out():
    d = decide([rule(outlets=[7, 8])], BADGE, True, "strip", 6, at("2026-03-02T10:00"))
    assert (d.allow, d.reason) == (False, "no outlet")
    assert decide([rule(outlets=[6, 7])], BADGE, True, "strip", 6, at("2026-03-02T10:00")).outlets == [6]


@pytest.mark.parametrize("when, allowed", [
    ("2026-03-02T07:59", False),    # Monday, before the window
    ("2026-03-02T08:00", True),
    ("2026-03-06T17:59", True),     # Friday
    ("2026-03-06T18:00", False),    # the end is not in the window
    ("2026-03-07T10:00", False),    # Saturday
])
def test_weekday_office_hours(when, allowed):
    r = rule(days=[1, 2, 3, 4, 5], start="08:00", end="18:00")
    d = decide([r], BADGE, True, "strip", 6, at(when))
    assert d.allow is allowed
    assert d.reason == ("ok" if allowed else "not now")


@pytest.mark.parametrize("when, allowed", [
    ("2026-03-06T21:59", False),    # Friday evening, before
    ("2026-03-06T22:00", True),
    ("2026-03-07T05:59", True),     # Saturday morning: still Friday's night
    ("2026-03-07T06:00", False),
    ("2026-03-07T23:00", False),    # Saturday night: not a listed day
    ("2026-03-08T03:00", False),
    ("2026-03-02T03:00", True),     # Monday early: Sunday's night
])
def test_a_night_window_belongs_to_the_day_it_opens(when, allowed):
    r = rule(days=[5, 7], start="22:00", end="06:00")
    assert in_window(r, at(when)) is allowed


def test_a_window_to_midnight():
    r = rule(start="20:00", end="24:00")
    assert in_window(r, at("2026-03-02T23:59")) and not in_window(r, at("2026-03-03T00:00"))


def test_hours_are_local_time_across_a_dst_change():
    """Europe/Paris moves from UTC+1 to UTC+2 on 2026-03-29: 08:00 local is 07:00 UTC before, 06:00 UTC after."""
    r = rule(start="08:00", end="09:00")
    utc = ZoneInfo("UTC")
    assert in_window(r, at("2026-03-28T07:30", utc).astimezone(PARIS))
    assert in_window(r, at("2026-03-30T06:30", utc).astimezone(PARIS))
    assert not in_window(r, at("2026-03-30T07:30", utc).astimezone(PARIS))


@given(st.integers(0, 1439), st.integers(0, 1439), st.integers(0, 7 * 1440 - 1))
def test_a_window_every_day_holds_exactly_its_minutes(start, end, minute):
    if start == end:
        return
    r = rule(start="%02d:%02d" % divmod(start, 60), end="%02d:%02d" % divmod(end, 60))
    when = at("2026-03-02T00:00", ZoneInfo("UTC")).replace(day=2 + minute // 1440, hour=minute % 1440 // 60,
                                                          minute=minute % 60)
    m = minute % 1440
    inside = start <= m < end if start < end else m >= start or m < end
    assert in_window(r, when) is inside
