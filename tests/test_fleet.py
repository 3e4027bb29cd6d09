"""Fleet sizing and monthly bills, computed by hand (pure Polars, no model)."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from explorer.deployment.fleet import add_fleet, fleet_for
from explorer.deployment.workload import Workload

FLAT = Workload(queries_per_day=10_000, peak_to_mean=1.0, utilisation_ceiling=0.8)
HOURS = 30 * 24  # a 30-day month


def test_ten_thousand_a_day_on_one_080_usd_device() -> None:
    got = fleet_for(0.2, 0.80, FLAT, value=0.5)
    assert got["replicas"] == 1
    assert got["monthly_usd"] == pytest.approx(0.80 * HOURS) == pytest.approx(576.0)
    busy = 10_000 * 30 * 0.2  # 60,000 busy seconds of 2,592,000 paid
    assert got["utilisation"] == pytest.approx(busy / (HOURS * 3600)) == pytest.approx(0.023148, rel=1e-4)
    assert got["idle_share"] == pytest.approx(1 - busy / (HOURS * 3600))
    assert got["idle_usd_per_month"] == pytest.approx(576.0 * (1 - busy / (HOURS * 3600)))
    assert got["effective_usd_per_query"] == pytest.approx(576.0 / 300_000)
    assert got["marginal_usd_per_query"] == pytest.approx(0.2 * 0.80 / 3600)  # busy seconds only: not a bill
    assert got["usd_per_correct"] == pytest.approx(576.0 / 300_000 / 0.5)  # cost of pass


def test_ten_million_a_day_needs_the_right_replica_count() -> None:
    w = FLAT.with_(queries_per_day=10_000_000)
    load = 10_000_000 / 86_400 * 0.2  # 23.15 replicas busy all the time
    got = fleet_for(0.2, 0.80, w)
    assert got["replicas"] == math.ceil(load / 0.8) == 29
    assert got["monthly_usd"] == pytest.approx(29 * 576.0)
    assert got["utilisation"] == pytest.approx(load / 29)
    # twice the traffic at the peak hour: sized for the peak, paid all day
    peaky = fleet_for(0.2, 0.80, w.with_(peak_to_mean=2.0))
    assert peaky["replicas"] == math.ceil(2 * load / 0.8) == 58
    assert peaky["utilisation"] == pytest.approx(load / 58)
    # no headroom: exactly the load, rounded up
    assert fleet_for(0.2, 0.80, w.with_(utilisation_ceiling=1.0))["replicas"] == 24


def test_exact_fit_is_not_rounded_up_and_min_replicas_hold() -> None:
    # 86,400 queries/day x 0.8 s = 0.8 busy replicas at the ceiling 0.8: exactly one replica
    w = Workload(queries_per_day=86_400, peak_to_mean=1.0, utilisation_ceiling=0.8)
    assert fleet_for(0.8, 1.0, w)["replicas"] == 1
    assert fleet_for(0.8000001, 1.0, w)["replicas"] == 2
    got = fleet_for(0.001, 1.0, w.with_(min_replicas=3))
    assert got["replicas"] == 3 and got["monthly_usd"] == pytest.approx(3 * HOURS)


def test_serverless_bills_busy_seconds_only() -> None:
    got = fleet_for(0.2, 0.80, FLAT.with_(billing="per-second"))
    assert got["monthly_usd"] == pytest.approx(300_000 * 0.2 * 0.80 / 3600) == pytest.approx(13.3333, rel=1e-4)
    assert got["utilisation"] == pytest.approx(1.0) and got["idle_usd_per_month"] == 0.0
    assert got["effective_usd_per_query"] == pytest.approx(got["marginal_usd_per_query"])
    assert fleet_for(0.2, 0.80, FLAT.with_(billing="per-second", queries_per_day=0))["replicas"] == 0


def test_self_hosted_capex_busy_and_idle_energy_by_hand() -> None:
    w = FLAT.with_(billing="self-hosted", usd_per_kwh=0.10, lifetime_years=4.0, idle_power_fraction=0.25)
    got = fleet_for(0.2, 0.0, w, capex_usd=2_400.0, tdp_w=100.0, idle_w=None, energy_j_per_query=None)
    capex = 2_400.0 / 48  # per month over 4 years
    busy_s, paid_s = 60_000.0, HOURS * 3600.0
    energy_kwh = (busy_s * 100.0 + (paid_s - busy_s) * 25.0) / 3.6e6
    assert got["capex_usd_per_month"] == pytest.approx(capex)
    assert got["energy_usd_per_month"] == pytest.approx(energy_kwh * 0.10)
    assert got["monthly_usd"] == pytest.approx(capex + energy_kwh * 0.10)
    assert got["energy_provenance"] == "busy: projected (TDP x busy s); idle: projected (25% of TDP)"
    # a measured energy per query and a catalog idle power replace both assumptions
    measured = fleet_for(0.2, 0.0, w, capex_usd=2_400.0, tdp_w=100.0, idle_w=10.0, energy_j_per_query=5.0)
    kwh = (300_000 * 5.0 + (paid_s - busy_s) * 10.0) / 3.6e6
    assert measured["energy_usd_per_month"] == pytest.approx(kwh * 0.10)
    assert measured["energy_provenance"] == "busy: measured; idle: catalog idle_w"
    assert measured["idle_usd_per_month"] == pytest.approx(
        capex * (1 - busy_s / paid_s) + (paid_s - busy_s) * 10.0 / 3.6e6 * 0.10
    )


def test_autoscaling_follows_the_hourly_profile() -> None:
    # all traffic in 2 hours of the day: 5,000 queries each = 1.389 q/s; at 2 s a query, 2.78 busy -> 4 at 0.8
    profile = tuple(1.0 if h in (9, 10) else 0.0 for h in range(24))
    w = Workload(queries_per_day=10_000, hourly_profile=profile, utilisation_ceiling=0.8)
    fixed = fleet_for(2.0, 1.0, w)
    assert w.peak_qps == pytest.approx(5_000 / 3600)
    assert fixed["replicas"] == math.ceil(5_000 / 3600 * 2.0 / 0.8) == 4
    assert fixed["monthly_usd"] == pytest.approx(4 * HOURS)  # the peak fleet all day
    scaled = fleet_for(2.0, 1.0, w.with_(autoscale=True))
    assert scaled["replica_hours_per_month"] == pytest.approx((22 * 1 + 2 * 4) * 30)  # min 1 off-peak
    assert scaled["monthly_usd"] == pytest.approx(30 * 30.0)
    assert scaled["utilisation"] == pytest.approx(300_000 * 2.0 / (30 * 30 * 3600))


def test_projected_rows_get_both_ends_and_nulls_stay_null() -> None:
    frame = pl.DataFrame(
        {
            "service_s_per_query": [0.02, None],
            "service_s_per_query_optimistic": [0.001, None],
            "usd_per_hour": [2.0, 2.0],
            "value": [0.5, 0.5],
        }
    )
    w = Workload(queries_per_day=10_000_000, peak_to_mean=1.0, utilisation_ceiling=0.8)
    out = add_fleet(frame, w).row(0, named=True)
    assert out["replicas"] == math.ceil(10_000_000 / 86_400 * 0.02 / 0.8) == 3
    assert out["replicas_optimistic"] == 1
    assert out["monthly_usd"] == pytest.approx(3 * 2.0 * HOURS)
    assert out["monthly_usd_optimistic"] == pytest.approx(2.0 * HOURS)
    assert add_fleet(frame, w).row(1, named=True)["monthly_usd"] is None


@given(
    st.floats(min_value=1e-4, max_value=10.0),
    st.floats(min_value=0.0, max_value=1e8),
    st.floats(min_value=0.1, max_value=1.0),
)
def test_fleet_invariants(service_s: float, queries_per_day: float, ceiling: float) -> None:
    w = Workload(queries_per_day=queries_per_day, peak_to_mean=2.0, utilisation_ceiling=ceiling)
    got = fleet_for(service_s, 1.0, w)
    # never busier than the ceiling at the peak, never a replica more than needed
    peak_load = w.peak_qps * service_s
    assert peak_load / got["replicas"] <= ceiling * (1 + 1e-6)
    assert got["replicas"] == 1 or peak_load / (got["replicas"] - 1) > ceiling * (1 - 1e-6)
    assert got["monthly_usd"] == pytest.approx(got["replicas"] * HOURS)
    assert 0 <= got["utilisation"] <= 1 and got["idle_share"] == pytest.approx(1 - got["utilisation"])


def test_self_hosted_autoscaling_powers_down_but_owns_the_peak_fleet() -> None:
    profile = tuple(1.0 if h in (9, 10) else 0.0 for h in range(24))
    w = Workload(queries_per_day=10_000, hourly_profile=profile, autoscale=True, billing="self-hosted",
                 usd_per_kwh=0.1, idle_power_fraction=0.25)  # fmt: skip
    got = fleet_for(2.0, 0.0, w, capex_usd=4_800.0, tdp_w=100.0, idle_w=None, energy_j_per_query=None)
    assert got["replicas"] == 4 and got["replica_hours_per_month"] == pytest.approx((22 + 8) * 30)  # powered
    busy = 300_000 * 2.0
    owned = 4 * HOURS * 3600.0
    assert got["capex_usd_per_month"] == pytest.approx(4 * 4_800.0 / 48)  # four cards bought
    assert got["utilisation"] == pytest.approx(busy / owned)  # over what is owned, not what is powered
    idle_energy = ((22 + 8) * 30 * 3600.0 - busy) * 25.0 / 3.6e6 * 0.1  # idle power only while powered
    assert got["idle_usd_per_month"] == pytest.approx(400.0 * (1 - busy / owned) + idle_energy)
