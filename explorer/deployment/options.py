"""The hardware options a deployment is compared on: catalog entries at a provider's price, and the measuring
machine itself when the user prices it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from explorer.deployment.workload import Workload
from explorer.hardware.catalog import Catalog
from explorer.hardware.ceilings import KIND_CLASS


@dataclass(frozen=True)
class HardwareOption:
    """One place to deploy: its price per device-hour and, for catalog entries, the datasheet row."""

    name: str
    kind: str  # gpu | cpu
    usd_per_hour: float | None  # None: bought, not rented (priced by self-hosted billing only)
    provider: str | None
    price_source: str
    spec: Mapping[str, Any] | None  # Catalog.get row; None for the measuring machine (no datasheet)
    measured_devices: tuple[str, ...]  # device names whose measurements ran on this very hardware


def same_class(kind: str) -> pl.Expr:
    """Rows measured on a device of the same class (gpu | cpu) as `kind`: the better source of a projection."""
    cls = pl.col("device_kind").replace_strict(KIND_CLASS, default=None, return_dtype=pl.String)
    return cls.eq(KIND_CLASS.get(kind, kind))


def baseline_name(catalog: Catalog, workload: Workload) -> str:
    """The baseline hardware: the workload's, else the catalog's most powerful GPU."""
    if workload.baseline_hardware:
        return catalog.get(workload.baseline_hardware)["name"]
    return catalog.strongest("gpu")


def _catalog_option(catalog: Catalog, name: str, workload: Workload, devices: Sequence[str]) -> HardwareOption:
    spec = catalog.get(name)
    measured = tuple(d for d in devices if catalog.match_device(d) == spec["name"])
    if not catalog.rentable(spec["name"]):
        bought = f"bought at ${spec['capex_usd']:g} (reported); no rental price"
        return HardwareOption(spec["name"], spec["kind"], None, None, bought, spec, measured)
    listed = catalog.prices.filter(catalog.prices["name"] == spec["name"])["provider"].to_list()
    wanted = (
        workload.provider if workload.provider and workload.provider.casefold() in map(str.casefold, listed) else None
    )
    price = catalog.price(spec["name"], wanted)
    note = "" if wanted or not workload.provider else f"; {workload.provider} does not list it: cheapest"
    scale = f" x {workload.price_scale:g}" if workload.price_scale != 1 else ""
    return HardwareOption(
        name=spec["name"],
        kind=spec["kind"],
        usd_per_hour=price["usd_per_hour"] * workload.price_scale,
        provider=price["provider"],
        price_source=f"{price['provider']} {price['date']} (reported){scale}{note}",
        spec=spec,
        measured_devices=measured,
    )


def measured_option(device: str, kind: str, usd_per_hour: float) -> HardwareOption:
    """The measuring machine itself as the one place to deploy, at a price the caller gives."""
    return HardwareOption(device, KIND_CLASS.get(kind, kind), usd_per_hour, None, "user-given price", None, (device,))


def hardware_options(
    catalog: Catalog, workload: Workload, devices: Sequence[str], device_kinds: Mapping[str, str] | None = None
) -> list[HardwareOption]:
    """The workload's hardware (every catalog entry when it names none), the baseline hardware, and the measuring
    machine when `workload.measured_usd_per_hour` prices it (it must then be one machine, not in the catalog)."""
    names = [catalog.get(n)["name"] for n in workload.hardware] or list(catalog.names)
    base = baseline_name(catalog, workload)
    if base not in names:
        names.append(base)
    options = [_catalog_option(catalog, n, workload, devices) for n in dict.fromkeys(names)]
    if workload.measured_usd_per_hour is not None:
        unmatched = sorted({d for d in devices if d and catalog.match_device(d) is None})
        if len(unmatched) > 1:
            raise ValueError(
                f"rows come from {len(unmatched)} machines outside the catalog ({', '.join(unmatched)}): one "
                "measured_usd_per_hour cannot price them all; compare catalog hardware instead"
            )
        for device in unmatched:
            kind = (device_kinds or {}).get(device) or "cpu"  # typed by the user: not scaled like the list prices
            options.insert(0, measured_option(device, kind, workload.measured_usd_per_hour))
    return options
