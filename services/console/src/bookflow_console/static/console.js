// Small progressive enhancements; every page works without them.
"use strict";
document.addEventListener("click", (event) => {
  const target = event.target.closest("[data-confirm], [data-back], [data-copy], [data-check-all]");
  if (!target) return;
  if (target.dataset.confirm !== undefined && !window.confirm(target.dataset.confirm)) event.preventDefault();
  if (target.dataset.back !== undefined && history.length > 1) { event.preventDefault(); history.back(); }
  if (target.dataset.copy) {
    const field = document.getElementById(target.dataset.copy);
    field.select();
    navigator.clipboard?.writeText(field.value);
  }
  if (target.dataset.checkAll !== undefined) {
    target.closest("form").querySelectorAll('input[name="booking_id"]').forEach((box) => { box.checked = target.checked; });
  }
});

// Templates: the preview follows the text as it is typed (the Preview button does the same without script).
const form = document.getElementById("template-form");
if (form) {
  const preview = document.getElementById("preview");
  let timer = null;
  let asked = 0;
  const show = async () => {
    const mine = ++asked;
    const response = await fetch(form.dataset.preview, { method: "POST", body: new FormData(form), headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (mine !== asked || !response.ok) return;
    const shown = await response.json();
    preview.replaceChildren();
    if (shown.problem) {
      const box = document.createElement("div");
      box.className = "notice problem";
      box.setAttribute("role", "alert");
      box.textContent = [shown.problem, ...(shown.fields || [])].join(" ");
      preview.append(box);
      return;
    }
    const channel = form.querySelector('input[name="channel"]').value;
    if (shown.subject && channel !== "sms") {
      const subject = document.createElement("p");
      subject.className = "preview-subject";
      subject.textContent = shown.subject;
      preview.append(subject);
    }
    const body = document.createElement("div");
    body.className = `preview-body ${channel}`;
    body.textContent = shown.body;
    preview.append(body);
    if (channel === "sms" && shown.segments_text) {
      const size = document.createElement("p");
      size.className = "muted";
      size.textContent = shown.segments_text;
      preview.append(size);
    }
  };
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(show, 300); });
}
