"""Versions, the printed table, and the JSON + Markdown files in bench/results/.

The JSON file is the record; the Markdown is rendered from it, so a later ``scale`` run
of the same day can add its section and re-render the whole page.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.http_suite.servers import NODE_DIR, ROOT, node_version
from bench.http_suite.wrk import wrk_version

RESULTS = ROOT / "bench" / "results"

PY_PACKAGES = (
    "scallion", "granian", "uvicorn", "uvloop", "httptools", "starlette", "fastapi", "litestar",
    "blacksheep", "falcon", "aiohttp", "orjson", "msgspec", "pydantic",
)  # fmt: skip
NODE_PACKAGES = (
    "koa", "@koa/router", "@koa/bodyparser", "koa-static", "koa-mount", "koa-etag",
    "koa-conditional-get", "express", "fastify", "@fastify/static",
)  # fmt: skip


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict[str, Any]:
    py: dict[str, str] = {}
    for name in PY_PACKAGES:
        try:
            py[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            py[name] = "missing"
    node: dict[str, str] = {}
    nv = node_version()
    node["node"] = "v" + ".".join(map(str, nv)) if nv else "missing"
    for name in NODE_PACKAGES:
        try:
            node[name] = json.loads(
                (NODE_DIR / "node_modules" / name / "package.json").read_text()
            )["version"]
        except (OSError, ValueError, KeyError):
            node[name] = "missing"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "packages": py,
        "node": node,
        "wrk": wrk_version(),
        "scallion_commit": commit or "unknown",
    }


def machine() -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()),
    }


# -- the numbers -------------------------------------------------------------------------


def _index(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["framework"], r["server"], r["scenario"]): r for r in records}


def _reference(
    idx: dict[tuple[str, str, str], dict[str, Any]],
    fw: str,
    server: str,
    scenario: str,
    servers: list[str],
) -> float | None:
    """The same scenario of ``fw`` on the same server (own-server peers: the first ASGI one).

    The Express scenarios have no twin in other frameworks; they compare with their plain
    counterparts (``express-mw10`` with ``mw10``).
    """
    if fw != "scallion":
        scenario = scenario.removeprefix("express-")
    for s in [server, *servers]:
        rec = idx.get((fw, s, scenario))
        if rec and rec["rps_median"]:
            return float(rec["rps_median"])
    return None


def spread(rec: dict[str, Any]) -> str:
    """Half the min-max range of the repetitions, as a share of the median (noise gauge)."""
    values = [float(r["rps"]) for r in rec.get("reps", [])]
    if len(values) < 2 or not rec.get("rps_median"):
        return ""
    return f"±{(max(values) - min(values)) / 2 / float(rec['rps_median']) * 100:.0f}%"


def _k(v: float) -> str:
    return f"{v / 1000:.1f}k" if v >= 1000 else f"{v:.0f}"


def rows(http: dict[str, Any]) -> tuple[list[str], list[tuple[str, str]]]:
    """Scenario columns and (framework, server) rows in a stable order."""
    scenarios = http["settings"]["scenarios"]
    order: list[tuple[str, str]] = []
    for r in http["records"]:
        key = (r["framework"], r["server"])
        if key not in order:
            order.append(key)
    return scenarios, order


def cell(http: dict[str, Any], fw: str, server: str, scenario: str, *, markdown: bool) -> str:
    idx = _index(http["records"])
    rec = idx.get((fw, server, scenario))
    if rec is None:
        return ""
    if rec["status"] == "n/a":
        return "n/a"
    if rec["status"] == "failed":
        return "**FAILED**" if markdown else "FAILED"
    rps = float(rec["rps_median"])
    ref = _reference(idx, "raw", server, scenario, http["settings"]["asgi_servers"])
    ratio = f" ({rps / ref:.2f})" if ref else ""
    return _k(rps) + ratio


def text_table(http: dict[str, Any]) -> str:
    scenarios, order = rows(http)
    head = ["framework@server", *scenarios]
    body = [
        [f"{fw}@{srv}", *(cell(http, fw, srv, s, markdown=False) for s in scenarios)]
        for fw, srv in order
    ]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def line(r: list[str]) -> str:
        cells = zip(r, widths, strict=True)
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells))

    out = [line(head), "  ".join("-" * w for w in widths), *map(line, body)]
    return "\n".join(out)


def _md_table(head: list[str], body: list[list[str]]) -> list[str]:
    out = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|",
    ]
    out += ["| " + " | ".join(r) + " |" for r in body]
    return out


def targets(http: dict[str, Any]) -> list[list[str]]:
    """The issue's §2 targets, evaluated on this run's own numbers (per ASGI server)."""
    idx = _index(http["records"])
    out: list[list[str]] = []

    def rps(fw: str, srv: str, sc: str) -> float | None:
        rec = idx.get((fw, srv, sc))
        return float(rec["rps_median"]) if rec and rec["rps_median"] else None

    def add(name: str, a: float | None, b: float | None, threshold: float, against: str) -> None:
        if a is None or b is None:
            return
        ratio = a / b
        ok = "yes" if ratio >= threshold else "**no**"
        out.append([name, _k(a), f"{against} {_k(b)}", f"{ratio:.2f}", f"≥ {threshold:.2f}", ok])

    python_peers = [
        fw
        for fw in dict.fromkeys(r["framework"] for r in http["records"])
        if fw not in {"raw", "scallion"}
        and not fw.startswith(("node", "koa", "express", "fastify"))
    ]
    for srv in http["settings"]["asgi_servers"]:
        if rps("scallion", srv, "plaintext") is None:
            continue
        tag = f"@{srv}"
        for sc in ("plaintext", "json"):
            add(
                f"{sc}{tag} vs raw ASGI", rps("scallion", srv, sc), rps("raw", srv, sc), 0.90, "raw"
            )
            for peer in python_peers:
                peer_srv = srv if idx.get((peer, srv, sc)) else "aiohttp"
                add(
                    f"{sc}{tag} vs {peer}",
                    rps("scallion", srv, sc),
                    rps(peer, peer_srv, sc),
                    1.0,
                    peer,
                )
        plain = rps("scallion", srv, "plaintext")
        add(f"mw10{tag} vs own plaintext", rps("scallion", srv, "mw10"), plain, 0.90, "plaintext")
        add(
            f"router100{tag} vs own plaintext",
            rps("scallion", srv, "router100"),
            plain,
            0.95,
            "plaintext",
        )
        add(
            f"express-plaintext{tag} vs plaintext",
            rps("scallion", srv, "express-plaintext"),
            plain,
            0.85,
            "plaintext",
        )
        add(
            f"express-mw10{tag} vs mw10",
            rps("scallion", srv, "express-mw10"),
            rps("scallion", srv, "mw10"),
            0.85,
            "mw10",
        )
        for sc in http["settings"]["scenarios"]:
            add(f"{sc}{tag} vs Koa", rps("scallion", srv, sc), rps("koa", "node", sc), 1.0, "koa")
    return out


def markdown(doc: dict[str, Any]) -> str:
    out: list[str] = [f"# scallion benchmark — {doc['date']}", ""]
    m, v = doc["machine"], doc["versions"]
    out += [
        f"Machine: {m['cpu_model']}, {m['cpus']} CPUs, Linux {m['kernel']}, "
        f"load average at start {m['load_average'][0]:.2f}. "
        f"Python {v['python']}, Node {v['node']['node']}, {v['wrk']}, "
        f"scallion {v['scallion_commit']}.",
        "",
        "Numbers from a noisy shared machine: read the ratios, which compare frameworks "
        "measured in the same run, and never compare req/s with another day's file.",
        "",
    ]
    http = doc.get("http")
    if http:
        s = http["settings"]
        out += [
            "## HTTP throughput",
            "",
            f"Command: `{http['command']}`  ",
            f"One worker per server pinned to CPU {s['server_cpu']}, wrk (1 thread, "
            f"{s['connections']} keep-alive connections) pinned to CPU {s['wrk_cpu']}; "
            f"{s['warmup_s']} s warm-up, "
            f"{s['duration_s']} s timed, median of {s['reps']} interleaved repetitions "
            "(spread: half the min-max range of the repetitions). "
            "Each cell: median req/s (ratio to the raw ASGI callable on the same server; "
            "own-server peers against raw ASGI on granian).",
            "",
        ]
        scenarios, order = rows(http)
        out += _md_table(
            ["framework @ server", *scenarios],
            [
                [f"{fw} @ {srv}", *(cell(http, fw, srv, sc, markdown=True) for sc in scenarios)]
                for fw, srv in order
            ],
        )
        out += ["", "### Per scenario (sorted), with p99 latency", ""]
        idx = _index(http["records"])
        for sc in scenarios:
            recs = sorted(
                (r for r in http["records"] if r["scenario"] == sc and r["status"] == "ok"),
                key=lambda r: -float(r["rps_median"]),
            )
            if not recs:
                continue
            body = []
            for r in recs:
                ref = _reference(idx, "raw", r["server"], sc, s["asgi_servers"])
                sref = _reference(idx, "scallion", r["server"], sc, s["asgi_servers"])
                body.append(
                    [
                        f"{r['framework']} @ {r['server']}",
                        f"{float(r['rps_median']):,.0f}",
                        f"{float(r['rps_median']) / ref:.2f}" if ref else "",
                        f"{float(r['rps_median']) / sref:.2f}" if sref else "",
                        f"{float(r['p99_ms_median']):.2f}",
                        spread(r),
                    ]
                )
            out += [f"**{sc}**", ""]
            out += _md_table(
                ["framework @ server", "req/s", "vs raw ASGI", "vs scallion", "p99 ms", "spread"],
                body,
            )
            out.append("")
        tg = targets(http)
        if tg:
            out += ["### Targets (issue #4 §2), this run", ""]
            out += _md_table(["target", "scallion req/s", "against", "ratio", "goal", "met"], tg)
            out.append("")
        other = [r for r in http["records"] if r["status"] != "ok"]
        if other:
            out += ["### Not measured", ""]
            seen: set[tuple[str, str]] = set()
            for r in other:
                key = (r["framework"], r["reason"])
                if r["status"] == "n/a" and key in seen:
                    continue
                seen.add(key)
                reason = r["reason"].splitlines()[0] if r["reason"] else ""
                where = (
                    r["framework"] if r["status"] == "n/a" else f"{r['framework']} @ {r['server']}"
                )
                out.append(f"- {where} `{r['scenario']}`: {r['status']} — {reason}")
            out.append("")
        warned = [r for r in http["records"] if r.get("warnings")]
        if warned:
            out += ["### Warnings", ""]
            out += [
                f"- {r['framework']} @ {r['server']} `{r['scenario']}`: {'; '.join(r['warnings'])}"
                for r in warned
            ]
            out.append("")
        notes = http.get("notes")
        if notes:
            out += ["### How each peer is written", ""]
            out += [f"- **{k}**: {n}" for k, n in notes.items()]
            out.append("")
    scale = doc.get("scale")
    if scale:
        out += render_scale(scale)
    out += ["## Versions", ""]
    body = [[k, val] for k, val in v["packages"].items()] + [
        [k, val] for k, val in v["node"].items()
    ]
    body.append(["wrk", v["wrk"]])
    out += _md_table(["package", "version"], body)
    out.append("")
    return "\n".join(out)


def render_scale(scale: dict[str, Any]) -> list[str]:
    out = [
        "## Scale: `scallion serve --workers N` (issue #4 §4)",
        "",
        f"Command: `{scale['command']}` ({scale.get('date', '')})  ",
        "wrk shares the same two cores as the server when it is not pinned, so 2 workers "
        "compete with the load generator: read the ratio, not the absolute number.",
        "",
    ]
    body = []
    for r in scale["records"]:
        if r["status"] != "ok":
            body.append(
                [
                    r["setup"],
                    r["scenario"],
                    r["status"].upper(),
                    "",
                    "",
                    r["reason"].splitlines()[0],
                ]
            )
            continue
        body.append(
            [
                r["setup"],
                r["scenario"],
                f"{float(r['rps_median']):,.0f}",
                f"{float(r['ratio_to_1_worker']):.2f}" if r.get("ratio_to_1_worker") else "",
                f"{float(r['p99_ms_median']):.2f}",
                "",
            ]
        )
    out += _md_table(["setup", "scenario", "req/s", "vs 1 worker", "p99 ms", "note"], body)
    out.append("")
    return out


def write(
    doc: dict[str, Any], stem: str, *, latest: bool, primary: bool = True
) -> tuple[Path, Path]:
    """Merge ``doc`` into ``bench/results/<stem>.json`` and render the Markdown next to it.

    A ``primary`` document (the HTTP run) replaces the file's date, machine and versions;
    a secondary one (``scale``) only adds its own section and keeps them.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{stem}.json"
    merged: dict[str, Any] = {}
    if path.exists():
        try:
            merged = json.loads(path.read_text())
        except ValueError:
            merged = {}
    if primary or not merged:
        merged.update(doc)
    else:
        merged.update({k: v for k, v in doc.items() if k not in ("date", "machine", "versions")})
    path.write_text(json.dumps(merged, indent=2) + "\n")
    md = RESULTS / f"{stem}.md"
    text = markdown(merged)
    md.write_text(text)
    if latest:
        (RESULTS / "latest.md").write_text(text)
    return path, md


def command_line() -> str:
    return "python -m bench " + " ".join(sys.argv[1:])
