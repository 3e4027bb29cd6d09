"""Sweep spec parsing: valid specs load, every error is one line naming the field and its line."""

from __future__ import annotations

import pytest

from explorer.config.spec import SpecError, SweepSpec, load_spec, parse_spec

GOOD = """\
models: [tiny-random-llama]
quantizations: [bf16, int8]
tasks: [explorer_arith]
limit: 10
"""


def test_good_spec_defaults() -> None:
    spec = parse_spec(GOOD)
    assert spec.models == ["tiny-random-llama"]
    assert spec.quantizations == ["bf16", "int8"]
    assert (spec.limit, spec.batch_size, spec.device, spec.num_fewshot) == (10, 8, "auto", None)


def test_unknown_field_names_line_and_suggestion() -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(GOOD + "quantisations: [int4]\n", source="s.yaml")
    msg = str(err.value)
    assert msg.startswith("s.yaml line 5: unknown field 'quantisations'")
    assert "did you mean 'quantizations'" in msg
    assert "\n" not in msg


def test_bad_level_names_line() -> None:
    with pytest.raises(
        SpecError,
        match=r"line 2: field 'quantizations': unknown quantization level 'int3' "
        r"\(did you mean 'int8' or 'int4'\?\)",
    ):
        parse_spec(GOOD.replace("int8", "int3"), source="s.yaml")


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (GOOD.replace("limit: 10", "limit: -1"), r"line 4: field 'limit': must be a positive integer or null"),
        (GOOD.replace("limit: 10", "limit: 0"), r"line 4: field 'limit': must be a positive integer"),
        (GOOD + "seed: abc\n", r"line 5: field 'seed': must be a non-negative integer"),
        (GOOD.replace("[bf16, int8]", "5"), r"line 2: field 'quantizations': give a list of names"),
        (GOOD + "include_path: 5\n", r"line 5: field 'include_path': give a list of names"),
        (GOOD.replace("[tiny-random-llama]", "[5]"), r"line 1: field 'models': entry 1: model entry must be"),
        (GOOD.replace("limit: 10", "limit: ten"), r"line 4: field 'limit'"),
        (GOOD + "batch_size: 0\n", r"line 5: field 'batch_size': must be a positive integer"),
        (GOOD + "device: tpu\n", r"line 5: field 'device'"),
        (GOOD.replace("[tiny-random-llama]", "[smollm3-135m]"), r"line 1: field 'models': entry 1: .*did you mean"),
        (GOOD.replace("[tiny-random-llama]", "[]"), r"line 1: field 'models': give a non-empty list"),
        (GOOD + "data_dir: /no/such/dir\n", r"line 5: field 'data_dir': '/no/such/dir' is not a folder"),
        ("models: [a\n", r"s.yaml line \d+: not valid YAML"),
        ("- just a list\n", r"must be a mapping"),
    ],
)
def test_errors_are_one_line(text: str, pattern: str) -> None:
    with pytest.raises(SpecError, match=pattern) as err:
        parse_spec(text, source="s.yaml")
    assert "\n" not in str(err.value)


def test_overrides_win_and_missing_file(tmp_path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(GOOD)
    assert load_spec(path, overrides={"limit": 3, "device": None}).limit == 3
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "nope.yaml")


def test_python_construction_checks() -> None:
    spec = SweepSpec(models=["tiny-random-llama"], quantizations="int4", tasks="explorer_pattern")
    assert spec.quantizations == ["int4"] and spec.tasks == ["explorer_pattern"]
    assert SweepSpec.field_help()["limit"].startswith("Documents per task")


ENTRY = (
    "models:\n  - tiny-random-llama\n  - id: tiny-random-llama\n    trust_remote_code: {}\ntasks: [explorer_arith]\n"
)


@pytest.mark.parametrize(
    ("value", "shown"),
    [('"false"', "'false'"), ("'true'", "'true'"), ("no", "'no'"), ("yes", "'yes'"), ("off", "'off'")]
    + [("0", "0"), ("1", "1"), ("null", "None")],
)
def test_booleans_are_strict(value: str, shown: str) -> None:
    """bool('false') is True: anything but an unquoted true/false is refused, naming the field and its line."""
    with pytest.raises(SpecError) as err:
        parse_spec(ENTRY.format(value), source="s.yaml")
    msg = str(err.value)
    assert msg.startswith("s.yaml line 4: field 'models': entry 2: trust_remote_code must be true or false (")
    assert msg.endswith(f"(a YAML boolean, unquoted), got {shown}")
    assert "\n" not in msg


def test_true_and_false_are_booleans() -> None:
    from explorer.models.sources import parse_model

    on = parse_spec(ENTRY.format("true"), source="s.yaml")
    assert parse_model(on.models[1]).trust_remote_code is True
    assert parse_model(parse_spec(ENTRY.format("False")).models[1]).trust_remote_code is False
    for bad in ("false", "no", 0, 1, None):  # the Python API is as strict
        with pytest.raises(ValueError, match=rf"trust_remote_code must be true or false .*got {bad!r}"):
            parse_model({"id": "tiny-random-llama", "trust_remote_code": bad})
        with pytest.raises(SpecError, match=r"field 'models': entry 1: trust_remote_code must be true or false"):
            SweepSpec(models=[{"id": "tiny-random-llama", "trust_remote_code": bad}], tasks=["explorer_arith"])
