"""Writing files and folders atomically: a temporary sibling renamed into place.

A reader never sees a half-written file, and an interrupted run leaves the old one (or
nothing). Written files get the permissions the user's umask gives a new file, not the
owner-only mode of a temporary file, so colleagues on a shared server can read them.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_file(out: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` for a temporary file beside `out`, then rename it to `out`."""
    out = Path(out)
    folder = out.parent if str(out.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=out.suffix, dir=folder)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def write_text(out: str | Path, text: str) -> Path:
    """`text` as UTF-8 with the line ends given, atomically."""
    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return write_file(out, write)


def write_folder(out: str | Path, fill: Callable[[Path], None]) -> Path:
    """Call `fill(tmp)` for a temporary folder beside `out`, then put it in `out`'s place
    (an existing `out` is moved aside first and removed only once the new one is in place)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        fill(tmp)
        os.chmod(tmp, 0o777 & ~_umask())
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def write_json(out: str | Path, value: object) -> Path:
    """`value` as indented UTF-8 JSON (anything else as its text), atomically."""
    return write_text(out, json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")
