"""The public app holds up: read-only under any Voila, no server path in any widget's state, no traceback to the
page (callbacks and malformed widget messages), a cap on viewers with a busy page beyond it, and `explorer app`
leaves nothing behind when stopped (SIGTERM) or killed (SIGKILL)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("anywidget")

from explorer.ui.app import KernelGuard, free_port, serve_app, stop_process_tree  # noqa: E402
from explorer.ui.common import hide_tracebacks, one_line, read_only_default, strip_paths  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "data" / "demo_cpu"
REF = re.compile(r"IPY_MODEL_([0-9a-f]+)")


# ------------------------------------------------------------------------------------------ pure parts
def test_read_only_default_follows_voila_and_the_explicit_variable() -> None:
    assert read_only_default({}) is False  # JupyterLab, nbclient
    assert read_only_default({"VOILA_PREHEAT": "True", "VOILA_BASE_URL": "/"}) is True  # explorer app's pool
    assert read_only_default({"VOILA_PREHEAT": "False", "SERVER_SOFTWARE": "voila/0.5.13"}) is True  # /voila/render
    assert read_only_default({"SERVER_SOFTWARE": "voila/0.5.13"}) is True
    assert read_only_default({"VOILA_BASE_URL": "/", "EXPLORER_READ_ONLY": "0"}) is False  # asked explicitly
    assert read_only_default({"EXPLORER_READ_ONLY": "1"}) is True
    with pytest.raises(ValueError, match="EXPLORER_READ_ONLY='maybe': use 1"):
        read_only_default({"EXPLORER_READ_ONLY": "maybe"})


def test_strip_paths_keeps_the_last_part_only() -> None:
    assert strip_paths("task_source data_dir:/srv/shared/benchmarks") == "task_source data_dir:benchmarks"
    assert strip_paths("'/home/u/results/records/x.json' is missing") == "'x.json' is missing"
    assert strip_paths("USD / hour, queries/day, 3/4") == "USD / hour, queries/day, 3/4"
    assert one_line(FileNotFoundError(2, "No such file", "/srv/r/x.json")) == "[Errno 2] No such file: 'x.json'"
    assert one_line(KeyError("k")) == "KeyError: 'k'"


def test_kernel_guard_counts_viewers_and_admitted_requests() -> None:
    guard = KernelGuard(2)
    first, second = guard.admit([]), guard.admit([])
    assert first and second and guard.admit([]) is None  # two admitted, none with its kernel yet: full
    guard.got_kernel(first, "k1")
    guard.done(first)  # the request ended: its kernel still counts
    assert guard.in_use(["k1", "spare"]) == 2 and guard.admit(["k1", "spare"]) is None
    guard.done(second)  # ended before it got a kernel (client gone): its slot is free again
    assert guard.in_use(["k1"]) == 1
    assert guard.admit([]) is not None  # k1 shut down (page closed or culled): it leaves the count
    assert guard.viewers == set() and guard.waiting == 1


# ------------------------------------------------------------------------------------------ widget state
def _states(root) -> list[tuple[str, dict]]:
    """(class name, state) of every widget the page receives: the root and every model its state refers to."""
    from ipywidgets.widgets.widget import _instances

    seen, todo, out = set(), [root.model_id], []
    while todo:
        mid = todo.pop()
        if mid in seen or mid not in _instances:
            continue
        seen.add(mid)
        widget = _instances[mid]
        state = widget.get_state()
        out.append((type(widget).__name__, state))
        todo.extend(REF.findall(json.dumps(state, default=str)))
    return out


def _strings(state: dict) -> Iterator[str]:
    """Every string in a state, base64 data: URIs decoded (the downloads)."""
    text = json.dumps(state, default=str)
    yield text
    for b64 in re.findall(r"base64,([A-Za-z0-9+/=]+)", text):
        yield base64.b64decode(b64).decode("latin-1")


def test_read_only_app_has_no_path_widget_and_no_server_path_in_its_state(tmp_path: Path, capfd) -> None:
    from explorer.ui.explore import ExploreApp
    from explorer.ui.pages import Pages

    results = shutil.copytree(SHIPPED, tmp_path / "served-results")
    app = ExploreApp(results, read_only=True)
    assert app.dir_text is None and app.reload is None and app.export_dir is None
    with pytest.raises(AttributeError):
        app.read_only = False  # fixed for the app's life
    pages = Pages(app)
    pages.selected_index = 1  # the tiered page too
    assert pages.tiered is not None
    app.show_detail([{"cell_id": app.chart_rows()[0]["cell_id"]}])
    assert "per-document results" in app.detail_html.value
    secrets = [str(results), str(REPO), str(Path.home()), sys.prefix, "/work/shared"]
    states = []
    for fmt in ("Parquet", "PNG", "SVG", "CSV"):  # every download, as the page receives it
        app.export_buttons[fmt].click()
        assert "download explorer_" in app.export_html.value, (fmt, app.export_html.value)
        states.append((f"export {fmt}", app.export_html.get_state()))
    csv = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)", app.export_html.value).group(1)).decode()
    assert "data_dir:benchmarks" in csv  # the records' task_source (data_dir:/abs/path), without its folders
    states += _states(pages)
    names = {name for name, _ in states}
    assert len(states) > 50 and "RowsChart" in names and "Text" not in names and "Textarea" not in names
    for name, state in states:
        for text in _strings(state):
            for secret in secrets:
                assert secret not in text, (name, secret, text[max(0, text.find(secret) - 80) :][:200])

    # a callback that fails: one line without paths on the page, the traceback in the server log
    def boom() -> None:
        raise RuntimeError(f"cannot read {results}/records/x.json")

    app.build = boom
    app.traffic.value = 2e6
    assert "RuntimeError: cannot read x.json (details in the server log)" in app.status.value
    assert str(results) not in app.status.value
    assert "Traceback" in capfd.readouterr().err


def _iopub_after(kc, msg_id: str, timeout: float = 10) -> list[dict]:
    """The kernel's iopub messages for one request, until it goes idle."""
    out, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return out
        if msg["msg_type"] != "status":
            out.append(msg)
    raise TimeoutError(f"no idle after {msg_id}")


def test_malformed_widget_messages_send_no_traceback_to_the_page(tmp_path: Path) -> None:
    """A real kernel with hide_tracebacks: widget messages that raise (callback, bad value, garbage) answer one
    line without paths on iopub (what the page receives); the traceback goes to the kernel's own stderr."""
    jupyter_client = pytest.importorskip("jupyter_client")
    stderr = tmp_path / "kernel.err"
    km = jupyter_client.KernelManager(kernel_name="python3")
    with open(stderr, "wb") as err:
        km.start_kernel(stderr=err, cwd=str(REPO))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        setup = (
            "from explorer.ui.common import hide_tracebacks\nimport ipywidgets as w\n"
            "assert hide_tracebacks()\ns, b = w.FloatSlider(), w.Button()\n"
            f"b.on_click(lambda _: open({str(tmp_path / 'secret' / 'x.txt')!r}))\n"
            "print(s.model_id, b.model_id)"
        )
        out = _iopub_after(kc, kc.execute(setup), timeout=60)
        slider, button = next(m["content"]["text"] for m in out if m["msg_type"] == "stream").split()
        sent = [
            (button, {"method": "custom", "content": {"event": "click"}}),  # the callback raises
            (slider, {"method": "update", "state": {"value": "abc"}, "buffer_paths": []}),  # bad value
            (slider, {"method": "update", "state": 5}),  # not a state
            (slider, {}),  # no method
            (slider, {"method": "bogus"}),
        ]
        errors = []
        for comm_id, data in sent:
            msg = kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
            kc.shell_channel.send(msg)
            for reply in _iopub_after(kc, msg["header"]["msg_id"]):
                text = json.dumps(reply["content"])
                assert "Traceback" not in text and str(REPO) not in text and str(tmp_path) not in text, text
                assert "site-packages" not in text, text
                if reply["msg_type"] == "error":
                    errors.append(reply["content"])
        assert len(errors) == 4 and all(len(e["traceback"]) == 1 for e in errors), errors
        assert errors[0]["traceback"] == ["FileNotFoundError: [Errno 2] No such file or directory: 'x.txt'"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    log = stderr.read_text()
    assert "Traceback" in log and str(tmp_path / "secret") in log  # the server log keeps the details


# ------------------------------------------------------------------------------------------ the served app
def _get(url: str, opener=None) -> tuple[int, dict, str]:
    try:
        with (opener or urllib.request.build_opener()).open(url, timeout=60) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_for(text: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in (log.read_text(errors="replace") if log.exists() else ""):
        assert time.monotonic() < deadline, f"no {text!r} in {log}"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_viewer_over_the_cap_gets_the_busy_page(tmp_path: Path) -> None:
    """Cap 1: the second page request gets the busy page; the first page's unload beacon (the shutdown POST with
    the _xsrf cookie the page handler sets) frees its kernel, and the next request is served again."""
    import http.cookiejar

    port, jar = free_port(), http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    proc = serve_app(SHIPPED, port=port, log_file=tmp_path / "voila.log", max_kernels=1)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for("is filled with 1 kernel", tmp_path / "voila.log")
        status, _, page = _get(url, opener)
        assert status == 200 and "jupyter-widgets" in page  # the first viewer: the preheated kernel
        status, headers, busy = _get(url)
        assert status == 503 and headers["Retry-After"] == "60" and "retry in a minute" in busy, (status, busy)
        assert "1 people are using it" in busy
        kernel_id = re.search(r'"kernelId": "([0-9a-f-]+)"', page).group(1)
        xsrf = next(c.value for c in jar if c.name == "_xsrf")
        beacon = urllib.request.Request(url + f"voila/api/shutdown/{kernel_id}", data=f"_xsrf={xsrf}".encode())
        with opener.open(beacon, timeout=30) as r:
            assert r.status == 204
        assert _get(url)[0] == 200  # the slot is free again
    finally:
        stop_process_tree(proc)
    assert not _port_open(port)


VOILA_ENV_NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": (
        "import os\nfrom explorer.ui.common import read_only_default\n"
        "open(os.environ['PROBE_OUT'] + os.environ.get('VOILA_PREHEAT', 'x'), 'w').write(str(read_only_default()))"
    )}],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("preheat", [True, False])
def test_voila_kernels_default_to_read_only(tmp_path: Path, preheat: bool) -> None:
    """Plain Voila (no EXPLORER_READ_ONLY): preheated (explorer app's pool) or not (Binder's /voila/render and
    Jupyter's Voila extension go through the same page handler), the notebook's kernel says read-only."""
    notebook = tmp_path / "probe.ipynb"
    notebook.write_text(json.dumps(VOILA_ENV_NOTEBOOK))
    env = {k: v for k, v in os.environ.items() if k != "EXPLORER_READ_ONLY" and not k.startswith("VOILA")}
    env.update(PROBE_OUT=str(tmp_path / "read_only."), PYTHONPATH=str(REPO))
    port = free_port()
    cmd = [sys.executable, "-m", "voila", str(notebook), f"--port={port}", "--Voila.ip=127.0.0.1", "--no-browser",
           f"--VoilaConfiguration.preheat_kernel={preheat}"]  # fmt: skip
    with open(tmp_path / "voila.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        from explorer.ui.app import wait_until_up

        wait_until_up(f"http://127.0.0.1:{port}/", proc=proc)
        assert _get(f"http://127.0.0.1:{port}/")[0] == 200
        out = tmp_path / f"read_only.{preheat}"
        deadline = time.monotonic() + 30
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert out.read_text() == "True", (tmp_path / "voila.log").read_text()[-2000:]
    finally:
        stop_process_tree(proc)


def _start_cli_app(tmp_path: Path) -> tuple[subprocess.Popen, int, list]:
    """`explorer app` (the real CLI) on the shipped results; returns it, its port and its descendants once the
    preheated kernel runs."""
    import psutil

    port, log = free_port(), tmp_path / "app.log"
    with open(log, "wb") as out:
        cli = subprocess.Popen([sys.executable, "-m", "explorer.cli", "app", str(SHIPPED), "--port", str(port),
                                "--no-browser"], cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True)  # fmt: skip
    _wait_for("is filled with 1 kernel", log, timeout=90)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        family = psutil.Process(cli.pid).children(recursive=True)
        if any("ipykernel" in " ".join(p.cmdline()) for p in family):
            return cli, port, family
        time.sleep(0.2)
    raise AssertionError(f"no kernel under explorer app: {[p.cmdline() for p in family]}")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_explorer_app_leaves_no_orphan(tmp_path: Path, sig: signal.Signals) -> None:
    """SIGTERM: the CLI stops Voila's group and waits; SIGKILL: Voila gets SIGTERM from PR_SET_PDEATHSIG and
    shuts its kernels down. Either way, within seconds the port is closed and none of its processes is left."""
    import psutil

    cli, port, family = _start_cli_app(tmp_path)
    try:
        assert _port_open(port) and len(family) >= 2  # voila and its kernel
        os.kill(cli.pid, sig)
        cli.wait(timeout=30)
        _, alive = psutil.wait_procs(family, timeout=15)
        assert not alive, [p.cmdline() for p in alive]
        assert not _port_open(port)
        if sig == signal.SIGTERM:
            assert cli.returncode == 0
    finally:
        for p in [cli, *family]:
            with contextlib.suppress(ProcessLookupError, psutil.Error):
                p.kill()


def test_hide_tracebacks_outside_ipython_is_a_no_op() -> None:
    assert hide_tracebacks() is False
