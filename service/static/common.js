// Helpers shared by the playground (/) and the review page (/review).
"use strict";
const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function getJSON(url, options) {
  const response = await fetch(url, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
  return body;
}

// The feedback token (VECCLF_FEEDBACK_TOKEN) lives in this tab's sessionStorage only.
const TOKEN_KEY = "vecclf-feedback-token";

function authHeaders() {
  const headers = {"Content-Type": "application/json"};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers["Authorization"] = "Bearer " + token;
  return headers;
}

function tokenField(box, input, onChange) {
  box.hidden = false;
  input.value = sessionStorage.getItem(TOKEN_KEY) || "";
  input.addEventListener("change", () => {
    sessionStorage.setItem(TOKEN_KEY, input.value);
    if (onChange) onChange();
  });
}

function sendFeedback(model, text, label, predictionId) {
  const body = {text: text, label: label};
  if (predictionId) body.prediction_id = predictionId;
  return getJSON("/v1/models/" + encodeURIComponent(model) + "/feedback",
                 {method: "POST", headers: authHeaders(), body: JSON.stringify(body)});
}

// A form to choose the right label(s) of a text and send them as feedback.
// info: the model's entry of /v1/models; allowNew: offer a field for a new label;
// preselect: labels chosen at first (none: a "choose a label…" placeholder);
// send(label): a promise of the stored row; done(saved): the message shown after.
function labelForm(info, {cls, allowNew, preselect, button, send, done}) {
  const form = el("form", cls);
  const pick = form.appendChild(el("select", "pick"));
  pick.multiple = !!info.multilabel;
  pick.setAttribute("aria-label", "right label for " + info.name);
  if (!preselect && !info.multilabel) pick.appendChild(el("option", "", "choose a label…")).value = "";
  for (const label of info.labels) {
    const option = pick.appendChild(el("option", "", label));
    option.value = label;
    option.selected = !!preselect && preselect.includes(label);
  }
  let fresh = null;
  if (allowNew) {
    fresh = form.appendChild(el("input", "newlabel"));
    fresh.placeholder = "or a new label";
    fresh.size = 12;
  }
  const submit = form.appendChild(el("button", "send", button));
  submit.type = "submit";
  const status = form.appendChild(el("span", "sent"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = Array.from(pick.selectedOptions).map((o) => o.value).filter((v) => v);
    if (fresh && fresh.value.trim()) chosen.push(fresh.value.trim());
    if (!chosen.length) { status.className = "sent error"; status.textContent = "choose a label"; return; }
    submit.disabled = true;
    status.className = "sent";
    status.textContent = "sending…";
    try {
      status.textContent = done(await send(info.multilabel ? chosen : chosen[chosen.length - 1]));
      status.className = "sent fixed";
    } catch (err) {
      status.className = "sent error";
      status.textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
