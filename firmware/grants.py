"""The offline policy "cached": the badges the server allowed lately, by hash, in grants.json (the newest MAX
of them). Loaded by badge.py for a moment, when the policy is in force."""
import time

from firmware import app
from firmware.log import log
from micropython import const

_GRANTS = const("grants.json")
MAX = 16


def keep(h, ans):
    """Keep this grant, or forget the badge the server now refuses (by the first half of its hash)."""
    g = app.load(_GRANTS) or {}
    k = h[:32]
    if ans["allow"]:
        g[k] = [time.time(), ans["outlets"][:8], ans["seconds"]]
    elif g.pop(k, None) is None:
        return
    while len(g) > MAX:
        del g[min(g, key=lambda k: g[k][0])]
    try:
        app.save(_GRANTS, g)
    except OSError as e:
        log("badge: cannot write %s (%r)" % (_GRANTS, e))


def find(h, hours, why):
    """(answer, how) for a badge granted within `hours`, else (None, why not)."""
    g = (app.load(_GRANTS) or {}).get(h[:32])
    if type(g) is not list or len(g) != 3 or time.time() - g[0] > hours * 3600:
        return None, "server: %s; not granted in the last %d h" % (why, hours)
    return {"allow": True, "outlets": g[1], "seconds": g[2], "name": None, "reason": "cached"}, \
        "offline: granted %d min ago" % ((time.time() - g[0]) // 60)
