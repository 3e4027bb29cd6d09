"""The shipped hardware catalog and its validation (pure Python, no models)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from explorer.analysis.hardware import DEFAULT_PATH, CatalogError, load_catalog

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
    # every entry has at least one price, each dated and sourced
    assert set(catalog.prices.get_column("name")) == set(names)
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
    assert row["mem_bytes"] == pytest.approx(mem_gb * 1e9)
    if bf16_tflops is None:
        assert row["peak_bf16_flops"] is None
    else:
        assert row["peak_bf16_flops"] == pytest.approx(bf16_tflops * 1e12)
    assert row["peak_int8_ops"] == pytest.approx(row["peak_int8_tops"] * 1e12)


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
