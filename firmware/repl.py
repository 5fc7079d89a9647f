"""Helpers for debugging at the serial REPL: from firmware.repl import *"""
import gc

import firmware
from firmware import app


def _do(line, save=False):
    if app.outlets is None and not app.setup():
        return
    from firmware import commands  # for the line only: the REPL's compiler wants the heap in one piece

    try:
        reply = commands.run(line, "repl")
        for text in (reply,) if isinstance(reply, str) else reply:
            print(text)
    finally:
        reply = commands = None
        firmware.drop("commands")
        gc.collect()
    if save:
        app.save_state()


def status():
    _do("status")


def on(n="all"):
    _do("on %s" % n, True)


def off(n="all"):
    _do("off %s" % n, True)


def toggle(n):
    _do("toggle %s" % n, True)


def scan():
    _do("scan")


def rtc():
    _do("rtc")


def log():
    _do("log")
