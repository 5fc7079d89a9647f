# Runs first at every reset: a pushed update goes in place (updater, loaded only when one is pending: its
# names would cost heap at every boot), outlets go to their off level, then safe mode or not.
import os

_n = os.listdir()
if "stage" in _n or "update.try" in _n or "lib" not in _n:
    import sys
    import updater

    del sys.modules["updater"], updater, sys
_n = "deploy.hold" in _n  # deploy is writing the ROMFS partition: nothing of the app, all the heap for that
del os
if not _n:
    import firmware.early
del _n
