"""The workload config: checks, YAML, CLI flags (one line naming the field, did-you-mean)."""

from __future__ import annotations

import argparse

import pytest

from explorer.deployment.workload import (
    Workload,
    WorkloadError,
    add_workload_flags,
    load_workload,
    workload_from_args,
    workload_from_mapping,
)


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_workload_flags(parser)
    return parser.parse_args(list(argv))


def test_defaults_and_traffic_by_hand() -> None:
    w = Workload()
    assert w.queries_per_day == 10_000 and w.billing == "per-hour" and w.min_replicas == 1
    assert w.peak_qps == pytest.approx(10_000 / 86_400 * 2.0)
    assert w.hours_per_month == 720 and w.queries_per_month == 300_000
    assert not w.is_generation and Workload(output_tokens=32).is_generation
    profile = [0.0] * 23 + [3.0]
    assert Workload(queries_per_day=3600, hourly_profile=profile).peak_qps == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"queries_per_day": -1}, "queries_per_day must be a number >= 0"),
        ({"latency_s": 0}, "latency_s must be a number > 0"),
        ({"peak_to_mean": 0.5}, "peak_to_mean must be >= 1"),
        ({"utilisation_ceiling": 1.5}, "utilisation_ceiling must be in (0, 1]"),
        ({"min_replicas": 0}, "min_replicas must be an integer >= 1"),
        ({"output_tokens": 0}, "output_tokens must be null or an integer >= 1"),
        ({"billing": "per-hr"}, "did you mean 'per-hour'"),
        ({"hourly_profile": [1.0] * 23}, "hourly_profile must be 24 numbers"),
        ({"queries_per_day": float("nan")}, "queries_per_day must be a number"),
        ({"price_scale": True}, "price_scale must be a number"),
    ],
)
def test_bad_values_are_one_line_naming_the_field(changes: dict, message: str) -> None:
    with pytest.raises(WorkloadError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        Workload(**changes)


def test_yaml_file_with_did_you_mean(tmp_path) -> None:
    good = tmp_path / "w.yaml"
    good.write_text("queries_per_day: 100000\nhardware: [L4, c7i.large]\nbilling: per-second\nlatency_s: 0.5\n")
    w = load_workload(good)
    assert w.hardware == ("L4", "c7i.large") and w.billing == "per-second" and w.latency_s == 0.5
    bad = tmp_path / "bad.yaml"
    bad.write_text("queries_per_dya: 5\n")
    with pytest.raises(WorkloadError, match=r"bad.yaml: unknown field 'queries_per_dya' \(did you mean 'queries_per_d"):
        load_workload(bad)
    with pytest.raises(WorkloadError, match="cannot read the workload file"):
        load_workload(tmp_path / "missing.yaml")
    assert workload_from_mapping({"hardware": "L4"}).hardware == ("L4",)


def test_cli_flags_override_the_file(tmp_path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("queries_per_day: 5000\npeak_to_mean: 3\n")
    w = workload_from_args(_args("--workload", str(path), "--queries-per-day", "7000", "--hardware", "L4",
                                 "--hardware", "T4", "--autoscale", "--min-replicas", "2"))  # fmt: skip
    got = (w.queries_per_day, w.peak_to_mean, w.hardware, w.autoscale, w.min_replicas)
    assert got == (7000, 3, ("L4", "T4"), True, 2)
    assert workload_from_args(_args("--hardware", "all")).hardware == ()
    profile = ",".join(["1"] * 24)
    assert workload_from_args(_args("--hourly-profile", profile)).hourly_profile == (1.0,) * 24
    with pytest.raises(WorkloadError, match="--hourly-profile"):
        workload_from_args(_args("--hourly-profile", "1,x"))
    with pytest.raises(WorkloadError, match="utilisation_ceiling must be in"):
        workload_from_args(_args("--utilisation-ceiling", "2"))


def test_service_key_ignores_prices_and_traffic_unless_generation() -> None:
    w = Workload()
    assert w.service_key() == w.with_(queries_per_day=9, price_scale=0.5, billing="per-second").service_key()
    assert w.service_key() != w.with_(latency_s=0.1).service_key()
    g = Workload(output_tokens=16)
    assert g.service_key() != g.with_(queries_per_day=1e6).service_key()  # batches depend on queries in flight


def test_flags_rebuild_the_workload_exactly() -> None:
    from explorer.deployment.workload import workload_flags

    w = Workload(queries_per_day=12_589.254117941673, hardware=("L4", "T4"), autoscale=True, output_tokens=64,
                 hourly_profile=tuple(range(1, 25)), provider="gcp", measured_usd_per_hour=0.0893)  # fmt: skip
    flags = workload_flags(w)
    assert "--queries-per-day=12589.254117941673" in flags and "--hardware=L4" in flags and "--autoscale" in flags
    assert workload_from_args(_args(*flags)) == w
    assert workload_flags(Workload()) == []


@pytest.mark.parametrize(
    "change",
    [
        {"hardware": ("L4",)},
        {"baseline_hardware": "L4"},
        {"latency_s": 0.5},
        {"ttft_s": 0.5},
        {"tpot_s": 0.05},
        {"prompt_tokens": 64.0},
        {"output_tokens": 16},
        {"measured_usd_per_hour": 0.1},
    ],
)
def test_every_field_service_rows_read_is_in_the_cache_key(change: dict) -> None:
    assert Workload().service_key() != Workload(**change).service_key()
