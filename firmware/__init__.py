"""The multiprise firmware: a MicroPython application for a 6-outlet ESP8266 power strip."""
VERSION = "0.1.0"


def drop(name):
    """Forget a module loaded for a moment, so its code leaves the heap (the package holds it too)."""
    import sys

    sys.modules.pop("firmware." + name, None)
    globals().pop(name, None)
