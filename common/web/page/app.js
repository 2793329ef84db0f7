// The page: one photo, its hints, and the server's pictures of them. Every change of the hints goes on
// `history` (for undo) and asks the server for a new preview; a late answer to an older request is dropped.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { photo: null, hints: [], history: [], models: [], unsure: null, request: 0, editing: null };

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function call(url, options) {
  const response = await fetch(url, options);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON: keep the status */ }
    throw new Error(message);
  }
  return response;
}

function post(url, body) {
  return call(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

function model() { return state.models.find((m) => m.name === $("model").value); }

// The model whose bins say where colour is unsure (the confidence map, the places to click, the suggested
// colours): the chosen one when it has bins, else the server's (colorize.py --confidence's).
function unsure() {
  return model().classifier ? model() : state.models.find((m) => m.classifier && m.name === state.unsure);
}

function request() {
  const m = model();
  return { photo: state.photo.photo, model: m.name, hints: state.hints, confidence: false,
           temperature: m.classifier ? Number($("temperature").value) : null };
}

// The confidence map: the chosen classifier's at the slider's temperature, or another's without the hints, which
// only a hint model takes.
function confidenceRequest() {
  const m = unsure();
  return m === model() ? { ...request(), confidence: true }
    : { photo: state.photo.photo, model: m.name, hints: [], confidence: true, temperature: null };
}

async function blobOf(body) {
  return body && URL.createObjectURL(await (await post("/api/colorize", body)).blob());
}

function show(img, url) {
  return new Promise((resolve) => { img.onload = resolve; img.src = url; });
}

async function loadModels() {
  const { models, default: chosen, unsure } = await (await call("/api/models")).json();
  state.models = models;
  state.unsure = unsure;
  $("model").replaceChildren(...models.map((m) => {
    const option = new Option(`${m.label} - ${m.name}`, m.name);
    option.title = m.mse_ab == null ? m.name : `${m.name}: ab MSE ${m.mse_ab.toFixed(1)} on the test faces`;
    option.selected = m.name === chosen;
    return option;
  }));
  modelChanged();
}

function modelChanged() {
  const m = model();
  $("temperature-box").hidden = !m.classifier;
  if (m.classifier) {
    $("temperature").value = m.temperature;
    $("temperature-value").textContent = Number(m.temperature).toFixed(2);
  }
  $("confidence").disabled = !unsure();
}

async function open(file) {
  showError("");
  $("status").textContent = `Opening ${file.name}...`;
  const form = new FormData();
  form.append("photo", file);
  try {
    state.photo = await (await call("/api/photo", { method: "POST", body: form })).json();
  } catch (e) {
    $("status").textContent = state.photo
      ? `Could not open ${file.name}; still showing ${state.photo.name}.` : `Could not open ${file.name}.`;
    showError(e.message);
    return;
  }
  state.hints = [];
  state.history = [];
  $("empty").hidden = true;
  document.querySelectorAll("figure").forEach((f) => { f.hidden = false; });
  $("gray").src = state.photo.gray;
  for (const id of ["download", "download-hints", "clear", "places"]) $(id).disabled = false;
  document.querySelectorAll(".place").forEach((p) => p.remove());
  drawMarkers();
  await update("opened");
}

async function update(what) {
  if (!state.photo) return;
  const number = ++state.request;
  const started = performance.now();
  $("undo").disabled = state.history.length === 0;
  const overlay = $("confidence").checked && unsure();
  try {
    const [colour, confidence] = await Promise.all([blobOf(request()), blobOf(overlay && confidenceRequest())]);
    if (number !== state.request) return;
    await Promise.all([show($("result"), colour), overlay ? show($("overlay"), confidence) : null]);
    $("overlay").hidden = !overlay;
    const ms = Math.round(performance.now() - started);
    document.body.dataset.latency = ms;
    document.body.dataset.updates = number;
    $("result-caption").textContent = !overlay ? "Colorized"
      : `Colorized, under ${overlay === model() ? "its" : `${overlay.name}'s`} confidence map: bright where it is unsure`;
    const p = state.photo;
    $("status").textContent = `${p.name}: ${p.width}x${p.height}, ${state.hints.length} hint(s), ${model().name}; ` +
      `${what} in ${ms} ms`;
    showError("");
  } catch (e) {
    if (number === state.request) showError(e.message);
  }
}

function change(hints, what) {
  state.history.push(state.hints);
  state.hints = hints;
  if (hints.length && !model().hints) {
    const hintModel = state.models.find((m) => m.hints);
    if (hintModel) {
      $("model").value = hintModel.name;
      modelChanged();
      what += ` (switched to ${hintModel.name}, the model that takes hints)`;
    }
  }
  drawMarkers();
  update(what);
}

async function showPlaces() {
  const source = unsure();
  if (!source) return showError("no classification model to say where it is unsure");
  try {
    const query = new URLSearchParams({ photo: state.photo.photo, model: source.name });
    const { places } = await (await call(`/api/places?${query}`)).json();
    document.querySelectorAll(".place").forEach((p) => p.remove());
    places.forEach((at, index) => {
      const ring = document.createElement("div");
      ring.className = "place";
      ring.style.left = `${((at.x + 0.5) / state.photo.width) * 100}%`;
      ring.style.top = `${((at.y + 0.5) / state.photo.height) * 100}%`;
      ring.title = `${index + 1}: the model is least sure here; click to give this place a colour`;
      ring.addEventListener("click", (event) => { event.stopPropagation(); openPicker(event, at, null); });
      $("gray-stage").appendChild(ring);
    });
    $("status").textContent = `${places.length} places where a colour hint would help most, ringed on the gray input`;
  } catch (e) {
    showError(e.message);
  }
}

function undo() {
  if (!state.history.length) return;
  state.hints = state.history.pop();
  drawMarkers();
  update("undone");
}

function toPhoto(stage, event) {
  const box = stage.querySelector("img").getBoundingClientRect();
  const x = Math.floor(((event.clientX - box.left) / box.width) * state.photo.width);
  const y = Math.floor(((event.clientY - box.top) / box.height) * state.photo.height);
  return { x: Math.min(state.photo.width - 1, Math.max(0, x)), y: Math.min(state.photo.height - 1, Math.max(0, y)) };
}

function drawMarkers() {
  for (const stage of [$("gray-stage"), $("result-stage")]) {
    stage.querySelectorAll(".marker").forEach((m) => m.remove());
    state.hints.forEach((hint, index) => {
      const marker = document.createElement("div");
      marker.className = "marker";
      marker.style.left = `${((hint.x + 0.5) / state.photo.width) * 100}%`;
      marker.style.top = `${((hint.y + 0.5) / state.photo.height) * 100}%`;
      marker.style.background = hint.colour;
      marker.title = `${hint.colour} at ${hint.x},${hint.y}: drag to move, click to change or remove`;
      marker.addEventListener("pointerdown", (event) => drag(event, stage, index));
      stage.appendChild(marker);
    });
  }
}

function drag(event, stage, index) {
  event.preventDefault();
  event.stopPropagation();
  const marker = event.target;
  marker.setPointerCapture(event.pointerId);
  let moved = false;
  const move = (e) => {
    moved = true;
    const box = stage.querySelector("img").getBoundingClientRect();
    marker.style.left = `${Math.min(100, Math.max(0, ((e.clientX - box.left) / box.width) * 100))}%`;
    marker.style.top = `${Math.min(100, Math.max(0, ((e.clientY - box.top) / box.height) * 100))}%`;
  };
  const up = (e) => {
    marker.removeEventListener("pointermove", move);
    marker.removeEventListener("pointerup", up);
    if (!moved) return openPicker(e, state.hints[index], index);
    const at = toPhoto(stage, e);
    change(state.hints.map((h, i) => (i === index ? { ...h, ...at } : h)), "hint moved");
  };
  marker.addEventListener("pointermove", move);
  marker.addEventListener("pointerup", up);
}

async function openPicker(event, at, index) {
  const picker = $("picker");
  state.editing = { ...at, index };
  picker.style.left = `${event.pageX + 12}px`;
  picker.style.top = `${event.pageY + 12}px`;
  $("remove-hint").hidden = index === null;
  $("swatches").replaceChildren();
  picker.hidden = false;
  const source = unsure();
  if (!source) return;
  try {
    const query = new URLSearchParams({ photo: state.photo.photo, x: at.x, y: at.y, model: source.name });
    const { suggestions } = await (await call(`/api/suggest?${query}`)).json();
    $("swatches").replaceChildren(...suggestions.map((s) => {
      const swatch = document.createElement("button");
      const chip = document.createElement("span");
      const share = document.createElement("span");
      swatch.className = "swatch";
      chip.className = "chip";
      chip.style.background = s.colour;
      share.className = "share";
      share.textContent = `${(s.probability * 100).toFixed(0)}%`;
      swatch.title = `${s.colour}: ${(s.probability * 100).toFixed(0)}% likely (${source.name})`;
      swatch.append(chip, share);
      swatch.addEventListener("click", () => choose(s.colour));
      return swatch;
    }));
  } catch (e) {
    showError(e.message);
  }
}

function choose(colour) {
  if (!CSS.supports("color", colour) || !/^(#[0-9a-f]{6}|[a-z]+)$/i.test(colour)) {
    return showError(`unknown colour ${JSON.stringify(colour)}: use #rrggbb or a name such as red, navy or skyblue`);
  }
  const { x, y, index } = state.editing;
  $("picker").hidden = true;
  if (index === null) change([...state.hints, { x, y, colour }], "hint added");
  else change(state.hints.map((h, i) => (i === index ? { ...h, colour } : h)), "hint recoloured");
}

async function save(url, body, fallback) {
  try {
    const response = await post(url, body);
    const header = response.headers.get("Content-Disposition") || "";
    const utf8 = /filename\*=UTF-8''([^;]+)/.exec(header);
    const plain = /filename="([^"]+)"/.exec(header);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = utf8 ? decodeURIComponent(utf8[1]) : plain ? plain[1] : fallback;
    link.click();
  } catch (e) {
    showError(e.message);
  }
}

for (const id of ["gray-stage", "result-stage"]) {
  $(id).addEventListener("click", (event) => {
    if (!state.photo || event.target.classList.contains("marker")) return;
    openPicker(event, toPhoto($(id), event), null);
  });
}
$("file").addEventListener("change", (event) => event.target.files[0] && open(event.target.files[0]));
$("drop").addEventListener("dragover", (event) => { event.preventDefault(); $("drop").classList.add("dragging"); });
$("drop").addEventListener("dragleave", () => $("drop").classList.remove("dragging"));
$("drop").addEventListener("drop", (event) => {
  event.preventDefault();
  $("drop").classList.remove("dragging");
  if (event.dataTransfer.files[0]) open(event.dataTransfer.files[0]);
});
$("model").addEventListener("change", () => { modelChanged(); update("model changed"); });
$("temperature").addEventListener("input", () => {
  $("temperature-value").textContent = Number($("temperature").value).toFixed(2);
});
$("temperature").addEventListener("change", () => update("temperature changed"));
$("confidence").addEventListener("change", () => update("view changed"));
$("undo").addEventListener("click", undo);
$("places").addEventListener("click", showPlaces);
$("clear").addEventListener("click", () => state.hints.length && change([], "hints cleared"));
$("use-free").addEventListener("click", () => choose($("free-text").value.trim() || $("free").value));
$("free").addEventListener("input", () => { $("free-text").value = $("free").value; });
$("cancel").addEventListener("click", () => { $("picker").hidden = true; });
$("remove-hint").addEventListener("click", () => {
  $("picker").hidden = true;
  change(state.hints.filter((_, i) => i !== state.editing.index), "hint removed");
});
$("download").addEventListener("click", () => save("/api/download", request(), "color.png"));
$("download-hints").addEventListener("click", () => save("/api/hints-picture",
  { photo: state.photo.photo, hints: state.hints, model: model().name }, "hints.png"));
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "z") { event.preventDefault(); undo(); }
  if (event.key === "Escape") $("picker").hidden = true;
});
loadModels().catch((e) => showError(e.message));
