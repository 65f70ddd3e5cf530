"""Compiler wrapper that caches Verilator's run-time library objects across builds.

Verilator's makefile runs every compile as ``$(OBJCACHE) $(CXX) ... -c -o X.o SRC`` and lets
``OBJCACHE`` come from the environment (the hook meant for ccache). ``snnfpga.sim.build`` sets
it to this script, run as a plain file (``python _objcache.py c++ ...``) so that it imports
nothing of the project. A compile whose source is a file of Verilator's own ``include``
directory (``verilated.cpp``, ``verilated_vpi.cpp``, ...: the same for every design, about
18 s of compiler time per build) is looked up by its full command line and the source's size
and time; any other compile (the design, cocotb's ``verilator.cpp``) runs unchanged.

Cache directory: ``$SNNFPGA_OBJCACHE_DIR``; without it the wrapper only runs the command.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def _cacheable(argv: list[str]) -> tuple[Path, Path] | None:
    """Return (object, source) of a cacheable compile, else None."""
    root = os.environ.get("SNNFPGA_OBJCACHE_SOURCES")
    if "-c" not in argv or "-o" not in argv or not root:
        return None
    i = argv.index("-o")
    if i + 1 >= len(argv):
        return None
    obj, src = Path(argv[i + 1]), Path(argv[-1])
    if src.suffix != ".cpp" or not src.is_absolute() or src.parent != Path(root):
        return None
    return obj, src


def main(argv: list[str]) -> int:
    cache_dir = os.environ.get("SNNFPGA_OBJCACHE_DIR")
    target = _cacheable(argv) if cache_dir else None
    if target is None:
        return subprocess.call(argv)
    obj, src = target
    st = src.stat()
    key = hashlib.sha256(json.dumps([argv, st.st_size, st.st_mtime_ns]).encode()).hexdigest()
    entry = Path(cache_dir) / key
    dep = obj.with_suffix(".d")
    if (entry / "done").is_file():
        shutil.copyfile(entry / "obj", obj)
        if (entry / "dep").is_file():
            shutil.copyfile(entry / "dep", dep)
        return 0
    rc = subprocess.call(argv)
    if rc == 0:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key[:8]}.", dir=cache_dir))
        shutil.copyfile(obj, tmp / "obj")
        if dep.is_file():
            shutil.copyfile(dep, tmp / "dep")
        (tmp / "done").write_text(" ".join(argv))
        try:
            tmp.rename(entry)
        except OSError:          # a concurrent build stored it first
            shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
