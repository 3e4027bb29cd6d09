"""Run lm-eval's standard tasks offline from a data dir holding the ORIGINAL benchmark files.

For each requested standard task the original files are converted (``converters.py``) to the Hugging Face
layout, written as jsonl next to a task YAML that ``include:``-s lm-eval's own YAML of that name and
changes only the data source, so prompts, targets and metrics are lm-eval's. The YAML keeps the task
name (``task: arc_easy``): lm-eval's ``TaskManager`` lets a later include path override a built-in task
of the same name, so results stay keyed ``arc_easy``. Generated tasks (``synthetic.py``) need no data.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from explorer.hints import did_you_mean
from explorer.tasks.converters import CONVERTER_VERSION, SPECS
from explorer.tasks.synthetic import (
    SYNTHETIC_TASKS,
    atomic_write_bytes,
    prepare_synthetic_task,
    task_config,
    write_if_changed,
    yaml_bytes,
)

if TYPE_CHECKING:
    from lm_eval.tasks import TaskManager

__all__ = [
    "OFFLINE_TASKS",
    "SYNTHETIC_TASKS",
    "PreparedTasks",
    "demo_tasks",
    "find_data_dir",
    "lm_eval_tasks_dir",
    "prepare_synthetic_task",
    "prepare_tasks",
    "task_manager",
]

OFFLINE_TASKS: tuple[str, ...] = tuple(SPECS)
DEMO_OFFLINE_TASKS: tuple[str, ...] = ("arc_easy", "piqa", "boolq")
# Keys of a task YAML that define where the data comes from; everything else is lm-eval's.
DATA_KEYS = frozenset(
    {"dataset_path", "dataset_name", "dataset_kwargs", "training_split", "validation_split", "test_split"}
    | {"fewshot_split", "tag"}
)


@dataclass(frozen=True)
class PreparedTasks:
    """What the runner needs to hand the requested tasks to lm-eval."""

    include_path: list[str]  # folders for lm_eval.tasks.TaskManager(include_path=...)
    lm_eval_names: dict[str, str]  # requested name -> task name to pass to lm-eval
    fingerprints: dict[str, str]  # requested name -> sha256 of what defines the data ("" for hub tasks)
    sources: dict[str, str]  # requested name -> "data_dir:<p>" | "generated" | "lm_eval" | "user_dir:<p>"
    # requested name -> sha256 of the task definition lm-eval loads (its YAMLs, their includes, !function .py)
    definitions: dict[str, str] = field(default_factory=dict)
    local: dict[str, bool] = field(default_factory=dict)  # requested name -> needs nothing from the hub

    @property
    def all_local(self) -> bool:
        """Every task reads local files only (the worker can then run with the HF offline flags set)."""
        return bool(self.local) and all(self.local.values())


# ---------------------------------------------------------------------------------------------- locations


def lm_eval_tasks_dir() -> Path:
    """The ``lm_eval/tasks`` folder of the installed lm-eval (found without importing lm_eval)."""
    import importlib.util

    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("lm_eval is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "tasks"


def lm_eval_cache_tag() -> str:
    """``lm_eval-<version>-<hash of its install path>``: the generated task YAMLs include lm-eval's own YAMLs by
    absolute path, so each install gets its own cache folder (two venvs never rewrite each other's)."""
    from explorer.quant.registry import package_version

    where = hashlib.sha256(str(lm_eval_tasks_dir().resolve()).encode()).hexdigest()[:8]
    return f"lm_eval-{package_version('lm_eval')}-{where}"


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


def _records_jsonl(records: list[dict[str, Any]]) -> bytes:
    """JSON-lines bytes of converted records."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


# ---------------------------------------------------------------------------------------------- definitions

LOCAL_BUILDERS = frozenset({"json", "csv", "parquet", "text", "arrow", "pandas"})  # datasets' file builders


class _FunctionTagLoader(yaml.SafeLoader):
    """Reads lm-eval task YAMLs without importing anything (``!function mod.fn`` stays a string)."""


_FunctionTagLoader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


def _definition_files(path: Path, seen: set[Path]) -> list[Path]:
    """``path``, the YAMLs it includes (recursively) and the .py files its ``!function`` tags name."""
    path = path.expanduser().resolve()
    if path in seen or not path.is_file():
        return []
    seen.add(path)
    text = path.read_text(encoding="utf-8")
    cfg = yaml.load(text, Loader=_FunctionTagLoader)  # noqa: S506 (a SafeLoader)
    includes = cfg.get("include") if isinstance(cfg, dict) else None
    out = [path]
    for inc in includes if isinstance(includes, list) else [includes] if includes else []:
        out += _definition_files(Path(inc) if Path(inc).is_absolute() else path.parent / inc, seen)
    for ref in sorted(set(re.findall(r"!function\s+([\w.]+)", text))):
        module = (path.parent / (ref.rpartition(".")[0].replace(".", "/") + ".py")).resolve()
        if module.is_file() and module not in seen:
            seen.add(module)
            out.append(module)
    return out


def _hash_files(files: Iterable[Path], roots: Sequence[Path], extra: str = "") -> str:
    """sha256 of ``extra`` and each file's name (relative to the first root holding it: install and cache
    locations stay out) and content (files over 64 MB: size and mtime)."""
    digest = hashlib.sha256(extra.encode())
    for path in files:
        name = next((str(path.relative_to(r)) for r in roots if path.is_relative_to(r)), str(path))
        st = path.stat()
        digest.update(f"|{name}|".encode())
        digest.update(path.read_bytes() if st.st_size <= 64 << 20 else f"{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()


def _index_parts(index: dict[str, Any], name: str, seen: set[str]) -> tuple[list[Path], list[dict]]:
    """(definition files, task configs) of an index entry: a task, or a group/tag with its members."""
    entry = index.get(name)
    if entry is None or name in seen:
        return [], []
    seen.add(name)
    files = _definition_files(Path(entry.yaml_path), set()) if entry.yaml_path else []
    kind = getattr(entry.kind, "name", "")
    cfgs = [entry.cfg] if kind in ("TASK", "PY_TASK") and entry.cfg else []
    members = sorted(entry.tags) if kind == "TAG" else []
    if kind == "GROUP":
        listed = (entry.cfg or {}).get("task", [])
        members = [t for t in (listed if isinstance(listed, list) else [listed]) if isinstance(t, str)]
    for member in members:
        more_files, more_cfgs = _index_parts(index, member, seen)
        files, cfgs = files + [f for f in more_files if f not in files], cfgs + more_cfgs
    return files, cfgs


def _data_files(cfg: dict[str, Any], yaml_dir: Path) -> tuple[list[Path], bool]:
    """(local data files, whether the task reads only local files) of one user task config; a local data file
    that is missing is an error now, not in the worker. Relative paths are globbed from the current folder."""
    path = str(cfg.get("dataset_path") or "")
    if path not in LOCAL_BUILDERS:
        folder = Path(path).expanduser()
        is_dir = bool(path) and folder.is_dir()
        return (sorted(p.resolve() for p in folder.rglob("*") if p.is_file()) if is_dir else []), is_dir
    spec = (cfg.get("dataset_kwargs") or {}).get("data_files") or {}
    given = [spec] if isinstance(spec, str) else list(spec.values()) if isinstance(spec, dict) else list(spec)
    found: list[Path] = []
    for item in (f for v in given for f in ([v] if isinstance(v, str) else v)):
        matches = sorted(glob.glob(os.path.expanduser(str(item)), recursive=True))
        if not matches:
            raise ValueError(
                f"task {cfg.get('task')!r} (include folder {yaml_dir}): data file {item!r} not found "
                f"(relative paths are read from the current folder {Path.cwd()})"
            )
        found += [Path(m).resolve() for m in matches if Path(m).is_file()]
    return found, True


def user_task(index: dict[str, Any], name: str, folder: str) -> tuple[str, str, bool]:
    """(definition, fingerprint, local) of a task declared in a user's include folder: the definition hashes
    the task's YAML and what it includes (never the folder's other YAMLs), the fingerprint adds its data."""
    files, cfgs = _index_parts(index, name, set())
    roots = [Path(folder), lm_eval_tasks_dir()]
    definition = _hash_files(files, roots, f"explorer-user-task|{name}")
    data, local = [], bool(cfgs)
    for cfg in cfgs:
        found, is_local = _data_files(cfg, Path(folder))
        data, local = data + found, local and is_local
    return definition, _hash_files(data, roots, f"explorer-user-data|{definition}"), local


def builtin_definition(index: dict[str, Any] | None, name: str) -> str:
    """sha256 of lm-eval's own definition of ``name`` (its YAMLs, includes and !function files)."""
    if name in SPECS:
        files = _definition_files(lm_eval_tasks_dir() / SPECS[name].lm_eval_yaml, set())
    else:
        files = _index_parts(index or {}, name, set())[0]
    return _hash_files(files, [lm_eval_tasks_dir()], f"explorer-lm-eval-task|{name}")


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
                atomic_write_bytes(path, _records_jsonl(records[split]))
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
    write_if_changed(folder / f"{name}.yaml", yaml_bytes(cfg, header))
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


def _user_dir_index(folder: str) -> dict[str, Any]:
    """The task index (name -> lm-eval Entry) of the YAMLs in one user folder."""
    from lm_eval.tasks import TaskManager

    return dict(TaskManager(include_path=folder, include_defaults=False).task_index)


def offline_definition(name: str) -> str:
    """sha256 of what lm-eval loads for an offline task: lm-eval's own YAMLs (via include) and our YAML's
    non-path keys (its data files are in the fingerprint)."""
    spec = SPECS[name]
    ours = {"task": name, "tag": [], "dataset_path": "json", "dataset_name": None, **spec.splits}
    files = _definition_files(lm_eval_tasks_dir() / spec.lm_eval_yaml, set())
    return _hash_files(files, [lm_eval_tasks_dir()], json.dumps(ours, sort_keys=True))


# ---------------------------------------------------------------------------------------------- public


def prepare_tasks(
    names: list[str], data_dir: str | Path | None, cache_dir: Path, include_dirs: Sequence[str | Path] = ()
) -> PreparedTasks:
    """Make every name in ``names`` loadable by lm-eval; see the module docstring.

    Resolution order per name: generated task, a task declared in ``include_dirs``, a standard task
    converted from ``data_dir`` (when given), else lm-eval's own task (checked to exist). Files are generated
    below ``cache_dir/<lm_eval_cache_tag()>``.
    """
    cache_dir = Path(cache_dir) / lm_eval_cache_tag()
    user_dirs = [str(Path(d).expanduser().resolve()) for d in include_dirs]
    for d in user_dirs:
        if not Path(d).is_dir():
            raise ValueError(f"include dir {d} does not exist")
    user_index = {d: _user_dir_index(d) for d in user_dirs}
    folders: list[str] = []
    fps: dict[str, str] = {}
    sources: dict[str, str] = {}
    defs: dict[str, str] = {}
    local: dict[str, bool] = {}
    passthrough: list[str] = []
    for name in dict.fromkeys(names):
        user = next((d for d in user_dirs if name in user_index[d]), None)
        if name in SYNTHETIC_TASKS:
            folder, fps[name] = prepare_synthetic_task(name, cache_dir)
            folders.append(str(folder))
            sources[name], local[name] = "generated", True
            defs[name] = hashlib.sha256(json.dumps(task_config(name, {}), sort_keys=True).encode()).hexdigest()
        elif user is not None:
            defs[name], fps[name], local[name] = user_task(user_index[user], name, user)
            sources[name] = f"user_dir:{user}"
        elif data_dir is not None and name in SPECS:
            folder, fps[name] = prepare_offline_task(name, data_dir, cache_dir)
            folders.append(str(folder))
            sources[name], local[name] = f"data_dir:{Path(data_dir).resolve()}", True
            defs[name] = offline_definition(name)
        else:
            fps[name], sources[name], local[name] = "", "lm_eval", False
            passthrough.append(name)
    include_path = list(dict.fromkeys(folders + user_dirs))
    _silence_own_overrides(Path(f) for f in folders)
    index = _check_known([n for n in passthrough if n not in SPECS], include_path)
    defs.update({name: builtin_definition(index, name) for name in passthrough})
    return PreparedTasks(include_path, {n: n for n in sources}, fps, sources, defs, local)


def _check_known(names: list[str], include_path: list[str]) -> dict[str, Any] | None:
    """lm-eval's task index when ``names`` need it; an unknown name is an error with the closest names."""
    if not names:
        return None
    tm = task_manager(include_path)
    known = set(tm.all_tasks) | set(SYNTHETIC_TASKS)
    for name in names:
        if name not in known:
            hint = did_you_mean(name, sorted(known), n=5, cutoff=0.6) or " (no close match)"
            raise ValueError(f"unknown task {name!r}: not in lm-eval, not generated, not in the include dirs{hint}")
    return dict(tm.task_index)
