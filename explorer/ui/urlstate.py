"""The explore app's view state in the page URL, so a link reproduces what its sender saw.

- `encode_state(state)` -> a query string (keys sorted, lists comma-joined, values URL-escaped, numbers short);
  `decode_state(query, choices)` -> (the valid values, one notice line per bad key). A bad value keeps the control's
  default (the caller sets only what comes back); unknown keys are ignored with a notice; Voila's, Jupyter's and
  Binder's own parameters (`FOREIGN_KEYS`) are ignored silently. `choices_of(controls)` describes ipywidgets
  controls as `Many` / `One` / `Number`, `state_of` reads them, `set_values` writes decoded values back.
- `UrlState`: an invisible anywidget. The browser sends `initial` (its `location.search`) once when the widget's
  model is created; Python sets `query`, and where `write` is True the browser rewrites its URL with
  `history.replaceState` (no reload, no history entry). `write` defaults to False: only a Voila page owns its URL
  (`under_voila()`); in JupyterLab the URL belongs to Lab.

Why the browser and not the kernel's environment: Voila 0.5 puts the query in the kernel's QUERY_STRING only for a
kernel it starts for the request. This app's kernels are preheated (voila.json: preheat_kernel): the notebook ran
before anyone asked, so QUERY_STRING is unset at notebook time. `voila.utils.wait_for_request()` fetches it later
over Voila's /voila/query/<kernel id> websocket, but it blocks the cell (and everything rendered after it) until a
page claims the kernel, has no receive timeout, is registered only when preheating, and reads private VOILA_*
variables. `initial` comes from the page itself once it connects, preheated kernel or not, under `explorer app`,
Binder's voila/render and Jupyter's Voila extension alike; the cost is one refresh after the first paint.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any
from urllib.parse import quote, unquote_plus

import anywidget
import ipywidgets as w
import traitlets

from explorer.hints import did_you_mean
from explorer.ui.common import under_voila  # noqa: F401  (re-exported: the app asks it whether to write)

# parameters of Voila (template, theme), Jupyter (token) and Binder (urlpath): not ours, never a notice
FOREIGN_KEYS = ("template", "theme", "voila-template", "voila-theme", "classic-tree", "token", "urlpath")
SHOWN_CHARS = 40  # a bad value is quoted in its notice up to this length


@dataclass(frozen=True)
class Many:
    """A multi-select: any non-empty subset of `options`."""

    options: tuple[Any, ...]


@dataclass(frozen=True)
class One:
    """A dropdown / toggle: exactly one of `options`."""

    options: tuple[Any, ...]


@dataclass(frozen=True)
class Number:
    """A number in [min, max] (`integer`: whole numbers only)."""

    min: float
    max: float
    integer: bool = False


Choice = Many | One | Number
_BAD = object()  # a value that keeps its default


# ---------------------------------------------------------------- encode
def _number(x: Real) -> str:
    """Shortest text that reads back as the same number: 10000, 0.9, 1e-05."""
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{x} is not a finite number: nothing a link could carry")
    return str(int(x)) if x.is_integer() and abs(x) < 1e16 else repr(x)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        raise TypeError("a boolean has no URL form: make it a string option ('on' / 'off')")
    return quote(_number(value) if isinstance(value, Real) else str(value), safe="/:@")  # 1e+20 -> 1e%2B20


def _value(value: Any) -> str:
    if isinstance(value, (set, frozenset)):
        value = sorted(value, key=str)
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v) for v in value)  # a comma inside an item is escaped (%2C)
    return _text(value)


def _same(a: Any, b: Any) -> bool:
    many = (list, tuple, set, frozenset)
    if isinstance(a, many) and isinstance(b, many):
        return {str(v) for v in a} == {str(v) for v in b}
    return a == b


def encode_state(state: Mapping[str, Any], defaults: Mapping[str, Any] | None = None, keep: str = "") -> str:
    """`state` as a query string, keys sorted. A key whose value equals its entry in `defaults` is left out (shorter
    links); `keep`: a query string (e.g. `UrlState.initial`) whose FOREIGN_KEYS parameters are appended as they were
    (a Voila theme or template survives the rewrite)."""
    parts = [
        f"{quote(str(key), safe='')}={_value(value)}"
        for key, value in sorted(state.items())
        if not (defaults is not None and key in defaults and _same(value, defaults[key]))
    ]
    parts += [f"{k}={raw}" if raw is not None else k for k, raw in _pairs(keep, raw=True) if k in FOREIGN_KEYS]
    return "&".join(parts)


# ---------------------------------------------------------------- decode
def _pairs(query: str, raw: bool = False) -> list[tuple[str, Any]]:
    """(key, raw value) per `&` part, in order; a part without `=` has the value "" (`raw`: None, kept as given)."""
    out = []
    for part in query.lstrip("?").split("&"):
        key, eq, value = part.partition("=")
        key = unquote_plus(key) if not raw else key
        if key:
            out.append((key, value if eq or not raw else None))
    return out


def _shown(text: str) -> str:
    return repr(text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "...")


def _options_notice(key: str, bad: list[str], options: tuple, kept: str) -> str:
    names = [str(o) for o in options]
    if len(bad) == 1:
        return f"link: {key} {_shown(bad[0])} is not an option{did_you_mean(bad[0], names)}: {kept}"
    listed = ", ".join(_shown(b) + did_you_mean(b, names) for b in bad)
    return f"link: {key} {listed} are not options: {kept}"


def _decode_many(key: str, raw: str, choice: Many) -> tuple[Any, str]:
    items = list(dict.fromkeys(unquote_plus(i) for i in raw.split(",") if i))
    if not items:
        return _BAD, f"link: {key} is empty: default kept"
    by_text = {str(o): o for o in choice.options}
    good = [by_text[i] for i in items if i in by_text]
    bad = [i for i in items if i not in by_text]
    if not bad:
        return tuple(good), ""
    notice = _options_notice(key, bad, choice.options, "left out" if good else "default kept")
    return (tuple(good) if good else _BAD), notice


def _decode_one(key: str, raw: str, choice: One) -> tuple[Any, str]:
    item = unquote_plus(raw)
    by_text = {str(o): o for o in choice.options}
    if item in by_text:
        return by_text[item], ""
    return _BAD, _options_notice(key, [item], choice.options, "default kept")


def _decode_number(key: str, raw: str, choice: Number) -> tuple[Any, str]:
    item = unquote_plus(raw)
    try:
        x = float(item)
    except ValueError:
        x = math.nan
    if not math.isfinite(x):
        return _BAD, f"link: {key} {_shown(item)} is not a number: default kept"
    if choice.integer and not x.is_integer():
        return _BAD, f"link: {key} {_shown(item)} is not a whole number: default kept"
    slack = 1e-12 * max(abs(choice.min), abs(choice.max))  # 10.0**-2 and "0.01" may differ in the last bit
    if not choice.min - slack <= x <= choice.max + slack:
        return _BAD, f"link: {key} {_shown(item)} is outside {choice.min:g} .. {choice.max:g}: default kept"
    return (int(x) if choice.integer else x), ""


def decode_state(query: str, choices: Mapping[str, Choice]) -> tuple[dict[str, Any], list[str]]:
    """The valid values of `query` (a leading "?" is fine) and one notice line per bad or unknown key. Multi-select
    values come back as tuples of the option values, dropdown values as the option value itself, numbers as float
    (int where `integer`). A key given twice: the last one counts."""
    decoders = {Many: _decode_many, One: _decode_one, Number: _decode_number}
    values: dict[str, Any] = {}
    notices: dict[str, str] = {}
    for key, raw in _pairs(query):
        if key in FOREIGN_KEYS:
            continue
        if key not in choices:
            notices[key] = f"link: {_shown(key)} is not a setting{did_you_mean(key, list(choices))}: ignored"
            continue
        value, notice = decoders[type(choices[key])](key, raw, choices[key])
        values.pop(key, None)
        notices.pop(key, None)
        if value is not _BAD:
            values[key] = value
        if notice:
            notices[key] = notice
    return values, list(notices.values())


# ---------------------------------------------------------------- ipywidgets controls
def choices_of(controls: Mapping[str, w.Widget]) -> dict[str, Choice]:
    """What each control accepts, read from the widget (its options or its slider range now)."""
    out: dict[str, Choice] = {}
    for key, ctl in controls.items():
        if isinstance(ctl, w.SelectMultiple):
            out[key] = Many(tuple(ctl._options_values))
        elif isinstance(ctl, (w.Dropdown, w.ToggleButtons, w.RadioButtons, w.Select)):
            out[key] = One(tuple(ctl._options_values))
        elif isinstance(ctl, w.FloatLogSlider):
            out[key] = Number(ctl.base**ctl.min, ctl.base**ctl.max)
        elif isinstance(ctl, (w.FloatSlider, w.IntSlider, w.BoundedFloatText, w.BoundedIntText)):
            out[key] = Number(ctl.min, ctl.max, integer=isinstance(ctl, (w.IntSlider, w.BoundedIntText)))
        else:
            raise TypeError(f"{key}: a {type(ctl).__name__} has no URL form (multi-select, dropdown or slider)")
    return out


def state_of(controls: Mapping[str, w.Widget]) -> dict[str, Any]:
    """Each control's value (what `encode_state` takes)."""
    return {key: ctl.value for key, ctl in controls.items()}


def set_values(controls: Mapping[str, w.Widget], values: Mapping[str, Any]) -> None:
    """Set the decoded `values` on their controls (hold the caller's refresh around it: one refresh, not one per
    control)."""
    for key, value in values.items():
        controls[key].value = value


# ---------------------------------------------------------------- the widget
ESM = """
function write(model) {
  const q = model.get("query");
  if (model.get("write")) history.replaceState(null, "", location.pathname + (q ? "?" + q : "") + location.hash);
}
let sent = false;  // the page's URL goes to Python once (a page has one UrlState), a second after it is drawn:
// sent while the other controls are still being drawn, their first sync could undo what the link set
function send(model) {
  if (sent) return;
  sent = true;
  setTimeout(() => { model.set("initial", location.search.replace(/^\\?/, "")); model.save_changes(); }, 1000);
}
function initialize({ model }) {
  const onChange = () => write(model);
  model.on("change:query", onChange);
  model.on("change:write", onChange);
  model.on("msg:custom", onChange);
  return () => ["change:query", "change:write", "msg:custom"].forEach((e) => model.off(e, onChange));
}
function render({ model, el }) {
  el.style.display = "none";
  send(model);
}
export default { initialize, render };
"""


class UrlState(anywidget.AnyWidget):
    """The page URL's query, both ways: `initial` (browser -> Python, once: `location.search` without "?"),
    `query` (Python -> browser: the URL's new query where `write` is True). Shows nothing."""

    _esm = ESM
    query = traitlets.Unicode("").tag(sync=True)
    initial = traitlets.Unicode("").tag(sync=True)
    write = traitlets.Bool(False).tag(sync=True)

    def rewrite(self) -> None:
        """Write `query` to the URL now, even unchanged (after a link whose bad values left the state as it was)."""
        self.send({"rewrite": True})


class LinkState:
    """Mixin for ExploreApp (needs `url`, `link_note`, `_url_defaults`, the controls, `_quiet`, `_refresh`): the
    view's state (task, hardware, provider, traffic, target, models, quant, view) in the page URL."""

    def _url_controls(self) -> dict[str, w.Widget]:
        return {"task": self.task, "hardware": self.deploy.hardware, "provider": self.deploy.provider,
                "traffic": self.deploy.traffic, "target": self.target, "models": self.models, "quant": self.quants,
                "view": self.view}  # fmt: skip

    def _write_link(self) -> None:
        self.url.query = encode_state(state_of(self._url_controls()), self._url_defaults, keep=self.url.initial)

    def _on_link(self, change: dict) -> None:
        """A page opened a link: its settings (bad values keep the defaults, said in one line), then one refresh."""
        if not hasattr(self, "inputs"):
            return
        values, notices = decode_state(change["new"], choices_of(self._url_controls()))
        with self._quiet():
            set_values(self._url_controls(), values)
        self.link_note.value = (
            f"<small style='color:#8a5a00'>{html.escape('; '.join(notices))}</small>" if notices else ""
        )
        self._refresh()
        self.url.rewrite()
