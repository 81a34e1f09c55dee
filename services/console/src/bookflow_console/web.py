"""Rendering a page: the Jinja environment with the catalogs, the filters pages use (dates in the
tenant's zone, states and roles in words), flash messages that survive one redirect, and the
redirect after a form (303, so a reload does not send the form again)."""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape

from bookflow_console import texts
from bookflow_console.session import CSRF, Viewer, csrf_of, language_of, set_cookie

FLASH = "bookflow_flash"
env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"]),
                  trim_blocks=True, lstrip_blocks=True)
texts.install(env)


def _lang(context: Any) -> str:
    return context.get("lang") or "en"


def _zone(context: Any) -> str:
    who = context.get("who")
    return who.zone if who else "UTC"


env.filters.update({
    "clock": pass_context(lambda c, v: texts.clock(v, _lang(c), _zone(c))),
    "day": pass_context(lambda c, v, long=False: texts.day(v, _lang(c), _zone(c), long=long)),
    "moment": pass_context(lambda c, v: texts.moment(v, _lang(c), _zone(c))),
    "state": pass_context(lambda c, v: texts.state_name(_lang(c), v)),
    "transition": pass_context(lambda c, v: texts.gettext(_lang(c), texts.TRANSITIONS[v]) if v in texts.TRANSITIONS else v),
    "status": pass_context(lambda c, v: texts.gettext(_lang(c), texts.MESSAGE_STATUSES[v]) if v in texts.MESSAGE_STATUSES else v),
    "channel": pass_context(lambda c, v: texts.gettext(_lang(c), texts.CHANNELS[v]) if v in texts.CHANNELS else (v or "")),
    "role": pass_context(lambda c, v: texts.gettext(_lang(c), texts.ROLES[v]) if v in texts.ROLES else v),
    "template_name": pass_context(lambda c, v: texts.gettext(_lang(c), texts.TEMPLATES[v]) if v in texts.TEMPLATES else v),
    "freed_reason": pass_context(lambda c, v: texts.gettext(_lang(c), texts.FREED_REASONS[v]) if v in texts.FREED_REASONS else v),
    "item_kind": pass_context(lambda c, v: texts.gettext(_lang(c), texts.ITEM_KINDS[v]) if v in texts.ITEM_KINDS else v),
    "refusal": pass_context(lambda c, v: texts.refusal(_lang(c), v)),
    "money": pass_context(lambda c, v, currency=None: texts.money(v, currency, _lang(c))),
    "number": pass_context(lambda c, v: texts.number(v, _lang(c))),
})
env.globals["LANGUAGE_NAMES"] = texts.LANGUAGE_NAMES


def flash(request: Request, text: str, kind: str = "done") -> None:
    """A message shown once, on the page the next redirect leads to."""
    value = base64.urlsafe_b64encode(json.dumps({"text": text, "kind": kind}).encode()).decode()
    set_cookie(request, FLASH, value, 60)


def _flashed(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH)
    if not raw:
        return None
    set_cookie(request, FLASH, "", 0)
    try:
        return json.loads(base64.urlsafe_b64decode(raw + "=="))
    except ValueError:
        return None


def render(request: Request, template: str, who: Viewer | None = None, status: int = 200, **context: Any) -> HTMLResponse:
    lang = who.language if who else language_of(request)
    html = env.get_template(template).render(
        request=request, who=who, lang=lang, csrf=csrf_of(request), path=request.url.path, flashed=_flashed(request), **context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def t(who_or_lang: Viewer | str, text: str, **values: Any) -> str:
    """A text of the catalogs in Python code (mark it with `texts.N_` where it is defined)."""
    lang = who_or_lang if isinstance(who_or_lang, str) else who_or_lang.language
    translated = texts.gettext(lang, text)
    return translated % values if values else translated


__all__ = ["CSRF", "env", "flash", "redirect", "render", "t"]
