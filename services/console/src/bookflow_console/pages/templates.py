"""Message templates (X2, A6): every template with its placeholders, edited per channel and
language with a live preview rendered by the notification service (which also checks the
placeholders); saving is refused, with the line and the reason, when the text is not valid."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from bookflow_console import texts
from bookflow_console.client import ServiceProblem
from bookflow_console.session import Viewer, Who, check_csrf
from bookflow_console.web import flash, redirect, render, t

router = APIRouter()
CHANNELS = ("sms", "email", "letter")


async def _templates(who: Viewer) -> list[dict[str, Any]]:
    return await who.api.get("notification", f"/tenants/{who.tenant_id}/templates")


@router.get("/templates")
async def templates_page(request: Request, who: Who) -> Response:
    who.require("administrator")
    return render(request, "templates.html", who, templates=await _templates(who))


def _source(template: dict[str, Any], channel: str, language: str) -> tuple[str, str, bool]:
    for saved in template["saved"]:
        if saved["channel"] == channel and saved["language"] == language:
            return saved["subject"], saved["body"], True
    default = template["defaults"].get(language, {})
    return default.get("subject", ""), default.get("body", ""), False


async def _preview(who: Viewer, key: str, channel: str, language: str, subject: str | None, body: str | None) -> dict[str, Any]:
    """The rendered text and its SMS size, or the problem in words (with the line)."""
    try:
        shown = await who.api.post("notification", f"/tenants/{who.tenant_id}/templates/{key}/{channel}/{language}/preview",
                                   {"subject": subject, "body": body})
    except ServiceProblem as exc:
        if exc.status in (401, 404) or exc.status >= 500:
            raise
        return {"problem": texts.problem_words(who.language, exc), "fields": texts.field_problems(who.language, exc)}
    return shown


def _choice(channel: str, language: str) -> tuple[str, str]:
    return (channel if channel in CHANNELS else "sms", language if language in texts.LANGUAGES else "sv")


@router.get("/templates/{key}")
async def edit_page(request: Request, who: Who, key: str, channel: str = "sms", language: str = "") -> Response:
    who.require("administrator")
    channel, language = _choice(channel, language or who.extra.get("tenant", {}).get("language") or who.language)
    found = next((x for x in await _templates(who) if x["template_key"] == key), None)
    if found is None:
        raise ServiceProblem("notification", 404, "not-found")
    subject, body, saved = _source(found, channel, language)
    previews = {lang: await _preview(who, key, channel, lang, None, None) for lang in texts.LANGUAGES}
    return render(request, "template_edit.html", who, tpl=found, key=key, channel=channel, language=language, subject=subject, body=body,
                  saved=saved, preview=previews[language], previews=previews, channels=CHANNELS, languages=texts.LANGUAGES)


@router.post("/templates/{key}/preview", dependencies=[Depends(check_csrf)])
async def live_preview(request: Request, who: Who, key: str) -> Response:
    """The preview of a draft, for the page's script (JSON) or, without script, the page again."""
    who.require("administrator")
    form = await request.form()
    channel, language = _choice(str(form.get("channel")), str(form.get("language")))
    subject, body = str(form.get("subject") or ""), str(form.get("body") or "")
    shown = await _preview(who, key, channel, language, subject, body)
    if request.headers.get("accept", "").startswith("application/json"):
        return JSONResponse(shown | {"segments_text": _segments_text(who, shown)})
    found = next((x for x in await _templates(who) if x["template_key"] == key), None)
    if found is None:
        raise ServiceProblem("notification", 404, "not-found")
    previews = {lang: await _preview(who, key, channel, lang, None, None) for lang in texts.LANGUAGES}
    return render(request, "template_edit.html", who, tpl=found, key=key, channel=channel, language=language, subject=subject, body=body,
                  saved=False, preview=shown, previews=previews, channels=CHANNELS, languages=texts.LANGUAGES)


def _segments_text(who: Viewer, shown: dict[str, Any]) -> str:
    if "segments" not in shown:
        return ""
    return texts.ngettext(who.language, "%(num)s SMS segment (%(encoding)s)", "%(num)s SMS segments (%(encoding)s)",
                          shown["segments"]) % {"num": shown["segments"], "encoding": shown.get("encoding", "")}


@router.post("/templates/{key}", dependencies=[Depends(check_csrf)])
async def save(request: Request, who: Who, key: str) -> Response:
    who.require("administrator")
    form = await request.form()
    channel, language = _choice(str(form.get("channel")), str(form.get("language")))
    subject, body = str(form.get("subject") or ""), str(form.get("body") or "")
    try:
        await who.api.put("notification", f"/tenants/{who.tenant_id}/templates/{key}/{channel}/{language}", {"subject": subject, "body": body})
    except ServiceProblem as exc:
        if exc.status in (401, 404) or exc.status >= 500:
            raise
        found = next((x for x in await _templates(who) if x["template_key"] == key), None)
        previews = {lang: await _preview(who, key, channel, lang, None, None) for lang in texts.LANGUAGES}
        return render(request, "template_edit.html", who, status=422, tpl=found, key=key, channel=channel, language=language,
                      subject=subject, body=body, saved=False, preview=await _preview(who, key, channel, language, subject, body),
                      previews=previews, channels=CHANNELS, languages=texts.LANGUAGES,
                      problem={"text": texts.problem_words(who.language, exc), "fields": texts.field_problems(who.language, exc)})
    flash(request, t(who, "Saved. Messages from now on use this text."))
    return redirect(f"/templates/{key}?channel={channel}&language={language}")
