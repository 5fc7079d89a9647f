# What the ESP8266 does at reset, on the virtual board: mount the flash at /, run boot.py, then main.py.


def _start():
    import sys, os, vfs
    import _wire, time, machine, network, webrepl  # resident before the flash replaces the host's /

    vfs.umount("/")
    vfs.mount(vfs.VfsPosix(os.getenv("VBOARD_DIR")), "/")
    os.chdir("/")
    sys.path[:] = ["", ".frozen", "/lib", "/"]
    if os.getenv("VBOARD_CALIBRATE"):  # how much heap the shims and this runner keep
        import gc

        gc.collect()
        print("vboard-free", gc.mem_free())
        return
    files = ("boot.py",) if os.getenv("VBOARD_RAW") else ("boot.py", "main.py")
    for f in files:
        try:
            os.stat(f)
        except OSError:
            continue
        try:
            with open(f) as src:
                code = compile(src.read(), f, "exec")
            exec(code, globals())
        except SystemExit:
            raise
        except BaseException as e:
            sys.print_exception(e)


_start()
del _start
