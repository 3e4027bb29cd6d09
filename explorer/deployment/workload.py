"""The workload and deployment a bill is computed for: traffic, latency targets, tokens, hardware, billing.

One dataclass, `Workload`, with help text on every field and checks in __post_init__; built from Python, from a
YAML file (`load_workload`), from CLI flags (`add_workload_flags` / `workload_from_args`, generated from the
fields) and from the app's widgets (explorer.ui.explore). Errors are one line naming the field.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from explorer.hints import did_you_mean

BILLING = ("per-hour", "per-second", "self-hosted")
HOURS_PER_DAY = 24
SECONDS_PER_DAY = 86_400.0


class WorkloadError(ValueError):
    """A workload setting that does not validate (one readable line)."""


def _help(text: str, default: Any = MISSING, **kw: Any) -> Any:
    if default is MISSING:
        return field(metadata={"help": text}, **kw)
    return field(default=default, metadata={"help": text}, **kw)


@dataclass(frozen=True)
class Workload:
    """What a deployment must serve and how it is paid for. Every field has a default; see each one's help."""

    queries_per_day: float = _help("queries the deployment serves per day", 10_000.0)
    peak_to_mean: float = _help("peak hour's query rate / the day's mean rate (ignored with hourly_profile)", 2.0)
    hourly_profile: tuple[float, ...] | None = _help(
        "24 relative weights, one per hour of the day (any fixed clock); overrides peak_to_mean", None
    )
    latency_s: float = _help(
        "latency target of one query of a scored task (the forward passes that hold it), seconds", 2.0
    )
    ttft_s: float = _help("generation workloads: time-to-first-token target (one batch's prefill), seconds", 1.0)
    tpot_s: float = _help("generation workloads: time-per-output-token target (one decode step), seconds", 0.2)
    prompt_tokens: float | None = _help(
        "tokens one query reads; null: as measured (the task's own, or the serving profile's prompt)", None
    )
    output_tokens: int | None = _help(
        "null: serve the measured tasks as scored; N >= 1: a generation workload of N output tokens per query, "
        "timed from the serving profiles (explorer profile)",
        None,
    )
    hardware: tuple[str, ...] = _help("catalog hardware to compare (empty: every catalog entry)", ())
    provider: str | None = _help("price of this provider where it lists the hardware (null: the cheapest)", None)
    price_scale: float = _help("multiplies every catalog price (e.g. 0.6 for a committed-use discount)", 1.0)
    measured_usd_per_hour: float | None = _help(
        "USD per hour of the machine the results were measured on, when it is no catalog entry: adds it as a "
        "hardware option with measured cost",
        None,
    )
    billing: str = _help(
        "per-hour: instances billed by the hour, min_replicas always on | per-second: serverless, only busy "
        "seconds billed, scales to zero | self-hosted: owned hardware, purchase amortised + energy incl. idle",
        "per-hour",
    )
    min_replicas: int = _help("per-hour and self-hosted: replicas that stay on however low the traffic", 1)
    autoscale: bool = _help(
        "with an hourly_profile: size the fleet hour by hour (else the peak hour's fleet all day); self-hosted: "
        "only powers replicas down, the peak fleet is still owned",
        False,
    )
    utilisation_ceiling: float = _help("the busy share a replica may reach at peak (headroom), 0-1", 0.8)
    days_per_month: float = _help("days billed per month", 30.0)
    usd_per_kwh: float = _help("self-hosted: electricity price, USD per kWh", 0.15)
    lifetime_years: float = _help("self-hosted: years over which the purchase price is spread", 4.0)
    idle_power_fraction: float = _help(
        "self-hosted: idle power as a share of TDP where the catalog gives no idle_w (an assumption)", 0.25
    )
    baseline_hardware: str | None = _help(
        "the 'default to the biggest' baseline: the most accurate configuration on this hardware (null: the "
        "catalog's most powerful GPU)",
        None,
    )

    def __post_init__(self) -> None:
        self._positive("queries_per_day", allow_zero=True)
        for name in ("latency_s", "ttft_s", "tpot_s", "days_per_month", "lifetime_years", "peak_to_mean"):
            self._positive(name)
        if self.peak_to_mean < 1:
            raise WorkloadError(f"peak_to_mean must be >= 1 (peak / mean), got {self.peak_to_mean}")
        self._positive("price_scale")
        self._positive("usd_per_kwh", allow_zero=True)
        for name in ("prompt_tokens", "measured_usd_per_hour"):
            if getattr(self, name) is not None:
                self._positive(name)
        if self.output_tokens is not None and (not isinstance(self.output_tokens, int) or self.output_tokens < 1):
            raise WorkloadError(f"output_tokens must be null or an integer >= 1, got {self.output_tokens!r}")
        if not isinstance(self.min_replicas, int) or isinstance(self.min_replicas, bool) or self.min_replicas < 1:
            raise WorkloadError(f"min_replicas must be an integer >= 1, got {self.min_replicas!r}")
        if not 0 < self.utilisation_ceiling <= 1:
            raise WorkloadError(f"utilisation_ceiling must be in (0, 1], got {self.utilisation_ceiling}")
        if not 0 <= self.idle_power_fraction <= 1:
            raise WorkloadError(f"idle_power_fraction must be in [0, 1], got {self.idle_power_fraction}")
        if self.billing not in BILLING:
            raise WorkloadError(
                f"billing: unknown {self.billing!r}{did_you_mean(self.billing, BILLING)}; known: {', '.join(BILLING)}"
            )
        if self.hourly_profile is not None:
            weights = tuple(self.hourly_profile)
            if len(weights) != HOURS_PER_DAY or any(_bad(w) or w < 0 for w in weights) or sum(weights) <= 0:
                raise WorkloadError("hourly_profile must be 24 numbers >= 0, not all 0 (one per hour of the day)")
            object.__setattr__(self, "hourly_profile", tuple(float(w) for w in weights))
        object.__setattr__(self, "hardware", tuple(self.hardware))

    def _positive(self, name: str, allow_zero: bool = False) -> None:
        value = getattr(self, name)
        if _bad(value) or value < 0 or (value == 0 and not allow_zero):
            raise WorkloadError(f"{name} must be a number {'>= 0' if allow_zero else '> 0'}, got {value!r}")

    # ------------------------------------------------------------ traffic
    @property
    def is_generation(self) -> bool:
        return self.output_tokens is not None

    @property
    def hours_per_month(self) -> float:
        return HOURS_PER_DAY * self.days_per_month

    @property
    def queries_per_month(self) -> float:
        return self.queries_per_day * self.days_per_month

    def hourly_qps(self) -> tuple[float, ...]:
        """Mean queries per second in each hour of the day (flat without an hourly_profile)."""
        if self.hourly_profile is None:
            return (self.queries_per_day / SECONDS_PER_DAY,) * HOURS_PER_DAY
        total = sum(self.hourly_profile)
        return tuple(self.queries_per_day * w / total / 3600.0 for w in self.hourly_profile)

    @property
    def peak_qps(self) -> float:
        """Queries per second in the peak hour: mean x peak_to_mean, or the busiest hour of the profile."""
        if self.hourly_profile is None:
            return self.queries_per_day / SECONDS_PER_DAY * self.peak_to_mean
        return max(self.hourly_qps())

    def service_key(self) -> tuple:
        """The fields service times depend on (`explorer.deployment.table.serve`): a cache key."""
        keys = ["hardware", "baseline_hardware", "latency_s", "ttft_s", "tpot_s", "prompt_tokens", "output_tokens"]
        if self.is_generation:  # the batch a generation serves depends on the queries in flight at the peak
            keys += ["queries_per_day", "peak_to_mean", "hourly_profile"]
        return (*(getattr(self, k) for k in keys), self.measured_usd_per_hour is not None)

    def with_(self, **changes: Any) -> Workload:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["hardware"] = list(self.hardware)
        out["hourly_profile"] = list(self.hourly_profile) if self.hourly_profile else None
        return out


def _bad(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value)


FIELD_NAMES = tuple(f.name for f in fields(Workload))


def workload_from_mapping(raw: Mapping[str, Any], source: str = "workload") -> Workload:
    """A Workload from a mapping (YAML), with a did-you-mean for unknown keys."""
    if not isinstance(raw, Mapping):
        raise WorkloadError(f"{source}: expected a mapping of workload fields, got {type(raw).__name__}")
    for key in raw:
        if key not in FIELD_NAMES:
            raise WorkloadError(f"{source}: unknown field {key!r}{did_you_mean(str(key), FIELD_NAMES)}")
    values = dict(raw)
    if isinstance(values.get("hardware"), str):
        values["hardware"] = [values["hardware"]]
    for key in ("hardware", "hourly_profile"):
        if values.get(key) is not None:
            if not isinstance(values[key], (list, tuple)):
                raise WorkloadError(f"{source}: {key} must be a list, got {values[key]!r}")
            values[key] = tuple(values[key])
    try:
        return Workload(**values)
    except WorkloadError as exc:
        raise WorkloadError(f"{source}: {exc}") from None
    except TypeError as exc:
        raise WorkloadError(f"{source}: {exc}") from None


def load_workload(path: str | Path) -> Workload:
    """Read a workload YAML file (a mapping of Workload fields)."""
    src = Path(path)
    try:
        raw = yaml.safe_load(src.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise WorkloadError(f"{src}: cannot read the workload file: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise WorkloadError(f"{src}: not valid YAML: {exc}") from None
    return workload_from_mapping(raw, source=str(src))


# ------------------------------------------------------------------ CLI flags, generated from the fields
_FLAG_TYPES = {"hourly_profile": "csv-float", "hardware": "repeat", "autoscale": "bool", "output_tokens": int}


def add_workload_flags(parser: argparse.ArgumentParser) -> None:
    """--queries-per-day, --latency-s, ... one flag per Workload field (help from the field), plus --workload."""
    group = parser.add_argument_group("workload and deployment (defaults: a --workload YAML, else the built-in)")
    group.add_argument("--workload", help="YAML file of workload fields; flags below override it")
    for f in fields(Workload):
        flag = "--" + f.name.replace("_", "-")
        kind = _FLAG_TYPES.get(f.name)
        text = f.metadata["help"]
        if kind == "repeat":
            group.add_argument(flag, action="append", dest=f.name, help=text + " (repeatable; 'all')")
        elif kind == "bool":
            group.add_argument(flag, action=argparse.BooleanOptionalAction, dest=f.name, default=None, help=text)
        elif kind == "csv-float":
            group.add_argument(flag, dest=f.name, help=text + " (24 comma-separated numbers)")
        else:
            typ = kind or (str if f.name in ("provider", "billing", "baseline_hardware") else float)
            if f.name == "min_replicas":
                typ = int
            group.add_argument(flag, dest=f.name, type=typ, default=None, help=text)


def workload_from_args(args: argparse.Namespace) -> Workload:
    """The Workload of parsed flags: the --workload file (or the defaults), then every flag given."""
    base = load_workload(args.workload) if getattr(args, "workload", None) else Workload()
    changes: dict[str, Any] = {}
    for name in FIELD_NAMES:
        value = getattr(args, name, None)
        if value is None:
            continue
        if name == "hourly_profile":
            try:
                value = tuple(float(v) for v in str(value).split(","))
            except ValueError:
                raise WorkloadError(f"--hourly-profile: {value!r} is not 24 comma-separated numbers") from None
        if name == "hardware":
            value = () if "all" in value else tuple(value)
        changes[name] = value
    return base.with_(**changes)


def workload_flags(workload: Workload) -> list[str]:
    """The CLI flags that rebuild `workload` (`workload_from_args` of them equals it): one per field that differs
    from its default, numbers written exactly."""
    default, out = Workload(), []
    for f in fields(Workload):
        value = getattr(workload, f.name)
        if value == getattr(default, f.name):
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.name == "hardware":
            out += [f"{flag}={h}" for h in value] or [f"{flag}=all"]
        elif f.name == "hourly_profile":
            out.append(f"{flag}=" + ",".join(repr(v) for v in value))
        elif isinstance(value, bool):
            out.append(flag if value else "--no-" + flag[2:])
        elif value is not None:
            out.append(f"{flag}={value!r}" if isinstance(value, float) else f"{flag}={value}")
    return out
