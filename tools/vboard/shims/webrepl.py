# `webrepl` (frozen in the ESP8266 firmware) on the virtual board: the bench serves the WebREPL.
from _wire import go


def start(port=8266, password=None):
    if password is None:
        try:
            import webrepl_cfg

            password = webrepl_cfg.PASS
        except ImportError:
            print("WebREPL is not configured, run 'import webrepl_setup'")
            return
    port = go("f webrepl_start", (port, password), {})  # the host's port that stands for the board's 8266
    print("WebREPL server started on http://127.0.0.1:%d/" % port)
    print("Started webrepl in normal mode")


def stop():
    go("f webrepl_stop", (), {})
