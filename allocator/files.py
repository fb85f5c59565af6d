"""Writing files and folders atomically: a temporary sibling renamed into place.

A reader never sees a half-written file, and an interrupted run leaves the old one (or
nothing). Written files get the permissions the user's umask gives a new file, not the
owner-only mode of a temporary file, so colleagues on a shared server can read them.

Folders (a plan, an instance) replace only what allocator wrote: each holds a manifest,
`.allocator.json`, naming its kind and every file with its sha256. A folder is replaced only
when asked (`overwrite`), when its manifest names the same kind and when it holds nothing
else: no file added or changed since. Anything else is refused (`check_folder_target`), before
any work and again under the lock, so a user's files are never deleted. Writers of one target
take a lock file beside it (`.NAME.lock`, created exclusively); one wins, the others are told.
Temporary folders an interrupted run left (`.NAME.partial-*`, `.NAME.old-*`) are removed by
the next writer of that target.

Cells a spreadsheet opens never start a formula: text starting with `=`, `+`, `-`, `@`, tab
or CR is written with a leading `'` in CSV (the OWASP rule; `unquote_frame` reads it back) and
as a text cell with Excel's quote prefix in a workbook (`guard_cell`). Names built from data
become one safe path component (`safe_name`).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from allocator.errors import InputError, Problem

MANIFEST = ".allocator.json"
LOCK_WAIT_S = 10.0                  # how long a writer waits for another writer of the same target
LOCK_STALE_S = 3600.0               # a lock of another host older than this is taken as left by a killed run
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_file(out: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` for a temporary file beside `out`, then rename it to `out`."""
    out = Path(out)
    folder = out.parent if str(out.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(folder, out.name, only_dead=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.partial-{os.getpid()}-", suffix=out.suffix, dir=folder)
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


def write_folder(out: str | Path, fill: Callable[[Path], None], kind: str = "folder", overwrite: bool = False,
                 option: str = "--out") -> Path:
    """Call `fill(tmp)` for a temporary folder beside `out`, then put it in `out`'s place.

    The folder gets a manifest of `kind` naming every file `fill` wrote. An existing `out` is
    replaced only as `check_folder_target` allows (a `kind` folder allocator wrote, unchanged,
    and `overwrite`); it is moved aside first and removed once the new one is in place. Writers
    of one `out` take turns through a lock; a writer that cannot get it in `LOCK_WAIT_S` is
    refused (InputError)."""
    out = Path(out)
    check_folder_target(out, kind, overwrite, option)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _Lock(out, option):
        check_folder_target(out, kind, overwrite, option)        # again: another writer may have come first
        _remove_leftovers(out.parent, out.name, only_dead=False)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-{os.getpid()}-", dir=out.parent))
        try:
            fill(tmp)
            _write_manifest(tmp, kind)
            os.chmod(tmp, 0o777 & ~_umask())
            if out.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}-", dir=out.parent))
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


# ---------------------------------------------------------------- what may be replaced

def check_folder_target(out: str | Path, kind: str, overwrite: bool, option: str = "--out") -> None:
    """Refuse (InputError, before any work) a target folder whose replacement could lose a user's
    file: a file or a path under a file, the current folder or one holding it, a folder allocator
    did not write, or one it wrote that now holds other or changed files; and a `kind` folder
    allocator wrote unless `overwrite`."""
    out = Path(out)

    def refuse(rule: str) -> None:
        raise InputError(Problem(str(out), rule))

    if not out.name or out.name in (".", ".."):
        refuse(f"is not a folder name allocator can write to; give {option} a new folder, e.g. results/plan-1")
    check_place(out, option)
    if out.is_symlink():
        refuse(f"is a symbolic link; give {option} a new folder")
    if out.exists() and not out.is_dir():
        refuse(f"exists and is a file, not a folder; choose another {option}")
    here = Path.cwd().resolve()
    if out.exists() and (out.resolve() == here or out.resolve() in here.parents):
        refuse(f"is the current folder (or holds it); give {option} a new folder inside it")
    if not out.is_dir() or not any(out.iterdir()):
        return
    written = read_manifest(out)
    if written is None:
        refuse(f"is not empty and holds no {kind} allocator wrote (e.g. {_example(out)}); nothing was replaced: "
               f"choose a new or empty folder for {option}")
    if written.get("kind") != kind:
        refuse(f"holds {_article(written.get('kind'))} allocator wrote, not {_article(kind)}; choose another {option}")
    files = written.get("files") or {}
    for path in sorted(out.iterdir()):
        if path.name == MANIFEST:
            continue
        if path.name not in files or not path.is_file() or path.is_symlink():
            refuse(f"holds {path.name}, which allocator did not write beside its {kind}; nothing was replaced: "
                   f"move it elsewhere or choose another {option}")
        if _sha256(path) != files[path.name]:
            refuse(f"holds {path.name}, changed since allocator wrote it; nothing was replaced: "
                   f"keep a copy elsewhere or choose another {option}")
    if not overwrite:
        refuse(f"already holds {_article(kind)}; pass --overwrite to replace it, or choose another {option}")


def check_file_target(out: str | Path, overwrite: bool, option: str = "OUT") -> None:
    """Refuse (InputError, before any work) a file target that is a folder, lies under a file or
    in a missing folder we may not create, or already exists without `overwrite`."""
    out = Path(out)
    if out.is_dir():
        raise InputError(Problem(str(out), f"is a folder; give {option} a file name"))
    check_place(out, option)
    if out.exists() or out.is_symlink():
        if not overwrite:
            raise InputError(Problem(str(out), "already exists; pass --overwrite to replace it, or choose another name"))
        if not out.is_file():
            raise InputError(Problem(str(out), f"exists and is not a regular file; choose another {option}"))


def read_manifest(folder: str | Path) -> dict | None:
    """The manifest allocator wrote into `folder` (kind, files), or None."""
    try:
        value = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(value, dict) or value.get("written_by") != "allocator" or not isinstance(value.get("files"), dict):
        return None
    return value


def check_place(out: str | Path, option: str = "--out") -> None:
    """Refuse (InputError) an output whose first existing folder above is a file or not writable."""
    out = Path(out)
    for parent in out.absolute().parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise InputError(Problem(str(out), f"cannot be written: {parent} is a file, not a folder; "
                                                   f"choose another {option}"))
            if not os.access(parent, os.W_OK | os.X_OK):
                raise InputError(Problem(str(out), f"cannot be written: no permission to write in {parent}"))
            return


def _write_manifest(folder: Path, kind: str) -> None:
    files = {p.name: _sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}
    text = json.dumps({"written_by": "allocator", "kind": kind, "files": files}, indent=2, sort_keys=True) + "\n"
    (folder / MANIFEST).write_text(text, encoding="utf-8")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _example(folder: Path) -> str:
    names = sorted(p.name for p in folder.iterdir())
    return names[0] + (f" and {len(names) - 1} more" if len(names) > 1 else "")


def _article(kind: object) -> str:
    kind = str(kind or "folder")
    return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}"


# ---------------------------------------------------------------- one writer at a time, leftovers

_HELD: set[str] = set()               # lock files this process holds (threads of one process take turns too)
_HELD_GUARD = threading.Lock()


class _Lock:
    """`.NAME.lock` beside the target, created exclusively (O_EXCL), holding host, pid and time.
    A lock whose process is gone (same host) or that is old (another host) was left by a killed
    run and is taken over."""

    def __init__(self, out: Path, option: str):
        self.out, self.option = out, option
        self.path = out.parent / f".{out.name}.lock"

    def __enter__(self):
        give_up = time.monotonic() + LOCK_WAIT_S
        while True:
            if self._take():
                return self
            if self._stale():
                Path(self.path).unlink(missing_ok=True)
                continue
            if time.monotonic() > give_up:
                owner = self._owner()
                raise InputError(Problem(str(self.out), f"another allocator run (process {owner.get('pid', '?')}) is "
                                                        f"writing it; wait for it to finish or choose another {self.option}"))
            time.sleep(0.05)

    def _take(self) -> bool:
        key = str(self.path.absolute())
        with _HELD_GUARD:
            if key in _HELD:
                return False
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            _HELD.add(key)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}, f)
        return True

    def _owner(self) -> dict:
        try:
            owner = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return owner if isinstance(owner, dict) else {}

    def _stale(self) -> bool:
        with _HELD_GUARD:
            if str(self.path.absolute()) in _HELD:
                return False
        owner = self._owner()
        if not owner:                  # being written this instant, or garbage: judge by age
            try:
                return time.time() - self.path.stat().st_mtime > LOCK_WAIT_S
            except OSError:
                return False
        if owner.get("host") != socket.gethostname() or os.name == "nt":      # no safe liveness probe there
            return time.time() - float(owner.get("time") or 0) > LOCK_STALE_S
        return not _alive(owner.get("pid"))

    def __exit__(self, *exc) -> None:
        with _HELD_GUARD:
            _HELD.discard(str(self.path.absolute()))
            self.path.unlink(missing_ok=True)


def _alive(pid: object) -> bool:
    """Whether process `pid` of this host runs (signal 0 probes it; on Windows os.kill would end it)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid() or os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_LEFTOVER = re.compile(r"\.(partial|old)-(?:(\d+)-)?")


def _remove_leftovers(folder: Path, name: str, only_dead: bool) -> None:
    """Remove `.NAME.partial-*` and `.NAME.old-*` beside a target: all of them when the caller holds
    the target's lock (`only_dead` False), else those whose writing process is gone."""
    prefix = f".{name}."
    try:
        entries = [p for p in folder.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return
    for path in entries:
        match = _LEFTOVER.match(path.name[len(prefix) - 1:])
        if not match:
            continue
        pid = match.group(2)
        if only_dead and (pid is None or _alive(int(pid))):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


# ---------------------------------------------------------------- cells a spreadsheet opens, names from data

def _formula_like(text: str) -> bool:
    return text.lstrip("'")[:1] in FORMULA_STARTS and text.lstrip("'") != ""


def quote_cell(value: Any) -> Any:
    """Text that a spreadsheet would take as a formula gets a leading `'` (numbers stay numbers);
    text already starting with quotes before such a start gets one more, so `unquote_cell` undoes it."""
    if isinstance(value, str) and _formula_like(value):
        return "'" + value
    return value


def unquote_cell(value: Any) -> Any:
    """The text `quote_cell` was given."""
    if isinstance(value, str) and value.startswith("'") and _formula_like(value[1:]):
        return value[1:]
    return value


def quote_frame(frame):
    """A copy of a pandas frame whose text cells are `quote_cell`ed (for a CSV a spreadsheet opens)."""
    frame = frame.copy()
    frame.columns = [quote_cell(c) for c in frame.columns]
    for i, dtype in enumerate(frame.dtypes):
        if getattr(dtype, "kind", "O") == "O" or str(dtype) == "category":     # text (object, str, category)
            frame.isetitem(i, frame.iloc[:, i].astype(object).map(quote_cell))
    return frame


def unquote_frame(frame):
    """A frame read from a CSV written through `quote_frame`, its text as it was."""
    frame = frame.copy()
    frame.columns = [unquote_cell(c) for c in frame.columns]
    for i, dtype in enumerate(frame.dtypes):
        if getattr(dtype, "kind", "O") == "O":
            frame.isetitem(i, frame.iloc[:, i].map(unquote_cell))
    return frame


def guard_cell(cell) -> None:
    """An openpyxl cell holding text a spreadsheet could take as a formula: kept as text, with
    Excel's quote prefix (so editing the cell does not turn it into one either)."""
    value = cell.value
    if isinstance(value, str) and (cell.data_type == "f" or value.lstrip("'")[:1] in FORMULA_STARTS):
        cell.data_type = "s"
        cell.quotePrefix = True


def guard_sheet(sheet) -> None:
    """`guard_cell` for every cell of an openpyxl worksheet (not write-only)."""
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                guard_cell(cell)


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def safe_name(text: object, fallback: str = "city", limit: int = 80) -> str:
    """One path component made from data (a city's name): no separators, no `..`, no leading dot,
    no control characters; `fallback` when nothing is left."""
    name = _UNSAFE.sub("_", str(text)).strip(" ._")
    name = name[:limit].strip(" ._")
    return name or fallback
