"""Commands from the server or MQTT carried out (loaded by remote.round when there are some, or by mqtt.py for a
command line, then dropped): on, off, toggle, shed, unshed; timer for MQTT. Nothing from the network is used
unchecked."""
import time

from firmware import app, link
from firmware.log import log


def run(cs):
    """[(id, ok, result)] for the commands cs, each carried out (or refused) and logged."""
    r = []
    for c in cs if type(cs) is list else ():
        if type(c) is dict and type(c.get("id")) is int and type(c.get("op")) is str:
            ok, result = _do(c, "server")
            log("server: command %d %s: %s" % (c["id"], c["op"], result))
            r.append((c["id"], ok, result))
    return r


def _which(c):
    """The outlets (from 0) a command names: its list, those of its class and less urgent, or all."""
    n = len(app.outlets)
    outs, cl = c.get("outlets"), c.get("class")
    if outs is not None:
        if type(outs) is not list or [x for x in outs if type(x) is not int or not 0 < x <= n]:
            raise ValueError("no such outlet")
        return [x - 1 for x in outs]
    if cl is not None and (type(cl) is not int or not 0 <= cl <= 9):
        raise ValueError("bad class")
    return [i for i in range(n) if cl is None or app.cfg["class"][i] >= cl]  # 10: never shed


def line(text, who):
    """A command line in the console's words (MQTT, the web API): on|off|toggle N|all, shed N|all|class C
    [for 30m|2h...], unshed N|all, timer ..., sched ..., name N TEXT, poweron N ... (as at the console), log; its
    answer: a string, "error: ..." when it is refused, or a list of lines (sched, log: never joined here, as a
    block of their whole size may not be free on a heap in pieces)."""
    w = text.split()
    op = w[0] if w else ""
    if op == "timer":
        from firmware import timecmd

        timecmd.who = who
        r = timecmd.run(op, w[1:])
        return r if type(r) is str else "; ".join(r)
    if op in ("sched", "name", "poweron"):  # the console's words and checks (schedcmd.py), stored at once
        from firmware import schedcmd

        return schedcmd.run(op, w[1:])
    if op == "log":
        from firmware.log import lines

        return lines()
    c = {"op": op}
    try:
        if op not in ("on", "off", "toggle", "shed", "unshed") or len(w) not in (2, 3, 4):
            raise ValueError("on|off|toggle N|all, shed N|all|class C [for 30m], unshed N|all, timer, sched, name,"
                             " poweron, log")
        k = 2
        if w[1] == "class" and op == "shed":
            c["class"] = int(w[2])
            k = 3
        elif w[1] != "all":
            c["outlets"] = [int(w[1])]
        elif op in ("on", "off", "toggle"):
            c["outlets"] = list(range(1, len(app.outlets) + 1))
        if w[k:]:
            if op != "shed" or len(w) != k + 2 or w[k] != "for":
                raise ValueError("only shed ends after a time: shed N for 30m")
            from firmware import timecmd

            c["until"] = time.time() + link.EPOCH + timecmd.secs(w[k + 1])
        ok, r = _do(c, who)
    except ValueError as e:
        ok, r = False, e.args[0]
    return r if ok else "error: " + r


def _do(c, who):
    """Carry out one command: (ok, result)."""
    o = app.outlets
    op = c["op"]
    try:
        which = _which(c)
        if op in ("on", "off", "toggle"):
            if c.get("outlets") is None:
                raise ValueError("no outlets named")
            for i in which:
                o.wish(i, not o.want[i] if op == "toggle" else op == "on", who)
            return True, "done"
        if op == "shed":
            until = c.get("until")
            if until is not None and type(until) is not int:
                raise ValueError("bad until")
            kept = [i + 1 for i in which if app.cfg["class"][i] == 10]
            for i in which:
                if i + 1 not in kept:
                    link.shed[i] = until or 0
                    o.set_hold(i, 2)  # outlets.SHED: off at once, whoever wishes it on
            app.save_state()
            return True, "shed %s%s" % (_list([i + 1 for i in which if i + 1 not in kept]),
                                         "; never shed: " + _list(kept) if kept else "")
        if op == "unshed":
            for i in which:
                if link.shed[i] is not None:
                    link.unshed(i, who)
            app.save_state()
            return True, "done"
        return False, "unknown op"
    except ValueError as e:
        return False, e.args[0]


def _list(xs):
    return ",".join(str(x) for x in xs) or "none"
