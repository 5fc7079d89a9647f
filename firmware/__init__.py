"""The multiprise firmware: a MicroPython application for a 6-outlet ESP8266 power strip."""
VERSION = "0.1.0"


def drop(*names):
    """Forget modules loaded for a moment (e.g. "config", "drivers.ds3231"), so their code leaves the heap:
    the parent package holds a reference too."""
    import sys

    for name in names:
        parent, _, leaf = ("firmware." + name).rpartition(".")
        sys.modules.pop(parent + "." + leaf, None)
        if parent in sys.modules:
            sys.modules[parent].__dict__.pop(leaf, None)
