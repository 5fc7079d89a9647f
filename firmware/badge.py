"""A badge presented to the reader: what it does (loaded by link._tap once the server has answered, then dropped).

The badge's session ends if it has one (its second tap); otherwise the server was asked whether it may power
outlets here, now. The UID never leaves the board: the server gets HMAC(site secret, UID). When the server cannot
say (unreachable, too slow, an answer unsigned or garbled), the offline policy decides: deny, or allow a badge the
server allowed within offline_hours (grants.py)."""
import sys
import time

from firmware import app, link
from firmware.log import log


def tap(h, res):
    """What this tap did, in words (also logged). h: the badge's hash (None: no server configured); res: None
    when the badge has a session here (its second tap), else what the server answered to authorize: (status,
    answer), or why it could not say (text)."""
    o = app.outlets
    if h is None:
        return _say("badge: refused: no server configured")
    who = "badge %s" % h[:8]  # the start of its hash: enough to tell badges apart in the log, never the UID
    if res is None:  # the second tap ends the session (link.ended reports it)
        mine = [i for i, s in enumerate(link.sessions) if s and s[1] == h]
        for i in mine:
            o.wish(i, False, "badge")
        return _say("%s: session ended on outlet %s" % (who, _list(mine)), "ended", h)
    ans, how = _check(app.cfg["server"], h, res)
    if ans is None:
        return _say("%s: refused: %s" % (who, how), "refused", h)
    if ans.get("name"):
        who += " (%s)" % ans["name"][:16]
    if not ans["allow"]:
        return _say("%s: refused by the server: %s" % (who, ans["reason"][:24]), "refused", h)
    # A session takes the outlets it switches on, and only those: not one in use (another session, shed), kept out
    # of badge sessions (badge: false), or already on (its end would switch off what it never switched on).
    free, busy, nob, on = [], [], [], []
    for x in ans["outlets"]:
        i = x - 1
        if 0 <= i < len(o):
            (busy if link.sessions[i] or link.shed[i] is not None else nob if not app.cfg["badge"][i]
             else on if o.want[i] else free).append(i)
    why = ", ".join(_list(xs) + w for xs, w in ((busy, " in use or shed"), (nob, " not for badges"),
                                                 (on, " already on")) if xs)
    if not free:
        return _say("%s: allowed, but outlet %s" % (who, why or "none here"), "refused", h)
    start = time.time() + link.EPOCH
    sec = ans["seconds"]
    import os
    from binascii import hexlify

    m = sys.modules.get("firmware.meter")
    for i in free:  # the outlet's energy counter at the start, when a metering chip counts it
        link.sessions[i] = ["%d-%d-%s" % (start, i + 1, hexlify(os.urandom(3)).decode()), h, start,
                            app.cfg["watts"][i], m.mwh(i) if m else None]
    app.save(link.OPEN, link.sessions)  # before the outlets go on: a session never runs unrecorded
    from firmware import clock

    for i in free:
        o.wish(i, True, "badge")
        clock.timer(i, time.time() + sec if sec else None, False, True)
    return _say("%s: outlet %s on%s (%s)%s" % (who, _list(free), " for %d s" % sec if sec else "", how,
                                               "; outlet " + why if why else ""), "allowed", h)


def _say(s, what="refused", h=None):
    """What a tap did: logged, kept for status, told to app.events (MQTT) with its kind and the badge's hash."""
    log(s)
    link.tapped = s
    for fn in app.events:
        fn(what, h, s)
    return s


def _list(xs):
    return ",".join(str(i + 1) for i in xs)


def _check(srv, h, res):
    """(answer, how): the server's answer, checked; else the offline policy's; (None, why) when refused."""
    try:
        if type(res) is str:
            raise OSError(res)
        st, ans = res
        if st != 200:  # with what it said: "clock skew", "unknown device"...
            e = ans.get("error") if type(ans) is dict else None
            raise ValueError("server answered %d%s" % (st, ": " + e[:24] if type(e) is str else ""))
        if type(ans) is not dict or type(ans.get("allow")) is not bool or type(ans.get("outlets")) is not list \
                or [x for x in ans["outlets"] if type(x) is not int] or type(ans.get("reason")) is not str \
                or ans.get("seconds") is not None and (type(ans["seconds"]) is not int or ans["seconds"] <= 0) \
                or ans.get("name") is not None and type(ans["name"]) is not str:
            raise ValueError("a garbled answer")
        if srv["offline"] == "cached":
            _grants().keep(h, ans)
        return ans, "server"
    except (OSError, ValueError) as e:  # the server cannot say: the offline policy
        why = e.args[0]
        log("server: %s" % why)
        link.last = why
        if srv["offline"] != "cached":
            return None, "server: %s; offline policy deny" % why
        return _grants().find(h, srv["offline_hours"], why)


def _grants():
    from firmware import grants

    return grants
