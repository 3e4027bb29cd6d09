"""The workload and deployment controls: hardware, provider, prices, traffic, latency, billing, cost axis.

`WorkloadControls` holds one widget per setting users change most and builds the `Workload` the CLI would build
from the same values (`workload()`), so the app, the CLI and the exports price alike. Every other Workload field
keeps its default. `changed` counts changes (observe it to refresh once per change).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import polars as pl
import traitlets

from explorer.analysis.recommend import COST_AXES
from explorer.deployment.workload import BILLING, Workload, workload_flags
from explorer.hardware.catalog import Catalog

SLIDER = dict(continuous_update=False, style={"description_width": "150px"}, layout=w.Layout(width="400px"))
# placeholder price of a measuring machine no catalog entry matches: a 2-vCPU cloud instance (said on the page)
PLACEHOLDER = ("c7i.large", "aws")


class WorkloadControls(w.VBox):
    """Widgets -> Workload. Set `.value` of any control from Python; read `workload()`."""

    changed = traitlets.Int(0)

    def __init__(self, catalog: Catalog) -> None:
        super().__init__()
        self.catalog = catalog
        defaults = Workload()
        gpus = [r["name"] for r in catalog.rows if r["kind"] == "gpu"]
        self.hardware = w.SelectMultiple(description="hardware", options=list(catalog.names), rows=7,
                                         value=tuple(catalog.names), layout=w.Layout(width="280px"))  # fmt: skip
        providers = sorted(set(catalog.prices.get_column("provider").to_list()))
        self.provider = w.Dropdown(
            description="provider", options=[("cheapest listed", ""), *[(p, p) for p in providers]], value=""
        )  # "" not None: a Dropdown shows a None value as a blank box
        self.price_scale = w.FloatSlider(description="prices x list", value=1.0, min=0.1, max=2.0, step=0.05, **SLIDER)
        self.placeholder_usd_per_hour = placeholder = catalog.price(*PLACEHOLDER)["usd_per_hour"]
        self.price = w.FloatLogSlider(description="USD / hour (this machine)", value=placeholder, min=-3, max=2,
                                      step=0.01, readout_format=".4g", **SLIDER)  # fmt: skip
        self.price_note = w.HTML()
        self.traffic = w.FloatLogSlider(description="queries / day", value=defaults.queries_per_day, min=1, max=8,
                                        step=0.1, readout_format=",.0f", **SLIDER)  # fmt: skip
        self.peak = w.FloatSlider(description="peak / mean traffic", value=defaults.peak_to_mean, min=1, max=10,
                                  step=0.5, **SLIDER)  # fmt: skip
        self.latency = w.FloatLogSlider(description="latency target (s)", value=defaults.latency_s, min=-2, max=2,
                                        step=0.05, readout_format=".3g", **SLIDER)  # fmt: skip
        self.output_tokens = w.IntSlider(description="output tokens (0: as scored)", value=0, min=0, max=512,
                                         step=8, **SLIDER)  # fmt: skip
        self.ttft = w.FloatLogSlider(description="TTFT target (s)", value=defaults.ttft_s, min=-2, max=1.5, step=0.05,
                                     readout_format=".3g", **SLIDER)  # fmt: skip
        self.tpot = w.FloatLogSlider(description="TPOT target (s)", value=defaults.tpot_s, min=-3, max=0.5, step=0.05,
                                     readout_format=".3g", **SLIDER)  # fmt: skip
        self.utilisation = w.FloatSlider(description="utilisation ceiling", value=defaults.utilisation_ceiling,
                                         min=0.1, max=1.0, step=0.05, readout_format=".0%", **SLIDER)  # fmt: skip
        self.billing = w.Dropdown(description="billing", options=list(BILLING), value=defaults.billing)
        self.baseline = w.Dropdown(description="baseline", options=gpus, value=catalog.strongest("gpu"))
        self.cost_axis = w.Dropdown(description="cost axis", options=[(v, k) for k, v in COST_AXES.items()])
        self.measured_device: str | None = None
        for ctl in self.widgets:
            ctl.observe(self._bump, "value")
        self.children = [self.hardware, self.provider, self.price_scale, self.price, self.price_note, *self.widgets[4:]]

    @property
    def widgets(self) -> list[w.Widget]:
        return [self.hardware, self.provider, self.price_scale, self.price, self.traffic, self.peak, self.latency,
                self.output_tokens, self.ttft, self.tpot, self.utilisation, self.billing, self.baseline,
                self.cost_axis]  # fmt: skip

    def _bump(self, _: Any) -> None:
        self.changed += 1

    def set_devices(self, evals: pl.DataFrame) -> None:
        """Offer the measuring machine as a hardware option when it is one machine outside the catalog (priced by
        the `price` slider, a placeholder until the user sets it)."""
        real = evals.filter(pl.col("weights").ne_missing("random")) if "weights" in evals.columns else evals
        devices = real.get_column("device_name").drop_nulls().unique().to_list() if real.height else []
        outside = sorted(d for d in devices if self.catalog.match_device(d) is None)
        self.measured_device = outside[0] if len(outside) == 1 else None
        options = ([self.measured_device] if self.measured_device else []) + list(self.catalog.names)
        with self.hold_trait_notifications():
            self.hardware.options = options
            self.hardware.value = tuple(options)
        self.price.layout.display = None if self.measured_device else "none"
        name, provider = PLACEHOLDER
        self.price_note.value = (
            f"<small>{self.measured_device}: no catalog entry, priced by the slider above (starts at the {provider} "
            f"{name} price, a placeholder)</small>"
            if self.measured_device
            else ""
        )

    @property
    def placeholder(self) -> str | None:
        """The measured device when it is shown and still priced at the placeholder (said in the headline)."""
        chosen = self.measured_device is not None and self.measured_device in self.hardware.value
        return self.measured_device if chosen and self.price.value == self.placeholder_usd_per_hour else None

    def workload(self) -> Workload:
        """The Workload of the current values (what `explorer frontier` builds from the same flags)."""
        chosen = [h for h in self.hardware.value if h != self.measured_device]
        measured = self.measured_device is not None and self.measured_device in self.hardware.value
        return Workload(
            queries_per_day=float(self.traffic.value),
            peak_to_mean=float(self.peak.value),
            latency_s=float(self.latency.value),
            output_tokens=int(self.output_tokens.value) or None,  # 0: serve the measured tasks as scored
            ttft_s=float(self.ttft.value),
            tpot_s=float(self.tpot.value),
            utilisation_ceiling=float(self.utilisation.value),
            billing=self.billing.value,
            hardware=tuple(chosen) or (self.baseline.value,),  # the baseline is always compared
            provider=self.provider.value or None,
            price_scale=float(self.price_scale.value),
            measured_usd_per_hour=float(self.price.value) if measured else None,
            baseline_hardware=self.baseline.value,
        )

    def flags(self) -> list[str]:
        """The `explorer frontier` flags that give the same numbers (shown on the page, used by the tests)."""
        return [*workload_flags(self.workload()), f"--cost-axis={self.cost_axis.value}"]
