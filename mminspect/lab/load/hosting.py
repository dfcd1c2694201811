"""The hosting probes: what a script on the open internet could try, bounded, on loopback.

    python -m mminspect.lab.load --hosting [--api-calls 100] [--json out.json]

It starts the app as a Space would see it (MMINSPECT_PUBLIC=1, MMINSPECT_TRUSTED_PROXIES=1:
the probes play the proxy and append the "socket" address themselves) and runs:

- spoof: 70 joins of compare-all from one script (listening to each), each with another
  made-up address left of the proxy's entry; counts how many got a place, then times a
  visitor's inspect and redraw from another address while those run;
- bad values: every public endpoint, every input, values out of range, NaN, text for
  numbers, None for a required choice, a choice not offered; each answer must be the app's
  own message (not gradio's words, not "upstream … exception", no server path);
- unheard: three compare-alls joined with nobody listening; the server's CPU time over the
  next seconds shows whether they ran;
- uploads: 40 uploads of 1 MB from one address; the quota must refuse past 30 in its own
  words, and another address is still served;
- api state: N raw inspect_text calls at ~512 tokens with no page (sessions idle after
  MMINSPECT_SESSION_IDLE_S); RSS after their expiry against RSS after the warm-up.
"""
from __future__ import annotations

import json
import math
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx

from .client import in_english, read_stream
from .messages import UNCLEAR, clear_message
from .server import memory_mb

GRADIO_WORDS = ("greater than maximum", "less than minimum", "not in the list of choices",
                "Something went wrong")
# ~510 MiniLM tokens: 40 sentences of about 13
TEXT_512 = " ".join(f"Sentence {i}: the quick brown fox jumps over the lazy dog near the bank."
                    for i in range(38))
ENV = {"MMINSPECT_PUBLIC": "1", "MMINSPECT_TRUSTED_PROXIES": "1"}
PROXY = "10.9.9.9"                       # what the (played) proxy appends for the script


def app_config(url: str) -> dict:
    with urllib.request.urlopen(url + "config", timeout=30) as r:
        return in_english(json.loads(r.read()))


def endpoints(cfg: dict) -> dict[str, tuple[int, list[dict]]]:
    """{api_name: (fn_index, [input components])} of the public endpoints."""
    comps = {c["id"]: c for c in cfg["components"]}
    return {d["api_name"]: (d["id"], [comps[i] for i in d["inputs"]])
            for d in cfg["dependencies"]
            if d.get("api_name") and d.get("api_visibility", "public") == "public"}


def defaults(inputs: list[dict]) -> list:
    return [None if c["type"] == "state" else c.get("props", {}).get("value") for c in inputs]


def with_input(inputs: list[dict], data: list, label: str, value) -> list:
    """`data` with the input whose label starts with `label` set to `value`."""
    i = next(i for i, c in enumerate(inputs) if str(c.get("props", {}).get("label") or "")
             .startswith(label))
    return data[:i] + [value] + data[i + 1:]


def call(url: str, api: str, data: list, headers: dict | None = None,
         timeout: float = 120, session: str | None = None) -> tuple[str, str]:
    """POST /call/<api> then read its stream: (event, message or data). NaN is sent as
    JSON's NaN, as a script could."""
    base = f"{url}gradio_api/call/{api}"
    body = '{"data": %s%s}' % (json.dumps(data, allow_nan=True),
                               f', "session_hash": "{session}"' if session else "")
    try:
        r = httpx.post(base, content=body, timeout=timeout,
                       headers={"Content-Type": "application/json", **(headers or {})})
        if r.status_code != 200:
            return f"http {r.status_code}", r.text[:500]
        event_id = r.json()["event_id"]
        with httpx.stream("GET", f"{base}/{event_id}", timeout=timeout, headers=headers) as s:
            event, payload = read_stream(s.iter_lines(), deadline=time.monotonic() + timeout)
        if event == "hung":
            return "hung", f"no answer in {timeout:.0f} s"
    except httpx.HTTPError as e:
        return "hung", f"{type(e).__name__}"
    if event == "error":
        try:
            payload = (json.loads(payload) or {}).get("error") or "null"
        except (ValueError, AttributeError):
            pass
    return event, payload


# --- bad values ---------------------------------------------------------------------------

def bad_values(component: dict) -> list:
    """Values a component must refuse (the app's message, before any work)."""
    kind, props = component["type"], component.get("props", {})
    if kind in ("slider", "number"):
        lo, hi = props.get("minimum"), props.get("maximum")
        out = [math.nan, "abc", True, [1]]
        out += [lo - 1] if lo is not None else []
        out += [hi + 1] if hi is not None else []
        return out + ([None] if kind == "slider" else [])
    if kind in ("dropdown", "radio") and props.get("allow_custom_value"):
        return [{"a": 1}, ["x"]]       # any text is taken (the handler says what it does)
    if kind in ("dropdown", "radio"):
        multi = props.get("multiselect")
        return [["not-a-choice"] if multi else "not-a-choice", 12345, {"a": 1}] + (
            [None] if props.get("value") is not None and not multi else [])
    if kind == "checkboxgroup":
        return [["not-a-choice"], "x"]
    if kind == "checkbox":
        return ["maybe", None, 3]
    if kind == "textbox":
        return [12345, ["x"], {"a": 1}]
    return []


def app_words(message: str) -> list[str]:
    """What is wrong with a refusal's wording ([] when it is the app's own)."""
    problems = []
    if not clear_message(message) or message in ("null", "None"):
        problems.append("no clear message")
    problems += [f"gradio's words: {w!r}" for w in GRADIO_WORDS + UNCLEAR if w in message]
    if "/work/" in message or "/home/" in message or "/root/" in message or "/tmp/" in message:
        problems.append("a server path")
    return problems


def probe_bad_values(url: str, limit: int = 2000, only: tuple[str, ...] = (), log=print) -> dict:
    eps = endpoints(app_config(url))
    sent, problems, by_endpoint = 0, [], {}
    for api, (_, inputs) in sorted(eps.items()):
        if only and api not in only:
            continue
        base = defaults(inputs)
        for i, comp in enumerate(inputs):
            for value in bad_values(comp):
                if sent >= limit:
                    break
                data = list(base)
                data[i] = value
                event, message = call(url, api, data, timeout=120)
                sent += 1
                by_endpoint[api] = by_endpoint.get(api, 0) + 1
                why = (["it ran"] if event == "complete" else []) + app_words(message)
                if why:
                    problems.append({"endpoint": api, "input": comp.get("props", {}).get("label"),
                                     "value": repr(value)[:40], "event": event,
                                     "message": message[:200], "why": why})
    log(f"bad values: {sent} calls to {len(by_endpoint)} endpoints, {len(problems)} not in the "
        "app's words")
    return {"sent": sent, "endpoints": len(by_endpoint), "problems": problems,
            "passed": not problems}


# --- the queue under a spoofed-address flood -----------------------------------------------

def join(url: str, fn_index: int, data: list, session: str, forwarded: str) -> int:
    body = json.dumps({"data": data, "fn_index": fn_index, "session_hash": session,
                       "event_data": None, "trigger_id": None})
    try:
        r = httpx.post(url + "gradio_api/queue/join", content=body, timeout=30,
                       headers={"Content-Type": "application/json", "X-Forwarded-For": forwarded})
        return r.status_code
    except httpx.HTTPError:
        return 0


class Listener(threading.Thread):
    """Holds a session's result stream open (a script that listens, so its events run)
    until `close()`."""

    def __init__(self, url: str, session: str):
        super().__init__(daemon=True)
        self.client = httpx.Client(timeout=httpx.Timeout(30, read=None))
        request = self.client.build_request(
            "GET", url + f"gradio_api/queue/data?session_hash={session}")
        self.response = self.client.send(request, stream=True)
        self.start()

    def run(self) -> None:
        try:
            for _ in self.response.iter_lines():
                pass
        except (httpx.HTTPError, RuntimeError, ValueError):
            pass

    def close(self) -> None:
        self.response.close()
        self.client.close()


def probe_spoof(url: str, n: int = 70, log=print) -> dict:
    """70 spoofed joins of compare-all (a long job each) from one real address, every one
    listened to; then a visitor from another address inspects and redraws."""
    eps = endpoints(app_config(url))
    index, inputs = eps["compare_attributions"]
    data = with_input(inputs, defaults(inputs), "Text", TEXT_512[:600])
    codes, listeners = [], []
    t0 = time.perf_counter()
    for i in range(n):
        session = f"spoof{i}"
        code = join(url, index, data, session, f"203.0.113.{i % 250}, {PROXY}")
        codes.append(code)
        if code == 200:
            listeners.append(Listener(url, session))      # a script that listens
    joins_s = time.perf_counter() - t0
    _, text_inputs = eps["inspect_text"]
    visitor = {"X-Forwarded-For": "10.8.8.8"}
    t0 = time.perf_counter()
    first = call(url, "inspect_text", defaults(text_inputs), visitor, session="visitor")
    inspect_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    drawn = (call(url, "redraw_text", [None, 1, 2, False], visitor, session="visitor")
             if "redraw_text" in eps else ("", ""))
    redraw_s = time.perf_counter() - t0
    for listener in listeners:                            # the script goes away
        listener.close()
    accepted = codes.count(200)
    out = {"spoofed_joins": n, "joins_s": round(joins_s, 1), "accepted": accepted,
           "refused": codes.count(503), "visitor_inspect": first[0],
           "visitor_inspect_s": round(inspect_s, 2), "visitor_redraw": drawn[0],
           "visitor_redraw_s": round(redraw_s, 2)}
    out["passed"] = (accepted <= 8 and first[0] == "complete"
                     and ("redraw_text" not in eps or drawn[0] == "complete"))
    log(f"spoof: {accepted} of {n} spoofed compare-all joins got a place; the visitor's "
        f"inspect {first[0]} in {inspect_s:.1f} s, redraw {drawn[0]} in {redraw_s:.1f} s")
    time.sleep(3)                                         # the server drops what they left
    return out


# --- events nobody listens to ---------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0            # utime + stime, in ticks


def probe_unheard(url: str, pid: int, wait_s: float = 15.0, log=print) -> dict:
    eps = endpoints(app_config(url))
    index, inputs = eps["compare_attributions"]
    data = with_input(inputs, defaults(inputs), "Text", TEXT_512[:600])
    before = cpu_seconds(pid)
    # from an address of its own (the spoof probe's jobs may still hold PROXY's share)
    codes = [join(url, index, data, f"deaf{i}", f"198.51.100.{i}, 10.6.6.6") for i in range(3)]
    time.sleep(wait_s)
    spent = cpu_seconds(pid) - before
    out = {"joined": codes.count(200), "cpu_s_in_window": round(spent, 2), "window_s": wait_s,
           "passed": codes.count(200) == 3 and spent < 0.25 * wait_s}
    log(f"unheard: {codes.count(200)} compare-alls joined with nobody listening; the server "
        f"spent {spent:.1f} CPU-s in the next {wait_s:.0f} s")
    return out


# --- uploads ---------------------------------------------------------------------------------

def probe_uploads(url: str, n: int = 40, mb: float = 1.0, log=print) -> dict:
    payload = b"\0" * int(mb * 2**20)
    codes, refusal = [], ""
    for _ in range(n):
        r = httpx.post(url + "gradio_api/upload", files={"files": ("x.bin", payload)},
                       headers={"X-Forwarded-For": f"192.0.2.1, {PROXY}"}, timeout=60)
        # (the played proxy appends the socket address it saw: PROXY for this script)
        codes.append(r.status_code)
        if r.status_code != 200 and not refusal:
            refusal = r.text
    other = httpx.post(url + "gradio_api/upload", files={"files": ("y.bin", payload)},
                       headers={"X-Forwarded-For": "10.7.7.7"}, timeout=60).status_code
    out = {"uploads": n, "accepted": codes.count(200), "refusal": refusal[:300],
           "other_client": other}
    out["passed"] = (out["accepted"] < n and other == 200 and refusal.startswith("Upload refused")
                     and not app_words(refusal))
    log(f"uploads: {out['accepted']} of {n} x {mb:g} MB accepted from one address; then "
        f"{refusal[:90]!r}; another address: HTTP {other}")
    return out


# --- state held for API sessions -----------------------------------------------------------

def probe_api_state(url: str, pid: int, calls: int, idle_s: float, limit: float = 0.15,
                    log=print) -> dict:
    eps = endpoints(app_config(url))
    _, inputs = eps["inspect_text"]
    data = with_input(inputs, defaults(inputs), "Text", TEXT_512)

    def rss():
        return (memory_mb(pid) or {}).get("rss")

    call(url, "inspect_text", data)
    time.sleep(idle_s + 5)
    warm, peak, t0 = rss(), 0.0, time.perf_counter()
    failed = 0
    for i in range(calls):
        failed += call(url, "inspect_text", data, timeout=300)[0] != "complete"
        peak = max(peak, rss() or 0)
        if (i + 1) % 20 == 0:
            log(f"api state: {i + 1}/{calls} calls, RSS {rss():.0f} MB")
    run_s = time.perf_counter() - t0
    time.sleep(idle_s + 5)
    after = rss()
    growth = after / warm - 1
    out = {"calls": calls, "failed": failed, "seconds": round(run_s, 1), "idle_s": idle_s,
           "rss_warm_mb": round(warm), "rss_peak_mb": round(peak), "rss_after_expiry_mb": round(after),
           "growth": round(growth, 4), "limit": limit, "passed": growth <= limit and not failed}
    log(f"api state: {calls} raw inspect_text calls at ~512 tokens in {run_s:.0f} s; RSS "
        f"{warm:.0f} MB after warm-up, peak {peak:.0f}, {after:.0f} MB {idle_s + 5:.0f} s after "
        f"the last ({100 * growth:+.1f} %, limit +{100 * limit:.0f} %)")
    return out


def run_hosting(url: str, pid: int, api_calls: int = 100, idle_s: float = 20,
                bad_limit: int = 2000, log=print) -> dict:
    """Every probe above against one server; the record and whether all passed."""
    rec = {"spoof": probe_spoof(url, log=log),
           "unheard": probe_unheard(url, pid, log=log),
           "uploads": probe_uploads(url, log=log),
           "bad_values": probe_bad_values(url, bad_limit, log=log)}
    if api_calls:
        rec["api_state"] = probe_api_state(url, pid, api_calls, idle_s, log=log)
    rec["passed"] = all(v["passed"] for v in rec.values())
    return rec
