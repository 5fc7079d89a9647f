"""The demo site that `multiprise server --demo` sets up, in one place for the virtual board to import."""
from typing import NamedTuple

DEVICE_ID = "demo-strip"
DEVICE_SECRET = "demo-device-secret-0123456789abc"     # 32 characters, like a generated one
SITE_SECRET = "demo-site-secret"
ADMIN_TOKEN = "demo-admin-token"                        # used when --demo is given without --admin-token
POWER = [60, 100, 2000, 500, 10, 10]                    # rated power of the demo strip's outlets, watts


class DemoBadge(NamedTuple):
    uid: str                    # as the reader gives it, hex
    owner: str
    allowed: bool               # has a rule on the demo strip, at any time
    outlets: list | None        # the outlets its rule grants (None: all)
    seconds: int | None         # its rule's longest session (None: no limit)


BADGES = [
    DemoBadge("04A1B2C3", "Alice", True, None, None),
    DemoBadge("04D5E6F7A1B2C3", "Bob", True, [1, 2, 3], 1800),
    DemoBadge("DEADBEEF", "Mallory", False, None, None),   # enrolled, but no rule
]


def seed(store):
    """Put the demo device, badges and rules in `store` (whose site secret is SITE_SECRET); safe to repeat."""
    from tools.server.schemas import BadgeIn, DeviceIn, RuleIn
    from tools.server.signing import badge_hash
    from tools.server.store import Conflict

    try:
        store.add_device(DeviceIn(id=DEVICE_ID, name="Demo strip", power=POWER))
    except Conflict:
        pass
    store.set_device_secret(DEVICE_ID, DEVICE_SECRET)
    for rule in store.rules():
        if rule.device == DEVICE_ID:
            store.remove_rule(rule.id)
    for badge in BADGES:
        try:
            store.enrol(BadgeIn(uid=badge.uid, owner=badge.owner))
        except Conflict:
            pass
        if badge.allowed:
            store.add_rule(RuleIn(badge=badge_hash(SITE_SECRET, badge.uid), device=DEVICE_ID, outlets=badge.outlets,
                                  max_seconds=badge.seconds))
