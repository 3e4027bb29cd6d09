"""A results folder at an object-store URI (s3://, gs://, az://, ... through fsspec): the same files as a local
folder (records/, samples/, docs/, sweeps/), kept in a local staging copy while a sweep runs.

- `pull()`: the URI's records, samples and docs not yet in the staging folder are downloaded into it, so
  planning skips what is finished wherever it ran (resume across machines and executors).
- `push_missing()`: records finished here but absent from the URI are uploaded (after a pull, before planning).
- `push(record)`: a cell's samples, then its task's docs, then its record are uploaded (in that order, as on
  disk: a record on the URI means its samples are there). An object store writes each object whole; a plain
  filesystem (file://) gets a temp name then a rename. Already uploaded files of the same size are skipped.
- The staging folder is `<cache>/stores/<sha of the URI>`: the same path on every node, so a Ray task writes
  there and uploads each record as it lands (explorer/launcher/ray_executor.py), and the driver pulls to follow.
Two sweeps writing one URI at once are not prevented (the lock is per machine); records are content-keyed, so
the worst case is a cell run twice with the same result.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
FOLDERS = ("records", "samples", "docs")


def is_uri(out: str | Path) -> bool:
    """True for `scheme://...` (an fsspec URL), False for a local path."""
    return bool(URI.match(str(out)))


class Store:
    """The URI's files and their staging copy (module text)."""

    def __init__(self, uri: str) -> None:
        try:
            import fsspec
        except ImportError:
            raise ValueError(f"results at {uri} need fsspec (and the store's package, e.g. s3fs)") from None
        try:
            self.fs, root = fsspec.core.url_to_fs(uri)
        except (ImportError, ValueError) as exc:
            raise ValueError(f"cannot open the results store {uri}: {exc}") from None
        self.uri, self.root = uri, root.rstrip("/")
        from explorer.paths import sub_cache

        self.staging = sub_cache("stores") / hashlib.sha256(uri.encode()).hexdigest()[:16]

    def _remote(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def pull(self, only_missing: bool = False) -> int:
        """Download what the staging folder lacks (or, unless `only_missing`, holds at another size: before
        planning, the store wins); returns the number of files. While a sweep runs only missing files are
        fetched, so a record this machine just wrote is never replaced by an older upload."""
        n = 0
        for folder in FOLDERS:
            try:
                entries = self.fs.ls(self._remote(folder), detail=True)
            except FileNotFoundError:
                continue
            for entry in entries:
                name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
                local = self.staging / folder / name
                if name.startswith(".") or entry.get("type") == "directory":
                    continue
                if not local.exists() or (not only_missing and local.stat().st_size != entry.get("size")):
                    local.parent.mkdir(parents=True, exist_ok=True)
                    tmp = local.with_name(f".{name}.pull")
                    self.fs.get_file(entry["name"], str(tmp))
                    tmp.replace(local)
                    n += 1
        return n

    def _put(self, rel: str) -> None:
        local = self.staging / rel
        if not local.exists():
            return
        remote = self._remote(rel)
        try:
            if self.fs.info(remote).get("size") == local.stat().st_size:
                return
        except FileNotFoundError:
            pass
        self.fs.makedirs(remote.rsplit("/", 1)[0], exist_ok=True)
        if "file" in _protocols(self.fs):
            tmp = remote.rsplit("/", 1)[0] + f"/.{rel.rsplit('/', 1)[-1]}.tmp"
            self.fs.put_file(str(local), tmp)
            self.fs.mv(tmp, remote)
        else:
            self.fs.put_file(str(local), remote)

    def push(self, record: dict[str, Any]) -> None:
        """Upload one cell: its samples, its task's docs, then its record."""
        cid = record["cell_id"]
        self._put(f"samples/{cid}.jsonl")
        if record.get("task"):
            self._put(f"docs/{record['task']}.jsonl")
        self._put(f"records/{cid}.json")

    def push_missing(self) -> int:
        """Upload the staging folder's records that the store lacks (a cell finished here whose upload did not
        happen: a lost connection, a store emptied since); returns how many. Called after `pull()` before
        planning, so the store and this machine agree on what is finished."""
        try:
            there = {p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self._remote("records"), detail=False)}
        except FileNotFoundError:
            there = set()
        n = 0
        for path in sorted((self.staging / "records").glob("*.json")):
            if path.name in there:
                continue
            try:
                self.push(json.loads(path.read_text()))
            except (OSError, json.JSONDecodeError):
                continue  # a damaged local copy stays local: check_folder reports it
            n += 1
        return n

    def push_folder(self, folder: str = "sweeps") -> None:
        """Upload a whole staging sub-folder (the sweeps' meta files)."""
        for path in sorted((self.staging / folder).glob("*")):
            self._put(f"{folder}/{path.name}")


def _protocols(fs: Any) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


class Pusher:
    """Called while a job runs (the launcher's on_poll): uploads each of the job's records once it lands."""

    def __init__(self, store: Store, cell_ids: list[str]) -> None:
        self.store, self.wanted, self.done = store, set(cell_ids), set()
        self.before = {c: _mtime(store.staging / "records" / f"{c}.json") for c in cell_ids}

    def __call__(self) -> None:
        for cid in sorted(self.wanted - self.done):
            path = self.store.staging / "records" / f"{cid}.json"
            if _mtime(path) in (None, self.before[cid]):
                continue
            try:
                record = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            self.store.push(record)
            self.done.add(cid)


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None
