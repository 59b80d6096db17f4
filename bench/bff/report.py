"""The fan-out run's table, its targets, and ``bench/results/bff-<date>.json`` + ``.md``."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.bff.gateways import GATEWAYS, NODE_DIR
from bench.http_suite import report as http_report

RESULTS = http_report.RESULTS

PY_PACKAGES = ("scallion", "granian", "uvloop", "pyreqwest", "aiohttp", "starlette", "orjson")
NODE_PACKAGES = ("undici", "koa", "@koa/router", "fastify", "express")


def versions() -> dict[str, Any]:
    base = http_report.versions()
    py: dict[str, str] = {}
    for name in PY_PACKAGES:
        try:
            py[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            py[name] = "missing"
    node: dict[str, str] = {"node": base["node"]["node"]}
    for name in NODE_PACKAGES:
        try:
            node[name] = json.loads(
                (NODE_DIR / "node_modules" / name / "package.json").read_text()
            )["version"]
        except (OSError, ValueError, KeyError):
            node[name] = "missing"
    return {**base, "packages": py, "node": node}


def _rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in doc["records"] if r["status"] == "ok" and r["rps_median"]]


def _find(doc: dict[str, Any], gateway: str, scenario: str) -> dict[str, Any] | None:
    for r in doc["records"]:
        if r["gateway"] == gateway and r["scenario"] == scenario and r["status"] == "ok":
            return r if r["rps_median"] else None
    return None


def spread(rec: dict[str, Any]) -> str:
    values = [float(r["rps"]) for r in rec.get("reps", [])]
    if len(values) < 2 or not rec.get("rps_median"):
        return ""
    return f"±{(max(values) - min(values)) / 2 / float(rec['rps_median']) * 100:.0f}%"


def table(doc: dict[str, Any], *, markdown: bool) -> list[str]:
    """One row per timed endpoint, fan-outs first, sorted by throughput."""
    s = doc["settings"]
    slowest = float(s["slowest_upstream_ms"])
    ceiling = float(s["ceiling_rps"])
    koa = _find(doc, "koa", "fanout")
    head = [
        "gateway", "endpoint", "req/s", "vs Koa", "of ceiling", "p50 ms", "p99 ms",
        f"p50 - {slowest:g}", f"p99 - {slowest:g}", "CPU µs/req", "req/s per CPU", "spread",
    ]  # fmt: skip
    order = {"fanout": 0, "cached": 1, "plaintext": 2}
    body: list[list[str]] = []
    for r in sorted(_rows(doc), key=lambda r: (order[r["scenario"]], -float(r["rps_median"]))):
        rps = float(r["rps_median"])
        p50, p99 = float(r["p50_ms_median"]), float(r["p99_ms_median"])
        fan = r["scenario"] == "fanout"
        cpu = r.get("cpu_us_per_request_median")
        body.append(
            [
                r["gateway"],
                r["scenario"],
                f"{rps:,.0f}",
                f"{rps / float(koa['rps_median']):.2f}" if koa and fan else "",
                f"{rps / ceiling:.2f}" if fan else "",
                f"{p50:.1f}",
                f"{p99:.1f}",
                f"{p50 - slowest:+.1f}" if r["scenario"] != "plaintext" else "",
                f"{p99 - slowest:+.1f}" if r["scenario"] != "plaintext" else "",
                f"{cpu:,.0f}" if cpu else "",
                f"{1e6 / cpu:,.0f}" if cpu else "",
                spread(r),
            ]
        )
    if markdown:
        return http_report._md_table(head, body)
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    lines = []
    for row in [head, ["-" * w for w in widths], *body]:
        cells = zip(row, widths, strict=True)
        lines.append(
            "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(cells))
        )
    return lines


def targets(doc: dict[str, Any]) -> list[list[str]]:
    s = doc["settings"]
    slowest = float(s["slowest_upstream_ms"])
    out: list[list[str]] = []
    koa = _find(doc, "koa", "fanout")
    for gw in ("scallion", "scallion-yaml"):
        fan = _find(doc, gw, "fanout")
        if fan is None:
            continue
        rps = float(fan["rps_median"])
        if koa:
            ratio = rps / float(koa["rps_median"])
            out.append(
                [
                    f"{gw} fan-out ≥ Koa + undici",
                    f"{rps:,.0f} vs {float(koa['rps_median']):,.0f} req/s",
                    f"{ratio:.2f}",
                    "≥ 1.00",
                    "yes" if ratio >= 1.0 else "**no**",
                ]
            )
        cpu, koa_cpu = (
            fan.get("cpu_us_per_request_median"),
            (koa or {}).get("cpu_us_per_request_median"),
        )
        if cpu and koa_cpu:
            ratio = float(koa_cpu) / float(cpu)
            out.append(
                [
                    f"{gw} fan-out CPU per request ≤ Koa's",
                    f"{float(cpu):,.0f} vs {float(koa_cpu):,.0f} µs",
                    f"{ratio:.2f}",
                    "≥ 1.00",
                    "yes" if ratio >= 1.0 else "**no**",
                ]
            )
        extra = float(fan["p50_ms_median"]) - slowest
        out.append(
            [
                f"{gw} fan-out p50 within 5 ms of {slowest:g} ms",
                f"p50 {float(fan['p50_ms_median']):.1f} ms",
                f"{extra:+.1f} ms",
                "≤ +5.0 ms",
                "yes" if extra <= 5.0 else "**no**",
            ]
        )
    plain = _find(doc, "scallion", "plaintext")
    for gw in ("scallion", "scallion-yaml"):
        cached = _find(doc, gw, "cached")
        if cached and plain:
            ratio = float(cached["rps_median"]) / float(plain["rps_median"])
            out.append(
                [
                    f"{gw} cached fan-out vs scallion plaintext",
                    f"{float(cached['rps_median']):,.0f} vs {float(plain['rps_median']):,.0f}",
                    f"{ratio:.2f}",
                    "≥ 0.80",
                    "yes" if ratio >= 0.80 else "**no**",
                ]
            )
    return out


def coalescing_rows(doc: dict[str, Any]) -> list[list[str]]:
    body: list[list[str]] = []
    for c in doc.get("coalescing", []):
        if c.get("error") and not c["trials"]:
            body.append([c["gateway"], "ERROR", str(c["requests"]), "", "", c["error"][:120]])
            continue
        naive = next((t for t in c["trials"] if "no coalescing" in t["label"]), None)
        plain = next((t for t in c["trials"] if "no cache" in t["label"]), None)
        base = naive or plain
        for t in c["trials"]:
            saved = ""
            if "coalescing)" in t["label"] and base:
                saved = f"{base['total_calls'] - t['total_calls']:,} ({base['label']})"
            calls = ", ".join(f"{k} {v}" for k, v in t["upstream_calls"].items())
            wrong = f"{t['wrong_answers']} wrong" if t["wrong_answers"] else "all correct"
            body.append(
                [
                    c["gateway"],
                    t["label"],
                    str(c["requests"]),
                    f"{t['total_calls']} ({calls})",
                    saved,
                    wrong,
                ]
            )
    return body


def markdown(doc: dict[str, Any]) -> str:
    s, m, v = doc["settings"], doc["machine"], doc["versions"]
    lat = ", ".join(f"{k} {ms} ms" for k, ms in s["upstream_latency_ms"].items())
    pin = (
        f"Each gateway is one process pinned to CPU {s['server_cpu']}; wrk (1 thread) and the "
        f"upstream process share CPU {s['wrk_cpu']}."
        if s["server_cpu"] is not None
        else "Nothing is pinned (`--no-pin` or fewer than 2 CPUs)."
    )
    out = [
        f"# scallion BFF fan-out benchmark — {doc['date']}",
        "",
        f"Command: `{doc['command']}`  ",
        f"Machine: {m['cpu_model']}, {m['cpus']} CPUs, Linux {m['kernel']}; load average "
        f"{m['load_average'][0]:.2f} at start, {m['load_average_end'][0]:.2f} at the end. "
        f"Python {v['python']}, Node {v['node']['node']}, {v['wrk']}, "
        f"scallion {v['scallion_commit']}.",
        "",
        f"`GET /dashboard/42` calls three upstreams at once ({lat}; one raw uvloop process), "
        "parses each JSON body and answers one merged JSON document (checked before timing). "
        f"wrk: {s['connections']} keep-alive connections, {s['warmup_s']} s warm-up, "
        f"{s['duration_s']} s timed, median of {s['reps']} interleaved repetitions. {pin} "
        f"Ceiling: {s['connections']} / {s['slowest_upstream_ms'] / 1000:g} s = "
        f"{s['ceiling_rps']:,.0f} req/s. `p50 - {s['slowest_upstream_ms']}` is what the "
        "gateway adds to the slowest upstream. CPU µs/req is the gateway process's user + "
        "system CPU (all its threads) over the timed run, divided by the requests answered; "
        "req/s per CPU is 10^6 / that: what one whole CPU would serve. Both move much less "
        "than req/s when other work shares the machine.",
        "",
        "This machine is shared and noisy: read the ratios within this file.",
        "",
        "## Throughput and latency",
        "",
        *table(doc, markdown=True),
        "",
    ]
    tg = targets(doc)
    if tg:
        out += ["## Targets (issue #5), this run", ""]
        out += http_report._md_table(["target", "measured", "value", "goal", "met"], tg)
        out.append("")
    co = coalescing_rows(doc)
    if co:
        out += [
            "## Coalescing",
            "",
            f"{s['burst']} identical requests written at the same instant on {s['burst']} "
            "connections to a cold cache key (a fresh query string); the upstreams count the "
            "calls they answered. Every answer is checked.",
            "",
        ]
        out += http_report._md_table(
            ["gateway", "path", "requests", "upstream calls", "saved", "answers"], co
        )
        out.append("")
    failed = [r for r in doc["records"] if r["status"] != "ok"]
    if failed:
        out += ["## Not measured", ""]
        out += [
            f"- {r['gateway']} `{r['scenario']}`: {r['status']} — "
            f"{(r['reason'].splitlines() or [''])[0]}"
            for r in failed
        ]
        out.append("")
    out += ["## How each gateway is written", ""]
    out += [f"- **{n}** ({GATEWAYS[n].server}): {note}" for n, note in doc["notes"].items()]
    out += ["", "## Versions", ""]
    body = [[k, val] for k, val in v["packages"].items()]
    body += [[k, val] for k, val in v["node"].items()]
    body.append(["wrk", v["wrk"]])
    out += http_report._md_table(["package", "version"], body)
    out.append("")
    return "\n".join(out)


def write(doc: dict[str, Any], stem: str, *, latest: bool) -> tuple[Path, Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"bff-{stem}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    md = RESULTS / f"bff-{stem}.md"
    text = markdown(doc)
    md.write_text(text)
    if latest:
        (RESULTS / "bff-latest.md").write_text(text)
    return path, md
