"""Usage and costs (X5): delivered SMS per payer and month with their price, and a chart of the
messages sent and delivered each day of the last 30 (an SVG drawn here, no script), with the
same days per message kind; the notification service counts them per day."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bookflow_console import texts
from bookflow_console.session import Viewer, Who
from bookflow_console.web import render

router = APIRouter()
DAYS = 30


def per_day(counted: list[dict[str, Any]], today: date) -> list[dict[str, Any]]:
    """Messages sent, delivered and failed on each of the last `DAYS` days (the service counts
    them per day in the tenant's zone, template and channel; days without any are left out)."""
    days = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    counts = {d: {"day": d, "sent": 0, "delivered": 0, "failed": 0} for d in days}
    for row in counted:
        day = date.fromisoformat(row["day"])
        if day in counts:
            for kind in ("sent", "delivered", "failed"):
                counts[day][kind] += row[kind]
    return [counts[d] for d in days]


def per_template(counted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same days' messages per template and channel, the most sent first."""
    totals: dict[tuple[str, str | None], dict[str, Any]] = {}
    for row in counted:
        total = totals.setdefault((row["template_key"], row["channel"]),
                                  {"template_key": row["template_key"], "channel": row["channel"], "sent": 0, "delivered": 0, "failed": 0})
        for kind in ("sent", "delivered", "failed"):
            total[kind] += row[kind]
    return sorted(totals.values(), key=lambda r: (-r["sent"], r["template_key"], r["channel"] or ""))


def chart(rows: list[dict[str, Any]], who: Viewer) -> dict[str, Any]:
    """Bar positions for the SVG: two bars a day (sent, delivered), a scale with round steps."""
    top = max([1, *(max(r["sent"], r["delivered"]) for r in rows)])
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 100_000, 10**9) if top / s <= 5)
    scale_top = step * -(-top // step)
    width, height, left, bottom = 720, 220, 40, 28
    slot = (width - left - 10) / len(rows)
    plot = height - bottom - 10
    bars = []
    for i, r in enumerate(rows):
        x = left + i * slot
        for j, kind in enumerate(("sent", "delivered")):
            h = plot * r[kind] / scale_top
            bars.append({"x": round(x + 2 + j * (slot - 4) / 2, 1), "y": round(10 + plot - h, 1), "w": round((slot - 4) / 2 - 1, 1),
                         "h": round(h, 1), "kind": kind, "n": r[kind], "day": r["day"]})
    ticks = [{"y": round(10 + plot - plot * v / scale_top, 1), "v": v} for v in range(0, scale_top + 1, step)]
    labels = [{"x": round(left + i * slot + slot / 2, 1), "text": texts.day(r["day"], who.language)} for i, r in enumerate(rows) if i % 5 == 0]
    return {"width": width, "height": height, "bars": bars, "ticks": ticks, "labels": labels, "left": left, "base": 10 + plot}


@router.get("/usage")
async def usage_page(request: Request, who: Who) -> Response:
    who.require("administrator", "planner")
    usage = await who.api.get("notification", f"/tenants/{who.tenant_id}/usage")
    today = datetime.now(ZoneInfo(who.zone)).date()
    counted = await who.api.get("notification", f"/tenants/{who.tenant_id}/usage/daily",
                                **{"from": (today - timedelta(days=DAYS - 1)).isoformat(), "to": today.isoformat()})
    rows = per_day(counted, today)
    months: dict[str, list[dict[str, Any]]] = {}
    for row in usage:
        months.setdefault(row["month"], []).append(row)
    return render(request, "usage.html", who, months=sorted(months.items(), reverse=True), rows=rows, chart=chart(rows, who),
                  templates=per_template(counted), sent=sum(r["sent"] for r in rows), delivered=sum(r["delivered"] for r in rows),
                  failed=sum(r["failed"] for r in rows))
