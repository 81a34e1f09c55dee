"""Usage and costs (X5): delivered SMS per payer and month with their price, and a chart of the
messages sent and delivered each day of the last 30 (an SVG drawn here, no script)."""
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


def per_day(messages: list[dict[str, Any]], zone: str, today: date) -> list[dict[str, Any]]:
    """Messages sent and delivered on each of the last `DAYS` days, in the tenant's zone."""
    days = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    counts = {d: {"day": d, "sent": 0, "delivered": 0, "failed": 0} for d in days}
    for message in messages:
        for field, column in (("sent_at", "sent"), ("delivered_at", "delivered"), ("failed_at", "failed")):
            if message.get(field):
                local = datetime.fromisoformat(message[field]).astimezone(ZoneInfo(zone)).date()
                if local in counts:
                    counts[local][column] += 1
    return [counts[d] for d in days]


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
    messages = await who.api.get("notification", f"/tenants/{who.tenant_id}/messages")
    today = datetime.now(ZoneInfo(who.zone)).date()
    rows = per_day(messages, who.zone, today)
    months: dict[str, list[dict[str, Any]]] = {}
    for row in usage:
        months.setdefault(row["month"], []).append(row)
    return render(request, "usage.html", who, months=sorted(months.items(), reverse=True), rows=rows, chart=chart(rows, who),
                  sent=sum(r["sent"] for r in rows), delivered=sum(r["delivered"] for r in rows), failed=sum(r["failed"] for r in rows))
