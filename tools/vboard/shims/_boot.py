# What the ESP8266 does at reset, on the virtual board: mount the flash at /, run boot.py, then main.py.


def _start():
    import sys, os, uos, vfs
    import _wire, time, machine, network, esp, webrepl, socket  # noqa: F401 (resident before the flash replaces the host's /)
    import ntptime  # noqa: F401 (frozen on the ESP8266, no heap: resident here, so the calibration counts it as a shim)

    rom = uos.getenv("VBOARD_ROMFS")
    if rom:  # a ROMFS build: vfs.rom_ioctl, and its partition (a host file, opened while the host's / is there)
        import _romfs
    lfs = uos.getenv("VBOARD_FLASH")
    if lfs:  # LittleFS on an image of the flash (a host file, opened while the host's / is there)
        import _flash

    vfs.umount("/")
    if lfs:
        _flash.mount()
    else:  # the board folder itself
        vfs.mount(vfs.VfsPosix(uos.getenv("VBOARD_DIR")), "/")
    os.chdir("/")
    sys.path[:] = ["", ".frozen", "/lib", "/"]
    if rom:
        _romfs.at_start()
    n = int(uos.getenv("VBOARD_NAMES") or 0)  # the pool of names grown now: see bench.py, NAMES_ROOM
    if n:
        o = type("N", (), {})()
        for i in range(n):
            setattr(o, "~%d" % i, 0)  # interned as a name (in the pool): the name stays, the attribute goes
            delattr(o, "~%d" % i)
        del o
        import gc

        gc.collect()
    _fill_holes()
    n = int(uos.getenv("VBOARD_BALLAST") or 0)  # what is over, held so that boot.py starts with the free heap
    if n:                                        # of a bare interpreter at the cap, exactly (the holes are filled:
        block = 4 * (8 if sys.maxsize > 2**32 else 4)  # one piece, at the start of what is left)
        _wire.ballast = object() if n <= block else bytes(max(n - block - 1, 0))
    if uos.getenv("VBOARD_CALIBRATE"):  # how much heap the shims and this runner keep
        import gc

        import micropython

        gc.collect()
        micropython.qstr_info()  # n_qstr=...: how many names the shims took
        print("vboard-free", gc.mem_free(), "vboard-largest", _largest())
        return
    files = ("boot.py",) if uos.getenv("VBOARD_RAW") else ("boot.py", "main.py")
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


def _largest():
    """The biggest block the heap can give just now, in bytes (to the nearest 32). Each try on a collected heap,
    and the tries collected at the end: garbage left in place would be taken for holes."""
    import gc

    gc.collect()
    lo, hi = 0, gc.mem_free() + 64
    while hi - lo > 32:
        m = (lo + hi) // 2
        gc.collect()
        if _fits(m):
            lo = m
        else:
            hi = m
    gc.collect()
    return lo


def _fits(n):
    # Tried in a call of its own: the interpreter's C frame that made the block may keep a stale pointer to it,
    # which a collection made from this frame would take for a reference (the block kept: the heap looks in
    # pieces); from the caller's, that frame is below the stack pointer, not scanned.
    try:
        bytearray(n)
        return True
    except MemoryError:
        return False


def _fill_holes():
    """A board's boot.py finds its heap in one piece: the C start-up allocates a few objects and frees nothing.
    Here the shims leave holes where their garbage was; each is filled with the smallest objects, lowest first (the
    allocator is first-fit), so that the firmware gets the heap in one piece, as on a board."""
    import gc

    import _wire

    gc.collect()
    spare = gc.mem_free() - _largest()
    _wire.holes = keep = [None] * (spare // 16 + 64)  # a slot per block that can be in a hole (16 bytes the least)
    gc.collect()
    top = _largest()
    i = 0
    while gc.mem_free() > top and i < len(keep):
        keep[i] = object()  # one block each: the smallest the allocator gives
        i += 1
    gc.collect()


_start()
del _start
