"""The PromQL of a Grafana dashboard, ready to run against a real Prometheus.

    from dashboard import dashboard_exprs, DASHBOARD
    for expr in dashboard_exprs(DASHBOARD):
        ...  # GET /api/v1/query?query=expr

dashboard_exprs() returns every panel target's `expr` (rows and nested panels
included) with Grafana's template variables replaced by values Prometheus
accepts on its own: `$machine` -> `.*` (a multi-value variable with "All"),
`$__rate_interval` -> `1m`, and so on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards" / "tracepipe.json"

# Grafana's global variables, with values suited to a standalone query.
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__interval_ms": "60000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
    "__auto": "1m",
    "__all": ".*",
}


def iter_panels(panels: list[dict]) -> Iterator[dict]:
    """Every panel, including those nested in (collapsed) rows."""
    for p in panels or []:
        yield p
        yield from iter_panels(p.get("panels") or [])


def variable_values(dashboard: dict) -> dict[str, str]:
    """Template variable name -> the value to substitute in a standalone query."""
    values = dict(BUILTINS)
    for var in (dashboard.get("templating") or {}).get("list") or []:
        name, kind = var.get("name"), var.get("type")
        if not name or kind in ("datasource", "adhoc"):
            continue
        if kind == "interval":
            values[name] = "1m"
        elif kind in ("constant", "textbox"):
            current = (var.get("current") or {}).get("value")
            values[name] = str(current if current not in (None, "") else var.get("query", ""))
        elif var.get("includeAll") or var.get("multi"):
            values[name] = var.get("allValue") or ".*"
        else:
            current = (var.get("current") or {}).get("value")
            if isinstance(current, list):
                current = current[0] if current else None
            if current in (None, "", "$__all"):
                options = var.get("options") or []
                current = options[0].get("value") if options else ".*"
            values[name] = str(current)
    return values


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace $var, ${var}, ${var:format} and [[var]] (longest names first)."""
    for name in sorted(values, key=len, reverse=True):
        value = values[name]
        n = re.escape(name)
        expr = re.sub(r"\$\{" + n + r"(?::[^}]*)?\}", lambda _m: value, expr)
        expr = re.sub(r"\[\[" + n + r"(?::[^\]]*)?\]\]", lambda _m: value, expr)
        expr = re.sub(r"\$" + n + r"(?![A-Za-z0-9_])", lambda _m: value, expr)
    return expr


def raw_exprs(dashboard: dict) -> list[str]:
    """Every non-empty target expr, as written in the dashboard."""
    out = []
    for panel in iter_panels(dashboard.get("panels") or []):
        for target in panel.get("targets") or []:
            expr = (target.get("expr") or "").strip()
            if expr:
                out.append(expr)
    return out


def dashboard_exprs(path: str | Path = DASHBOARD) -> list[str]:
    """Every panel target's PromQL with the template variables substituted."""
    with open(path, encoding="utf-8") as f:
        dashboard: dict[str, Any] = json.load(f)
    values = variable_values(dashboard)
    return [substitute(expr, values) for expr in raw_exprs(dashboard)]


if __name__ == "__main__":  # print them, one a line
    import sys

    for e in dashboard_exprs(sys.argv[1] if len(sys.argv) > 1 else DASHBOARD):
        print(e)
