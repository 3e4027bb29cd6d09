"""The shipped hardware catalog (datasheet units, SI units, strongest entry) and its validation (pure Python)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from explorer.hardware.catalog import DEFAULT_PATH, CatalogError, load_catalog
from explorer.hints import did_you_mean

REQUIRED = (
    "H100-SXM",
    "H100-PCIe",
    "H200",
    "A100-80GB-SXM",
    "L4",
    "T4",
    "A10G",
    "c7i.large",
    "c7i.xlarge",
    "c7g.xlarge",
    "n2-standard-4",
)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_default_path_is_the_repository_file() -> None:
    expected = Path(__file__).resolve().parents[1] / "data" / "hardware.yaml"
    assert expected == DEFAULT_PATH
    assert DEFAULT_PATH.is_file()


def test_shipped_catalog_has_required_entries(catalog) -> None:
    names = catalog.hardware.get_column("name").to_list()
    assert set(REQUIRED) <= set(names)
    assert len(names) == len(set(names))
    assert set(catalog.hardware.get_column("kind")) == {"gpu", "cpu"}
    assert set(catalog.hardware.get_column("provenance")) == {"reported"}
    assert set(catalog.prices.get_column("provenance")) == {"reported"}
    # every entry has at least one price, each dated and sourced, or (a device one buys) a purchase price
    bought = set(catalog.hardware.filter(pl.col("capex_usd").is_not_null())["name"])
    assert set(catalog.prices.get_column("name")) | bought == set(names)
    assert set(names) - set(catalog.prices.get_column("name")) == {"raspberry-pi-5-16gb"}
    assert catalog.prices.get_column("usd_per_hour").min() > 0
    assert catalog.prices.get_column("source").str.len_chars().min() > 10


@pytest.mark.parametrize(
    ("name", "bf16_tflops", "bw_gb_s", "mem_gb", "tdp_w"),
    [
        ("H100-SXM", 989, 3350, 80, 700),
        ("H100-PCIe", 756, 2000, 80, 350),
        ("H200", 989, 4800, 141, 700),
        ("A100-80GB-SXM", 312, 2039, 80, 400),
        ("L4", 121, 300, 24, 72),
        ("T4", None, 320, 16, 70),
    ],
)
def test_datasheet_figures_and_si_units(catalog, name, bf16_tflops, bw_gb_s, mem_gb, tdp_w) -> None:
    row = catalog.get(name)
    assert row["peak_bf16_tflops"] == bf16_tflops
    assert row["mem_bw_gb_s"] == bw_gb_s and row["mem_gb"] == mem_gb and row["tdp_w"] == tdp_w
    assert row["mem_bw_bytes_per_s"] == pytest.approx(bw_gb_s * 1e9)
    assert row["mem_bytes"] == pytest.approx(mem_gb * 1e9)  # GPU datasheets print decimal GB
    if bf16_tflops is None:
        assert row["peak_bf16_flops"] is None
    else:
        assert row["peak_bf16_flops"] == pytest.approx(bf16_tflops * 1e12)
    assert row["peak_int8_ops"] == pytest.approx(row["peak_int8_tops"] * 1e12)


@pytest.mark.parametrize(
    ("name", "mem_gb", "mem_bytes"),
    [
        ("c7i.large", 4, 4 * 2**30),  # 4 GiB = 4_294_967_296 bytes, not 4e9
        ("c7i.xlarge", 8, 8 * 2**30),
        ("c7g.xlarge", 8, 8 * 2**30),
        ("n2-standard-4", 16, 16 * 2**30),
        ("L4", 24, 24_000_000_000),  # a GPU's 24 GB stays decimal
        ("H200", 141, 141_000_000_000),
    ],
)
def test_mem_bytes_is_gib_for_cpu_instances_and_gb_for_gpus(catalog, name, mem_gb, mem_bytes) -> None:
    row = catalog.get(name)
    assert row["mem_gb"] == mem_gb
    assert row["mem_bytes"] == mem_bytes
    frame = catalog.hardware.filter(catalog.hardware["name"] == name)
    assert frame.get_column("mem_bytes").to_list() == [mem_bytes]
    # the other SI columns keep decimal units on every kind
    assert row["mem_bw_bytes_per_s"] == pytest.approx(row["mem_bw_gb_s"] * 1e9)


def test_strongest_of_the_shipped_catalog(catalog) -> None:
    # H100-SXM and H200 tie on dense bf16 (989 TFLOPS); H200's 4800 GB/s beats 3350 GB/s
    assert catalog.get("H100-SXM")["peak_bf16_tflops"] == catalog.get("H200")["peak_bf16_tflops"]
    assert catalog.strongest() == "H200"
    assert catalog.strongest("gpu") == "H200"
    assert catalog.strongest("cpu") == "c7i.xlarge"  # AMX bf16 6.55 TFLOPS
    with pytest.raises(CatalogError, match="no tpu entry") as err:
        catalog.strongest("tpu")
    assert "\n" not in str(err.value)


def test_idle_w_column_in_the_shipped_catalog(catalog) -> None:
    assert catalog.hardware.schema["idle_w"] == pl.Float64
    assert all("idle_w" in catalog.get(name) for name in catalog.names)
    # where given, idle power is a number below the board power
    for row in catalog.hardware.filter(pl.col("idle_w").is_not_null()).iter_rows(named=True):
        assert 0 <= row["idle_w"] <= row["tdp_w"], row["name"]


def test_dense_not_sparse_peaks(catalog) -> None:
    # dense int8 is 2x dense bf16 on Ampere/Hopper/Ada; a sparse figure slipped in would break the ratio
    for name in ("H100-SXM", "H100-PCIe", "H200", "A100-80GB-SXM", "L4"):
        row = catalog.get(name)
        assert row["peak_int8_tops"] == pytest.approx(2 * row["peak_bf16_tflops"], rel=0.01), name


def test_get_is_case_insensitive_and_suggests(catalog) -> None:
    assert catalog.get("h100-sxm")["name"] == "H100-SXM"
    with pytest.raises(CatalogError, match=r"did you mean 'H100-SXM'") as err:
        catalog.get("H100-SMX")
    assert "\n" not in str(err.value)


def test_price_cheapest_named_and_unknown_provider(catalog) -> None:
    prices = catalog.prices.filter(catalog.prices["name"] == "H100-SXM")
    cheapest = catalog.price("H100-SXM")
    assert cheapest["usd_per_hour"] == prices.get_column("usd_per_hour").min()
    assert cheapest["provenance"] == "reported"
    assert isinstance(cheapest["date"], dt.date)
    assert catalog.price("H100-SXM", "lambda")["provider"] == "lambda"
    with pytest.raises(CatalogError) as err:
        catalog.price("H100-SXM", "oracle")
    message = str(err.value)
    for provider in prices.get_column("provider"):
        assert provider in message
    assert "\n" not in message


def test_match_device(catalog) -> None:
    assert catalog.match_device("NVIDIA H100 80GB HBM3") == "H100-SXM"
    assert catalog.match_device("NVIDIA H100 PCIe") == "H100-PCIe"
    assert catalog.match_device("Tesla T4") == "T4"
    assert catalog.match_device("NVIDIA L40S") is None  # not a whole-token match for "NVIDIA L4"
    assert catalog.match_device("AMD EPYC (2 threads)") is None
    assert catalog.match_device("c7i.large") == "c7i.large"


# ---------------------------------------------------------------- validation


def _entry(**over: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": "X1",
        "kind": "gpu",
        "vendor": "acme",
        "peak_bf16_tflops": 100,
        "peak_fp16_tflops": 100,
        "peak_fp32_tflops": 10,
        "peak_int8_tops": None,
        "mem_bw_gb_s": 500,
        "mem_gb": 16,
        "tdp_w": 100,
        "spec_source": "acme datasheet",
        "prices": [{"provider": "cloudy", "usd_per_hour": 1.5, "date": "2026-01-02", "source": "cloudy.example/p"}],
    }
    entry.update(over)
    return entry


def _write(tmp_path: Path, entries: list[dict[str, Any]]) -> Path:
    path = tmp_path / "hw.yaml"
    path.write_text(yaml.safe_dump({"hardware": entries}, sort_keys=False), encoding="utf-8")
    return path


def test_minimal_valid_catalog(tmp_path: Path) -> None:
    cat = load_catalog(_write(tmp_path, [_entry(), _entry(name="X2", kind="cpu", capex_usd=1000)]))
    assert cat.names == ["X1", "X2"]
    assert cat.get("X1")["peak_int8_ops"] is None
    assert cat.price("X2")["date"] == dt.date(2026, 1, 2)


def test_idle_w_optional_nullable_and_allowed_in_approx(tmp_path: Path) -> None:
    entries = [
        _entry(),
        _entry(name="X2", idle_w=None),
        _entry(name="X3", idle_w=35, approx=["idle_w", "tdp_w"]),
        _entry(name="X4", idle_w=12.5, approx=True),
        _entry(name="X5", idle_w=0),
    ]
    cat = load_catalog(_write(tmp_path, entries))
    assert [cat.get(n)["idle_w"] for n in cat.names] == [None, None, 35.0, 12.5, 0.0]
    assert cat.hardware.get_column("idle_w").to_list() == [None, None, 35.0, 12.5, 0.0]
    assert cat.get("X3")["approx"] == ["idle_w", "tdp_w"]
    assert "idle_w" in cat.get("X4")["approx"] and "capex_usd" in cat.get("X4")["approx"]
    assert cat.get("X1")["approx"] == []


def _gpu(name: str, bf16: float | None, fp16: float | None, bw: float, kind: str = "gpu") -> dict[str, Any]:
    return _entry(name=name, kind=kind, peak_bf16_tflops=bf16, peak_fp16_tflops=fp16, mem_bw_gb_s=bw)


@pytest.mark.parametrize(
    ("entries", "kind", "expected"),
    [
        # highest bf16 wins whatever the order
        ([_gpu("A", 100, 100, 900), _gpu("B", 200, 200, 100)], "gpu", "B"),
        ([_gpu("B", 200, 200, 100), _gpu("A", 100, 100, 900)], "gpu", "B"),
        # no bf16: the fp16 peak counts (300 fp16 beats 250 bf16)
        ([_gpu("BF", 250, 250, 900), _gpu("FP", None, 300, 100)], "gpu", "FP"),
        # no bf16 and no fp16: counts as 0, loses to any peak
        ([_gpu("NONE", None, None, 9000), _gpu("SLOW", 1, 1, 10)], "gpu", "SLOW"),
        # a bf16 tie is broken by memory bandwidth, in either order
        ([_gpu("LOW", 500, 500, 1000), _gpu("HIGH", 500, 500, 2000)], "gpu", "HIGH"),
        ([_gpu("HIGH", 500, 500, 2000), _gpu("LOW", 500, 500, 1000)], "gpu", "HIGH"),
        # only entries of the asked kind count
        ([_gpu("G", 10, 10, 100), _gpu("C", 50, 50, 50, kind="cpu"), _gpu("C2", 5, 5, 500, kind="cpu")], "cpu", "C"),
        ([_gpu("G", 10, 10, 100), _gpu("C", 50, 50, 50, kind="cpu")], "gpu", "G"),
    ],
)
def test_strongest_of_a_hand_written_catalog(tmp_path: Path, entries, kind, expected) -> None:
    assert load_catalog(_write(tmp_path, entries)).strongest(kind) == expected


def test_strongest_without_an_entry_of_that_kind(tmp_path: Path) -> None:
    path = _write(tmp_path, [_gpu("G", 10, 10, 100)])
    with pytest.raises(CatalogError, match="no cpu entry") as err:
        load_catalog(path).strongest("cpu")
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_did_you_mean_hint() -> None:
    assert did_you_mean("H100-SMX", ["H100-SXM", "L4"]) == " (did you mean 'H100-SXM'?)"
    assert did_you_mean("zzz", ["H100-SXM", "L4"]) == ""
    assert did_you_mean("c7i.large", ["c7i.large", "c7i.xlarge"]) == " (did you mean 'c7i.large' or 'c7i.xlarge'?)"


def test_cpu_entry_of_a_hand_written_catalog_counts_gib(tmp_path: Path) -> None:
    cat = load_catalog(_write(tmp_path, [_entry(mem_gb=16), _entry(name="C", kind="cpu", mem_gb=16)]))
    assert cat.get("X1")["mem_bytes"] == 16e9
    assert cat.get("C")["mem_bytes"] == 16 * 2**30 == 17_179_869_184


def _without(key: str) -> dict[str, Any]:
    entry = _entry()
    del entry[key]
    return entry


def _price(**over: Any) -> dict[str, Any]:
    price = {"provider": "cloudy", "usd_per_hour": 1.5, "date": "2026-01-02", "source": "cloudy.example/p"}
    price.update(over)
    return _entry(prices=[{k: v for k, v in price.items() if v != "__drop__"}])


@pytest.mark.parametrize(
    ("entries", "entry", "field", "problem"),
    [
        ([_without("mem_bw_gb_s")], "'X1'", "mem_bw_gb_s", "missing"),
        ([_without("peak_bf16_tflops")], "'X1'", "peak_bf16_tflops", "missing"),
        ([_entry(tdp_w=-5)], "'X1'", "tdp_w", "negative"),
        ([_entry(mem_gb="lots")], "'X1'", "mem_gb", "not a number"),
        ([_entry(peak_fp32_tflops=True)], "'X1'", "peak_fp32_tflops", "not a number"),
        ([_entry(peak_fp32_tflops=None)], "'X1'", "peak_fp32_tflops", "null"),
        ([_entry(kind="tpu")], "'X1'", "kind", "unknown kind"),
        ([_entry(), _entry(vendor="other")], "'X1' (#2)", "name", "duplicate of entry #1"),
        ([_entry(mem_bw_gbs=5)], "'X1'", "mem_bw_gbs", "did you mean 'mem_bw_gb_s'"),
        ([_price(date="2026-13-01")], "'X1'", "prices[0].date", "not a date"),
        ([_price(date="last week")], "'X1'", "prices[0].date", "not a date"),
        ([_price(usd_per_hour=-1)], "'X1'", "prices[0].usd_per_hour", "negative"),
        ([_price(usd_per_hour="__drop__")], "'X1'", "prices[0].usd_per_hour", "missing"),
        ([_price(source="__drop__")], "'X1'", "prices[0].source", "missing"),
        ([_entry(prices=[])], "'X1'", "prices", "non-empty"),
        ([_entry(approx=["tdp"])], "'X1'", "approx", "did you mean 'tdp_w'"),
        ([_entry(name=None)], "#1", "name", "not a non-empty string"),
        ([_entry(idle_w=-5)], "'X1'", "idle_w", "-5 is negative"),
        ([_entry(idle_w=-0.5)], "'X1'", "idle_w", "negative"),
        ([_entry(idle_w="low")], "'X1'", "idle_w", "'low' is not a number"),
        ([_entry(idle_w=True)], "'X1'", "idle_w", "not a number"),
        ([_entry(idle_w=float("nan"))], "'X1'", "idle_w", "not a finite number"),
        ([_entry(idle_w=float("inf"))], "'X1'", "idle_w", "not a finite number"),
        ([_entry(idle_watts=20)], "'X1'", "idle_watts", "did you mean 'idle_w'"),
        ([_entry(approx=["idle_watts"])], "'X1'", "approx", "did you mean 'idle_w'"),
    ],
)
def test_validation_error_is_one_line_naming_entry_field_and_file(tmp_path, entries, entry, field, problem) -> None:
    path = _write(tmp_path, entries)
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message
    assert f"entry {entry}" in message
    assert f"field {field!r}" in message
    assert problem in message
    assert isinstance(err.value, ValueError)


def test_unquoted_impossible_date_in_hand_written_yaml(tmp_path: Path) -> None:
    text = _write(tmp_path, [_entry()]).read_text(encoding="utf-8").replace("'2026-01-02'", "2026-02-30")
    assert "date: 2026-02-30" in text
    path = tmp_path / "hand.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError, match=r"entry 'X1' \(#1\): field 'prices\[0\].date': '2026-02-30' is not a date"):
        load_catalog(path)
    path.write_text(text.replace("2026-02-30", "2026-02-28"), encoding="utf-8")
    assert load_catalog(path).price("X1")["date"] == dt.date(2026, 2, 28)


def test_duplicate_provider_and_bad_top_level(tmp_path: Path) -> None:
    twice = {"provider": "cloudy", "usd_per_hour": 1.0, "date": "2026-01-02", "source": "s"}
    with pytest.raises(CatalogError, match=r"field 'prices\[1\].provider': 'cloudy' is listed twice"):
        load_catalog(_write(tmp_path, [_entry(prices=[twice, twice])]))
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="'hardware:' list"):
        load_catalog(bad)
    bad.write_text("hardware: [\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(bad)
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "missing.yaml")
