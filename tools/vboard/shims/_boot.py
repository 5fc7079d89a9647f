# What the ESP8266 does at reset, on the virtual board: mount the flash at /, run boot.py, then main.py.


def _start():
    import sys, os, vfs
    import _wire, time, machine, network, webrepl  # resident before the flash replaces the host's /
    import ntptime  # frozen on the ESP8266 (no heap): resident here, so the calibration counts it as a shim

    rom = os.getenv("VBOARD_ROMFS")
    if rom:  # a ROMFS build: vfs.rom_ioctl, and its partition (a host file, opened while the host's / is there)
        import _romfs

    vfs.umount("/")
    vfs.mount(vfs.VfsPosix(os.getenv("VBOARD_DIR")), "/")
    os.chdir("/")
    sys.path[:] = ["", ".frozen", "/lib", "/"]
    if rom:
        _romfs.at_start()
    n = int(os.getenv("VBOARD_NAMES") or 0)  # the pool of names grown now: see bench.py, NAMES_ROOM
    if n:
        o = type("N", (), {})()
        for i in range(n):
            setattr(o, "~%d" % i, 0)  # interned as a name (in the pool): the name stays, the attribute goes
            delattr(o, "~%d" % i)
        del o
        import gc

        gc.collect()
    n = int(os.getenv("VBOARD_BALLAST") or 0)  # what is over, held so that boot.py starts with the free heap
    if n:                                        # of a bare interpreter at the cap, exactly
        block = 4 * (8 if sys.maxsize > 2**32 else 4)
        _wire.ballast = b = [object() if n <= block else bytes(min(n, 512) - block - 1)]  # in pieces: fills holes
        n -= 512
        while n > 0:
            b.append(bytes(max(min(n, 512) - block - 1, 0)))
            n -= 512
    if os.getenv("VBOARD_CALIBRATE"):  # how much heap the shims and this runner keep
        import gc

        import micropython

        gc.collect()
        micropython.qstr_info()  # n_qstr=...: how many names the shims took
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
