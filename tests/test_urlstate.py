"""The view state in the URL: encode / decode round trips, one notice per bad key, the UrlState widget's traits."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("anywidget")

import ipywidgets as w  # noqa: E402

from explorer.ui.urlstate import (  # noqa: E402
    ESM,
    Many,
    Number,
    One,
    UrlState,
    choices_of,
    decode_state,
    encode_state,
    set_values,
    state_of,
    under_voila,
)

CHOICES = {
    "task": One(("", "arc_easy", "piqa")),
    "hardware": Many(("h100", "a100", "l4", "c7i.large")),
    "provider": One(("", "aws", "gcp")),
    "traffic": Number(10.0, 1e8),
    "target": Number(0.5, 1.0),
    "models": Many(("smollm2-135m", "gemma3-270m", "org/model, v2")),
    "quant": Many(("bf16", "int8", "int4")),
    "view": One(("frontier", "per task", "relative")),
}
STATE = {
    "view": "per task",
    "task": "piqa",
    "hardware": ("h100", "l4"),
    "provider": "aws",
    "traffic": 10000.0,
    "target": 0.9,
    "models": ("gemma3-270m", "org/model, v2"),
    "quant": ("int4",),
}


def test_encode_is_short_sorted_and_escaped():
    query = encode_state(STATE)
    assert query == (
        "hardware=h100,l4&models=gemma3-270m,org/model%2C%20v2&provider=aws&quant=int4&target=0.9"
        "&task=piqa&traffic=10000&view=per%20task"
    )
    assert encode_state(dict(reversed(list(STATE.items())))) == query  # key order does not depend on the dict's
    assert encode_state({"traffic": 12589.254117941673, "x": 1e-05, "n": 3}) == "n=3&traffic=12589.254117941673&x=1e-05"
    assert encode_state({"big": 1e20}) == "big=1e%2B20"  # a bare "+" would read back as a space
    assert decode_state("big=1e%2B20", {"big": Number(0, 1e21)}) == ({"big": 1e20}, [])


def test_encode_leaves_out_defaults_and_keeps_foreign_params():
    defaults = {"hardware": ("l4", "h100"), "target": 0.9, "view": "frontier"}
    query = encode_state({"hardware": ["h100", "l4"], "target": 0.9, "view": "relative"}, defaults)
    assert query == "view=relative"  # same set of hardware, same target: left out
    assert encode_state({"view": "relative"}, keep="?theme=dark&view=frontier&token=abc") == (
        "view=relative&theme=dark&token=abc"
    )
    assert encode_state({}, defaults) == ""


def test_encode_refuses_what_no_link_can_carry():
    with pytest.raises(ValueError, match="finite"):
        encode_state({"traffic": float("nan")})
    with pytest.raises(TypeError, match="boolean"):
        encode_state({"chance": True})


def test_round_trip_gives_the_same_values():
    values, notices = decode_state(encode_state(STATE), CHOICES)
    assert notices == []
    assert values == STATE
    assert isinstance(values["traffic"], float) and isinstance(values["hardware"], tuple)
    values, notices = decode_state("?" + encode_state({"traffic": 12589.254117941673}), CHOICES)
    assert values == {"traffic": 12589.254117941673} and notices == []


def test_decode_reads_browser_forms():
    values, notices = decode_state("view=per+task&models=org%2Fmodel%2C+v2&provider=", CHOICES)
    assert values == {"view": "per task", "models": ("org/model, v2",), "provider": ""}
    assert notices == []
    values, _ = decode_state("quant=int4,int4,,bf16&view=relative&view=frontier", CHOICES)
    assert values == {"quant": ("int4", "bf16"), "view": "frontier"}  # duplicates once, the last key counts


def test_bad_option_keeps_the_default_with_did_you_mean():
    values, notices = decode_state("hardware=h200&view=frontier", CHOICES)
    assert values == {"view": "frontier"}
    assert notices == ["link: hardware 'h200' is not an option (did you mean 'h100' or 'a100'?): default kept"]
    values, notices = decode_state("provider=azure", CHOICES)
    assert values == {} and notices == ["link: provider 'azure' is not an option: default kept"]


def test_multi_select_keeps_its_good_items_and_refuses_empty():
    values, notices = decode_state("quant=int4,int9,fp3", CHOICES)
    assert values == {"quant": ("int4",)}
    assert notices == ["link: quant 'int9' (did you mean 'int8' or 'int4'?), 'fp3' are not options: left out"]
    for query in ("models=", "models", "models=,,"):
        values, notices = decode_state(query, CHOICES)
        assert values == {} and notices == ["link: models is empty: default kept"], query


@pytest.mark.parametrize(
    ("query", "notice"),
    [
        ("traffic=lots", "link: traffic 'lots' is not a number: default kept"),
        ("traffic=nan", "link: traffic 'nan' is not a number: default kept"),
        ("traffic=1e12", "link: traffic '1e12' is outside 10 .. 1e+08: default kept"),
        ("target=0.2", "link: target '0.2' is outside 0.5 .. 1: default kept"),
        ("target=", "link: target '' is not a number: default kept"),
    ],
)
def test_bad_number_keeps_the_default(query, notice):
    values, notices = decode_state(query + "&target=0.95" * query.startswith("traffic"), CHOICES)
    assert values == ({"target": 0.95} if query.startswith("traffic") else {})
    assert notices == [notice]


def test_bad_last_value_drops_an_earlier_good_one():
    values, notices = decode_state("target=0.8&target=2", CHOICES)
    assert values == {} and notices == ["link: target '2' is outside 0.5 .. 1: default kept"]


def test_whole_numbers_and_range_edges():
    choices = {"tokens": Number(0, 512, integer=True), "latency": Number(10.0**-2, 10.0**2)}
    assert decode_state("tokens=64&latency=0.01", choices) == ({"tokens": 64, "latency": 0.01}, [])
    assert decode_state("latency=100", choices)[0] == {"latency": 100.0}
    assert decode_state("tokens=3.5", choices)[1] == ["link: tokens '3.5' is not a whole number: default kept"]


def test_unknown_keys_are_ignored_with_a_notice_foreign_ones_silently():
    values, notices = decode_state("hardwre=h100&theme=dark&token=x&urlpath=voila&target=0.7", CHOICES)
    assert values == {"target": 0.7}
    assert notices == ["link: 'hardwre' is not a setting (did you mean 'hardware'?): ignored"]
    _, notices = decode_state("zzz=1", CHOICES)
    assert notices == ["link: 'zzz' is not a setting: ignored"]


def test_long_bad_values_are_cut_in_the_notice():
    _, notices = decode_state("view=" + "x" * 500, CHOICES)
    assert len(notices) == 1 and len(notices[0]) < 100
    assert re.fullmatch(r"link: view 'x{37}\.\.\.' is not an option: default kept", notices[0])


def test_controls_round_trip_through_a_link():
    controls = {
        "hardware": w.SelectMultiple(options=["h100", "a100", "l4"], value=("h100", "a100", "l4")),
        "provider": w.Dropdown(options=[("cheapest listed", ""), ("aws", "aws")], value=""),
        "traffic": w.FloatLogSlider(value=1e4, min=1, max=8),
        "target": w.FloatSlider(value=0.9, min=0.5, max=1.0, step=0.01),
        "view": w.ToggleButtons(options=["frontier", "relative"], value="frontier"),
        "tokens": w.IntSlider(value=0, min=0, max=512),
    }
    choices = choices_of(controls)
    assert choices["hardware"] == Many(("h100", "a100", "l4"))
    assert choices["provider"] == One(("", "aws"))
    assert choices["traffic"] == Number(10.0, 1e8)
    assert choices["tokens"] == Number(0, 512, integer=True)
    defaults = state_of(controls)
    sent = {**defaults, "hardware": ("l4",), "provider": "aws", "traffic": 250000.0, "view": "relative"}
    query = encode_state(sent, defaults)
    assert query == "hardware=l4&provider=aws&traffic=250000&view=relative"
    values, notices = decode_state(query, choices)
    set_values(controls, values)
    assert notices == [] and state_of(controls) == sent
    with pytest.raises(TypeError, match="Checkbox"):
        choices_of({"chance": w.Checkbox()})


def test_widget_traits_as_the_browser_sets_them():
    url = UrlState()
    assert (url.query, url.initial, url.write) == ("", "", False)
    assert {"query", "initial", "write"} <= set(url.keys)  # synced with the page
    seen = []
    url.observe(lambda change: seen.append(change["new"]), "initial")
    url.initial = "hardware=h100&target=0.8"  # what the page sends once it connects
    values, notices = decode_state(url.initial, CHOICES)
    assert seen == ["hardware=h100&target=0.8"] and values == {"hardware": ("h100",), "target": 0.8}
    url.query = encode_state({**values, "view": "relative"})
    assert url.query == "hardware=h100&target=0.8&view=relative"
    assert UrlState(write=True).write is True


def test_esm_renders_nothing_and_writes_only_when_allowed():
    assert re.search(r"function render\(", ESM) and "export default { initialize, render }" in ESM
    assert 'el.style.display = "none"' in ESM
    assert ESM.count("replaceState") == 1
    guarded = re.search(r'if \(model\.get\("write"\)\) history\.replaceState\(', ESM)
    assert guarded, "replaceState must sit behind the write flag"
    assert 'location.pathname + (q ? "?" + q : "") + location.hash' in ESM
    assert 'model.set("initial", location.search.replace(/^\\?/, ""))' in ESM and "save_changes()" in ESM
    assert "import " not in ESM  # inline, nothing fetched


NODE_CHECK = """
const calls = [];
globalThis.location = { pathname: "/voila/render/x.ipynb", search: "?hardware=h100", hash: "#h" };
globalThis.history = { replaceState: (s, t, url) => calls.push(url) };
const { default: widget } = await import(process.argv[2]);
const attrs = { query: "", initial: "", write: false }, on = {};
const model = { get: (k) => attrs[k], set: (k, v) => { attrs[k] = v; }, save_changes: () => calls.push("saved"),
  on: (e, f) => (on[e] ||= []).push(f), off: (e, f) => { on[e] = on[e].filter((g) => g !== f); } };
const fire = (e) => (on[e] || []).forEach((f) => f());
const cleanup = widget.initialize({ model });
const el = { style: {} }; widget.render({ model, el }); calls.push("display=" + el.style.display);
widget.render({ model, el });  // a second view of the model: the URL still goes once
calls.push("initial=" + attrs.initial);  // not yet: a second after the page is drawn
await new Promise((resolve) => setTimeout(resolve, 1100));
calls.push("initial=" + attrs.initial);
attrs.query = "view=relative"; fire("change:query");
attrs.write = true; fire("change:write");
attrs.query = ""; fire("change:query");
fire("msg:custom");
cleanup(); fire("change:query");
console.log(JSON.stringify(calls));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="no node to run the widget's module")
def test_esm_runs_against_a_fake_page(tmp_path):
    (tmp_path / "widget.mjs").write_text(ESM)
    (tmp_path / "check.mjs").write_text(NODE_CHECK)
    out = subprocess.run(["node", str(tmp_path / "check.mjs"), str(tmp_path / "widget.mjs")], capture_output=True,
                         text=True, timeout=60, check=True).stdout  # fmt: skip
    assert json.loads(out) == [
        "display=none",
        "initial=",
        "saved",
        "initial=hardware=h100",
        "/voila/render/x.ipynb?view=relative#h",  # write turned on: the query waiting is written
        "/voila/render/x.ipynb#h",  # an empty query: no "?"
        "/voila/render/x.ipynb#h",  # rewrite(): written again, unchanged
    ]  # nothing while write was False, nothing after cleanup


def test_under_voila_reads_the_kernel_environment():
    assert under_voila({"VOILA_PREHEAT": "True"}) and under_voila({"SERVER_SOFTWARE": "voila/0.5.13"})
    assert not under_voila({"JPY_SESSION_NAME": "x.ipynb"})
