"""Run lm-eval's standard tasks offline from a data dir holding the ORIGINAL benchmark files.

For each requested standard task the original files are converted (``converters.py``) to the Hugging Face
layout, written as jsonl next to a task YAML that ``include:``-s lm-eval's own YAML of that name and
changes only the data source, so prompts, targets and metrics are lm-eval's. The YAML keeps the task
name (``task: arc_easy``): lm-eval's ``TaskManager`` lets a later include path override a built-in task
of the same name, so results stay keyed ``arc_easy``. Generated tasks (``synthetic.py``) need no data.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from explorer.tasks.converters import CONVERTER_VERSION, SPECS
from explorer.tasks.synthetic import (
    DEFAULT_SEED,
    GENERATOR_VERSION,
    SYNTHETIC_TASKS,
    generate_splits,
    task_config,
)
from explorer.tasks.synthetic import to_jsonl as _to_jsonl

if TYPE_CHECKING:
    from lm_eval.tasks import TaskManager

__all__ = [
    "OFFLINE_TASKS",
    "SYNTHETIC_TASKS",
    "PreparedTasks",
    "demo_tasks",
    "find_data_dir",
    "lm_eval_tasks_dir",
    "prepare_tasks",
    "task_manager",
]

OFFLINE_TASKS: tuple[str, ...] = tuple(SPECS)
DEMO_OFFLINE_TASKS: tuple[str, ...] = ("arc_easy", "piqa", "boolq")
# Keys of a task YAML that define where the data comes from; everything else is lm-eval's.
DATA_KEYS = frozenset(
    {
        "dataset_path",
        "dataset_name",
        "dataset_kwargs",
        "training_split",
        "validation_split",
        "test_split",
        "fewshot_split",
        "tag",
    }
)


@dataclass(frozen=True)
class PreparedTasks:
    """What the runner needs to hand the requested tasks to lm-eval."""

    include_path: list[str]  # folders for lm_eval.tasks.TaskManager(include_path=...)
    lm_eval_names: dict[str, str]  # requested name -> task name to pass to lm-eval
    fingerprints: dict[str, str]  # requested name -> sha256 of what defines the data ("" for hub tasks)
    sources: dict[str, str]  # requested name -> "data_dir:<p>" | "generated" | "lm_eval" | "user_dir:<p>"


# ---------------------------------------------------------------------------------------------- locations


def lm_eval_tasks_dir() -> Path:
    """The ``lm_eval/tasks`` folder of the installed lm-eval (found without importing lm_eval)."""
    import importlib.util

    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("lm_eval is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "tasks"


def find_data_dir(explicit: str | Path | None = None) -> Path | None:
    """``explicit``, else ``$EXPLORER_DATA_DIR``, else ``<repo>/../shared/benchmarks`` if there, else None."""
    for value in (explicit, os.environ.get("EXPLORER_DATA_DIR")):
        if value:
            return Path(value).expanduser().resolve()
    default = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks"
    return default if default.is_dir() else None


def missing_files(name: str, data_dir: str | Path) -> list[Path]:
    """Files that standard task ``name`` needs and ``data_dir`` lacks."""
    return [Path(data_dir) / f for f in SPECS[name].files if not (Path(data_dir) / f).is_file()]


def demo_tasks(data_dir: str | Path | None) -> list[str]:
    """``["arc_easy", "piqa", "boolq"]`` when ``data_dir`` holds their files, else the generated tasks."""
    if data_dir is not None and not any(missing_files(n, data_dir) for n in DEMO_OFFLINE_TASKS):
        return list(DEMO_OFFLINE_TASKS)
    return list(SYNTHETIC_TASKS)


# ---------------------------------------------------------------------------------------------- file helpers


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_if_changed(path: Path, data: bytes) -> None:
    """Atomically (re)write ``path`` unless it already holds exactly ``data``."""
    if not (path.is_file() and path.read_bytes() == data):
        _atomic_write(path, data)


def _records_jsonl(records: list[dict[str, Any]]) -> bytes:
    """JSON-lines bytes of converted records."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def _yaml_bytes(cfg: dict[str, Any], header: str) -> bytes:
    """A task YAML with a comment header."""
    body = yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True, width=1000)
    return (f"# {header}\n" + body).encode("utf-8")


# ---------------------------------------------------------------------------------------------- offline tasks


def offline_fingerprint(name: str, data_dir: str | Path) -> str:
    """sha256 of task name, converter version and the bytes of every source file (clear error if missing)."""
    data_dir = Path(data_dir)
    if name not in SPECS:
        raise ValueError(f"no offline converter for task {name!r}; supported: {', '.join(OFFLINE_TASKS)}")
    missing = missing_files(name, data_dir)
    if missing:
        raise ValueError(f"task {name!r}: missing file {missing[0]} in data dir {data_dir}")
    h = hashlib.sha256(f"explorer-offline|{name}|converter={CONVERTER_VERSION}".encode())
    for rel in SPECS[name].files:
        h.update(f"|{rel}|".encode())
        h.update((data_dir / rel).read_bytes())
    return h.hexdigest()


def prepare_offline_task(name: str, data_dir: str | Path, cache_dir: Path) -> tuple[Path, str]:
    """Convert ``name``'s original files into ``cache_dir/<name>-<fp>/``; return (folder, fingerprint)."""
    spec = SPECS[name]
    data_dir = Path(data_dir).resolve()
    fp = offline_fingerprint(name, data_dir)
    folder = Path(cache_dir).resolve() / f"{name}-{fp[:16]}"
    files = {s: folder / f"{s}.jsonl" for s in sorted({v for v in spec.splits.values() if v})}
    if not all(p.is_file() for p in files.values()):
        records = spec.records(data_dir)
        for split, path in files.items():
            if not path.is_file():
                _atomic_write(path, _records_jsonl(records[split]))
    builtin = lm_eval_tasks_dir() / spec.lm_eval_yaml
    if not builtin.is_file():
        raise FileNotFoundError(f"lm-eval's own YAML for {name!r} not found at {builtin}")
    cfg: dict[str, Any] = {
        "include": str(builtin),
        "task": name,
        "tag": [],  # do not re-register lm-eval's tags (e.g. ai2_arc) from this folder
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": {s: str(p) for s, p in files.items()}},
        **spec.splits,
    }
    note = spec.note or "same splits"
    header = f"{name} from original files in {data_dir} (converter v{CONVERTER_VERSION}); {note}"
    _write_if_changed(folder / f"{name}.yaml", _yaml_bytes(cfg, header))
    return folder, fp


# ---------------------------------------------------------------------------------------------- generated


def prepare_synthetic_task(name: str, cache_dir: Path, seed: int = DEFAULT_SEED) -> tuple[Path, str]:
    """Generate ``name`` into ``cache_dir/<name>-<fp>/``; return (folder, fingerprint)."""
    blobs = {split: _to_jsonl(docs) for split, docs in generate_splits(name, seed).items()}
    h = hashlib.sha256(f"explorer-generated|{name}|generator={GENERATOR_VERSION}|seed={seed}".encode())
    for split in sorted(blobs):
        h.update(f"|{split}|".encode())
        h.update(blobs[split])
    fp = h.hexdigest()
    folder = Path(cache_dir).resolve() / f"{name}-{fp[:16]}"
    files = {split: folder / f"{split}.jsonl" for split in sorted(blobs)}
    for split, path in files.items():
        if not path.is_file():
            _atomic_write(path, blobs[split])
    cfg = task_config(name, {s: str(p) for s, p in files.items()})
    header = f"{name}: generated (generator v{GENERATOR_VERSION}, seed {seed})"
    _write_if_changed(folder / f"{name}.yaml", _yaml_bytes(cfg, header))
    return folder, fp


# ---------------------------------------------------------------------------------------------- TaskManager


class _OwnOverrideFilter(logging.Filter):
    """Drop lm-eval's "Task X from <path> overrides existing task" warning for folders this module wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.roots: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if "overrides existing task" in str(record.msg) and len(args) >= 2:
            return not any(str(args[1]).startswith(root) for root in self.roots)
        return True


_FILTER = _OwnOverrideFilter()


def _silence_own_overrides(folders: Iterable[Path]) -> None:
    _FILTER.roots.update(str(Path(f).resolve()) + os.sep for f in folders)
    logger = logging.getLogger("lm_eval.tasks._index")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


@functools.lru_cache(maxsize=4)
def _cached_task_manager(include_path: tuple[str, ...]) -> TaskManager:
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=list(include_path) or None)


def task_manager(include_path: Sequence[str | Path] = ()) -> TaskManager:
    """A cached ``TaskManager(include_path=...)`` (building one scans ~14k lm-eval YAMLs: ~6 s)."""
    return _cached_task_manager(tuple(str(p) for p in include_path))


def _user_dir_index(folder: str) -> dict[str, str]:
    """Names declared by YAMLs in one user folder -> yaml path ("" for tags)."""
    from lm_eval.tasks import TaskManager

    tm = TaskManager(include_path=folder, include_defaults=False)
    return {name: str(e.yaml_path or "") for name, e in tm.task_index.items()}


def _dir_fingerprint(folder: str) -> str:
    """sha256 over every file of a user task folder (YAMLs, their !function .py files, local data), so editing
    any of them re-runs the cells; files over 64 MB enter by size and mtime instead of content."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        st = path.stat()
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes() if st.st_size <= 64 << 20 else f"{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------- public


def prepare_tasks(
    names: list[str], data_dir: str | Path | None, cache_dir: Path, include_dirs: Sequence[str | Path] = ()
) -> PreparedTasks:
    """Make every name in ``names`` loadable by lm-eval; see the module docstring.

    Resolution order per name: generated task, a task declared in ``include_dirs``, a standard task
    converted from ``data_dir`` (when given), else lm-eval's own task (checked to exist).
    """
    cache_dir = Path(cache_dir)
    user_dirs = [str(Path(d).expanduser().resolve()) for d in include_dirs]
    for d in user_dirs:
        if not Path(d).is_dir():
            raise ValueError(f"include dir {d} does not exist")
    user_index = {d: _user_dir_index(d) for d in user_dirs}
    folders: list[str] = []
    lm_names: dict[str, str] = {}
    fps: dict[str, str] = {}
    sources: dict[str, str] = {}
    passthrough: list[str] = []
    for name in dict.fromkeys(names):
        user = next((d for d in user_dirs if name in user_index[d]), None)
        if name in SYNTHETIC_TASKS:
            folder, fps[name] = prepare_synthetic_task(name, cache_dir)
            folders.append(str(folder))
            sources[name] = "generated"
        elif user is not None:
            fps[name] = _dir_fingerprint(user)
            sources[name] = f"user_dir:{user}"
        elif data_dir is not None and name in SPECS:
            folder, fps[name] = prepare_offline_task(name, data_dir, cache_dir)
            folders.append(str(folder))
            sources[name] = f"data_dir:{Path(data_dir).resolve()}"
        else:
            fps[name] = ""
            sources[name] = "lm_eval"
            passthrough.append(name)
        lm_names[name] = name
    include_path = list(dict.fromkeys(folders + user_dirs))
    _silence_own_overrides(Path(f) for f in folders)
    unknown_candidates = [n for n in passthrough if n not in SPECS]
    if unknown_candidates:
        known = set(task_manager(include_path).all_tasks) | set(SYNTHETIC_TASKS)
        for name in unknown_candidates:
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=5, cutoff=0.6)
                hint = ", ".join(close) if close else "(no close match)"
                raise ValueError(
                    f"unknown task {name!r} (not in lm-eval, not generated, not in the include dirs); "
                    f"did you mean: {hint}"
                )
    return PreparedTasks(include_path=include_path, lm_eval_names=lm_names, fingerprints=fps, sources=sources)
