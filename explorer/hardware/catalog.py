"""The hardware catalog (data/hardware.yaml): datasheet ceilings and rental prices, validated on load.

Every number in the catalog has provenance `reported` (datasheets, price pages). `load_catalog()` checks each entry
and raises `CatalogError` with one line naming the file, the entry and the field at fault. `mem_gb` is the
datasheet's decimal GB for GPUs and the instance's GiB for CPU instances and boards (as the cloud pages print them);
the SI column `mem_bytes` converts each with its own unit. A device one buys and cannot rent (a board, a phone) has
no `prices`, only `capex_usd`: self-hosted billing prices it, rental billing shows it excluded with that reason.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from explorer.hints import did_you_mean

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "data" / "hardware.yaml"
GIB = 2**30
KINDS = ("gpu", "cpu")
REPORTED = "reported"

# numeric spec fields: name -> may be null (null = no native support for that number type)
NUMERIC_FIELDS: dict[str, bool] = {
    "peak_bf16_tflops": True,
    "peak_fp16_tflops": True,
    "peak_fp32_tflops": False,
    "peak_int8_tops": True,
    "mem_bw_gb_s": False,
    "mem_gb": False,
    "tdp_w": False,
}
TEXT_FIELDS = ("name", "kind", "vendor", "spec_source")
REQUIRED_FIELDS = (*TEXT_FIELDS, *NUMERIC_FIELDS)
OPTIONAL_FIELDS = ("prices", "capex_usd", "idle_w", "approx", "note", "device_names")
PRICE_REQUIRED = ("provider", "usd_per_hour", "date", "source")
PRICE_OPTIONAL = ("note", "approx")
# datasheet unit -> SI column
SI_COLUMNS: dict[str, tuple[str, float]] = {
    "peak_bf16_tflops": ("peak_bf16_flops", 1e12),
    "peak_fp16_tflops": ("peak_fp16_flops", 1e12),
    "peak_fp32_tflops": ("peak_fp32_flops", 1e12),
    "peak_int8_tops": ("peak_int8_ops", 1e12),
    "mem_bw_gb_s": ("mem_bw_bytes_per_s", 1e9),
    "mem_gb": ("mem_bytes", 1e9),
}

HARDWARE_SCHEMA: dict[str, Any] = {
    "name": pl.String,
    "kind": pl.String,
    "vendor": pl.String,
    **{k: pl.Float64 for k in NUMERIC_FIELDS},
    "capex_usd": pl.Float64,
    "idle_w": pl.Float64,
    "spec_source": pl.String,
    "note": pl.String,
    "approx": pl.List(pl.String),
    "device_names": pl.List(pl.String),
    **{si: pl.Float64 for si, _ in SI_COLUMNS.values()},
    "provenance": pl.String,
}
PRICE_SCHEMA: dict[str, Any] = {
    "name": pl.String,
    "provider": pl.String,
    "usd_per_hour": pl.Float64,
    "date": pl.Date,
    "source": pl.String,
    "note": pl.String,
    "approx": pl.Boolean,
    "provenance": pl.String,
}


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as strings, so a bad date becomes a CatalogError naming entry and field."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


class CatalogError(ValueError):
    """A catalog that does not validate, or a look-up that fails (message: one readable line)."""


class _Checker:
    """Builds one-line errors: '<file>: entry <name> (#i): field <f>: <problem>'."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, entry: str, fld: str | None, problem: str) -> CatalogError:
        where = f"field {fld!r}: " if fld else ""
        return CatalogError(f"{self.path}: entry {entry}: {where}{problem}".replace("\n", " "))

    def number(self, entry: str, fld: str, value: Any, nullable: bool) -> float | None:
        if value is None:
            if nullable:
                return None
            raise self.fail(entry, fld, "is null; a number >= 0 is required")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(entry, fld, f"{value!r} is not a number")
        if value != value or value in (float("inf"), float("-inf")):
            raise self.fail(entry, fld, f"{value!r} is not a finite number")
        if value < 0:
            raise self.fail(entry, fld, f"{value!r} is negative")
        return float(value)

    def text(self, entry: str, fld: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(entry, fld, f"{value!r} is not a non-empty string")
        return value.strip()

    def date(self, entry: str, fld: str, value: Any) -> dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise self.fail(entry, fld, f"{value!r} is not a date (YYYY-MM-DD)") from None

    def keys(self, entry: str, raw: Mapping[str, Any], required: Sequence[str], optional: Sequence[str], pre: str):
        for key in required:
            if key not in raw:
                raise self.fail(entry, f"{pre}{key}", "is missing")
        known = (*required, *optional)
        for key in raw:
            if key not in known:
                raise self.fail(entry, f"{pre}{key}", f"unknown field{did_you_mean(key, known)}")


def _approx_fields(check: _Checker, entry: str, value: Any) -> list[str]:
    if value is None or value is False:
        return []
    if value is True:
        return list(NUMERIC_FIELDS) + ["capex_usd", "idle_w"]
    allowed = (*NUMERIC_FIELDS, "capex_usd", "idle_w")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise check.fail(entry, "approx", f"{value!r} is neither true/false nor a list of field names")
    for name in value:
        if name not in allowed:
            raise check.fail(entry, "approx", f"{name!r} is not a numeric field{did_you_mean(name, allowed)}")
    return list(value)


def _parse_entry(check: _Checker, index: int, raw: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    label = f"#{index + 1}"
    if not isinstance(raw, Mapping):
        raise check.fail(label, None, f"is a {type(raw).__name__}, expected a mapping of fields")
    if isinstance(raw.get("name"), str) and raw["name"].strip():
        label = f"{raw['name'].strip()!r} (#{index + 1})"
    check.keys(label, raw, REQUIRED_FIELDS, OPTIONAL_FIELDS, "")
    row: dict[str, Any] = {k: check.text(label, k, raw[k]) for k in TEXT_FIELDS}
    if row["kind"] not in KINDS:
        raise check.fail(
            label, "kind", f"unknown kind {row['kind']!r}{did_you_mean(row['kind'], KINDS)}; known: gpu, cpu"
        )
    for fld, nullable in NUMERIC_FIELDS.items():
        row[fld] = check.number(label, fld, raw[fld], nullable)
    row["capex_usd"] = check.number(label, "capex_usd", raw.get("capex_usd"), True)
    row["idle_w"] = check.number(label, "idle_w", raw.get("idle_w"), True)
    if row["idle_w"] is not None and row["tdp_w"] is not None and row["idle_w"] > row["tdp_w"]:
        raise check.fail(label, "idle_w", f"{row['idle_w']:g} W is above tdp_w ({row['tdp_w']:g} W)")
    row["note"] = check.text(label, "note", raw["note"]) if raw.get("note") is not None else None
    row["approx"] = _approx_fields(check, label, raw.get("approx"))
    names = raw.get("device_names") or []
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise check.fail(label, "device_names", f"{names!r} is not a list of non-empty strings")
    row["device_names"] = [n.strip() for n in names]
    for fld, (si, scale) in SI_COLUMNS.items():
        if fld == "mem_gb" and row["kind"] == "cpu":
            scale = GIB  # cloud instance pages list GiB
        row[si] = None if row[fld] is None else row[fld] * scale
    row["provenance"] = REPORTED

    prices_raw = raw.get("prices")
    if prices_raw in (None, []) and row["capex_usd"] is not None:
        return row, []  # a device one buys (a board, a phone): only self-hosted billing prices it
    if not isinstance(prices_raw, list) or not prices_raw:
        raise check.fail(
            label,
            "prices",
            "must be a non-empty list of {provider, usd_per_hour, date, source} (or, for a "
            "device one buys and cannot rent, leave prices out and give capex_usd)",
        )
    prices: list[dict[str, Any]] = []
    seen: set[str] = set()
    for j, price in enumerate(prices_raw):
        pre = f"prices[{j}]."
        if not isinstance(price, Mapping):
            raise check.fail(label, f"prices[{j}]", "is not a mapping")
        check.keys(label, price, PRICE_REQUIRED, PRICE_OPTIONAL, pre)
        provider = check.text(label, pre + "provider", price["provider"])
        if provider in seen:
            raise check.fail(label, pre + "provider", f"{provider!r} is listed twice")
        seen.add(provider)
        approx = price.get("approx", False)
        if not isinstance(approx, bool):
            raise check.fail(label, pre + "approx", f"{approx!r} is not true/false")
        usd = check.number(label, pre + "usd_per_hour", price["usd_per_hour"], False)
        prices.append(
            {
                "name": row["name"],
                "provider": provider,
                "usd_per_hour": usd,
                "date": check.date(label, pre + "date", price["date"]),
                "source": check.text(label, pre + "source", price["source"]),
                "note": check.text(label, pre + "note", price["note"]) if price.get("note") is not None else None,
                "approx": approx,
                "provenance": REPORTED,
            }
        )
    return row, prices


@dataclass(frozen=True)
class Catalog:
    """Validated catalog: `hardware` (one row per device, datasheet units + SI units) and `prices`."""

    path: Path
    rows: tuple[dict[str, Any], ...]
    price_rows: tuple[dict[str, Any], ...] = field(default=())

    @cached_property
    def hardware(self) -> pl.DataFrame:
        """One row per hardware: datasheet fields, SI columns (peak_bf16_flops, peak_fp16_flops, peak_fp32_flops,
        peak_int8_ops, mem_bw_bytes_per_s, mem_bytes) and provenance = "reported"."""
        return pl.DataFrame(list(self.rows), schema=HARDWARE_SCHEMA)

    @cached_property
    def prices(self) -> pl.DataFrame:
        """One row per (hardware, provider): usd_per_hour per device, date, source, provenance = "reported"."""
        return pl.DataFrame(list(self.price_rows), schema=PRICE_SCHEMA)

    @property
    def names(self) -> list[str]:
        return [r["name"] for r in self.rows]

    def rentable(self, name: str) -> bool:
        """Whether the catalog lists a rental price for `name` (a board or a phone has only a purchase price)."""
        hw = self._resolve(name)["name"]
        return any(p["name"] == hw for p in self.price_rows)

    def _resolve(self, name: str) -> dict[str, Any]:
        for row in self.rows:
            if row["name"] == name:
                return row
        folded = [r for r in self.rows if r["name"].casefold() == str(name).casefold()]
        if len(folded) == 1:
            return folded[0]
        raise CatalogError(
            f"unknown hardware {name!r}{did_you_mean(name, self.names)}; "
            f"known: {', '.join(self.names)} (catalog {self.path})"
        )

    def get(self, name: str) -> dict[str, Any]:
        """The hardware row as a dict (case-insensitive name); unknown names raise with a did-you-mean."""
        return dict(self._resolve(name))

    def price(self, name: str, provider: str | None = None) -> dict[str, Any]:
        """Price row of `name` at `provider`, or the cheapest listed price when provider is None."""
        hw = self._resolve(name)["name"]
        rows = [p for p in self.price_rows if p["name"] == hw]
        if not rows:
            raise CatalogError(
                f"{hw!r} has no rental price in the catalog: it is bought (capex_usd), so only self-hosted "
                "billing can price it"
            )
        if provider is None:
            return dict(min(rows, key=lambda p: p["usd_per_hour"]))
        for p in rows:
            if p["provider"].casefold() == str(provider).casefold():
                return dict(p)
        providers = [p["provider"] for p in rows]
        raise CatalogError(
            f"no price for {hw!r} at provider {provider!r}{did_you_mean(provider, providers)}; "
            f"{hw} is listed at: {', '.join(providers)}"
        )

    def strongest(self, kind: str = "gpu") -> str:
        """The most powerful entry of a kind: highest dense bf16 (else fp16) peak, then memory bandwidth."""
        rows = [r for r in self.rows if r["kind"] == kind]
        if not rows:
            raise CatalogError(f"{self.path}: no {kind} entry")
        best = max(rows, key=lambda r: (r["peak_bf16_tflops"] or r["peak_fp16_tflops"] or 0.0, r["mem_bw_gb_s"]))
        return best["name"]

    def match_device(self, device_name: str | None) -> str | None:
        """Catalog name of the hardware a measured `device_name` denotes (via name or device_names), else None."""
        if not device_name:
            return None
        folded = device_name.casefold()
        for row in self.rows:
            if row["name"].casefold() == folded:
                return row["name"]
        for row in self.rows:
            for alias in row["device_names"]:
                # whole-token match: "NVIDIA L4" must not match "NVIDIA L40S"
                if re.search(rf"(?<![a-z0-9]){re.escape(alias.casefold())}(?![a-z0-9])", folded):
                    return row["name"]
        return None


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read and validate a hardware catalog (default: the repository's data/hardware.yaml)."""
    src = Path(path) if path is not None else DEFAULT_PATH
    check = _Checker(src)
    try:
        doc = yaml.load(src.read_text(encoding="utf-8"), Loader=_Loader)
    except OSError as exc:
        raise CatalogError(f"{src}: cannot read the catalog: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise CatalogError(f"{src}: not valid YAML{line}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("hardware"), list):
        raise CatalogError(f"{src}: expected a mapping with a 'hardware:' list of entries")
    extra = [k for k in doc if k != "hardware"]
    if extra:
        raise CatalogError(f"{src}: unknown top-level key {extra[0]!r}{did_you_mean(str(extra[0]), ['hardware'])}")
    rows: list[dict[str, Any]] = []
    prices: list[dict[str, Any]] = []
    first_index: dict[str, int] = {}
    for i, raw in enumerate(doc["hardware"]):
        row, row_prices = _parse_entry(check, i, raw)
        key = row["name"].casefold()
        if key in first_index:
            raise check.fail(f"{row['name']!r} (#{i + 1})", "name", f"duplicate of entry #{first_index[key] + 1}")
        first_index[key] = i
        rows.append(row)
        prices.extend(row_prices)
    if not rows:
        raise CatalogError(f"{src}: the 'hardware:' list is empty")
    return Catalog(path=src, rows=tuple(rows), price_rows=tuple(prices))
