// The OrleansDiffusion page: the native job API for requests, the SignalR hub for live progress.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORAGE = "orleans-diffusion.api-key";
const MAX_TOKENS_FALLBACK = 75;

const apiKey = $("api-key");
apiKey.value = localStorage.getItem(KEY_STORAGE) ?? "";
apiKey.addEventListener("change", () => {
  localStorage.setItem(KEY_STORAGE, apiKey.value.trim());
  hub?.stop(); // the next job connects with the new key
  hub = null;
  loadLists();
});

function headers(json) {
  const result = json ? { "Content-Type": "application/json" } : {};
  const key = apiKey.value.trim();
  if (key) result.Authorization = `Bearer ${key}`;
  return result;
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const problem = await response.json();
      message = problem.detail ?? problem.title ?? message;
      if (problem.errors) {
        message += ": " + Object.entries(problem.errors).map(([field, errors]) => `${field}: ${errors.join(" ")}`).join("; ");
      }
    } catch { /* not a problem document */ }
    throw new Error(message);
  }
  return response.json();
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

// ---- models and schedulers ----

let models = [];

async function loadLists() {
  try {
    models = (await api("GET", "/v1/models")).data;
    const select = $("model");
    select.replaceChildren(...models.map((m) => new Option(m.id + (m.default ? " (default)" : ""), m.id, m.default, m.default)));
    const schedulers = await api("GET", "/v1/schedulers");
    $("scheduler").replaceChildren(new Option("model default", ""), ...schedulers.map((s) => new Option(s, s)));
    updateDemoNote();
    showModelDefaults();
    countTokensSoon();
  } catch (error) {
    setStatus(`Could not load the models: ${error.message}`, true);
  }
}

function updateDemoNote() {
  const model = models.find((m) => m.id === $("model").value);
  $("demo-note").hidden = !model?.demo;
}

// An empty size, steps or guidance is the model's own (1024 x 1024 for SDXL); the placeholders show it.
function showModelDefaults() {
  const defaults = models.find((m) => m.id === $("model").value)?.defaults;
  if (!defaults) return;
  $("width").placeholder = defaults.width;
  $("height").placeholder = defaults.height;
  $("steps").placeholder = defaults.steps;
  $("guidance").placeholder = defaults.guidance_scale;
}

$("model").addEventListener("change", () => {
  updateDemoNote();
  showModelDefaults();
  countTokensSoon();
});

// ---- token counter (debounced) ----

let tokenTimer = 0;
let tokenRequest = 0;

function countTokensSoon() {
  clearTimeout(tokenTimer);
  tokenTimer = setTimeout(countTokens, 300);
}

async function countTokens() {
  const prompt = $("prompt").value;
  const request = ++tokenRequest;
  if (!prompt.trim()) {
    $("token-count").textContent = "";
    $("token-chunks").hidden = true;
    return;
  }
  try {
    const result = await api("POST", "/v1/tokenize", { prompt, model: $("model").value || undefined });
    if (request !== tokenRequest) return; // a newer count is on its way
    // As AUTOMATIC1111's prompt box counts: tokens so far over the room of the chunks they fill (75 each).
    const chunks = result.chunks?.length ?? 1;
    const max = chunks * (result.max_content_tokens ?? MAX_TOKENS_FALLBACK);
    const count = result.token_count ?? result.content_tokens;
    $("token-count").textContent = `${count} / ${max} tokens`;
    $("token-chunks").hidden = chunks < 2;
    $("token-chunks").textContent = chunks < 2
      ? ""
      : `Encoded in ${chunks} chunks of ${MAX_TOKENS_FALLBACK} tokens, as AUTOMATIC1111 does (BREAK starts a chunk).`;
  } catch (error) {
    if (request === tokenRequest) $("token-count").textContent = `tokens: ${error.message}`;
  }
}

$("prompt").addEventListener("input", countTokensSoon);

// ---- the live connection ----

let hub = null;
let current = null; // { id, params }

async function connection() {
  if (hub && hub.state === signalR.HubConnectionState.Connected) return hub;
  if (!hub) {
    hub = new signalR.HubConnectionBuilder()
      .withUrl("/hubs/generations", { accessTokenFactory: () => apiKey.value.trim() })
      .withAutomaticReconnect()
      .configureLogging(signalR.LogLevel.Warning)
      .build();
    hub.on("queued", (e) => mine(e) && onQueued(e));
    hub.on("started", (e) => mine(e) && onStarted(e));
    hub.on("progress", (e) => mine(e) && onProgress(e));
    hub.on("completed", (e) => mine(e) && onCompleted(e));
    hub.on("failed", (e) => mine(e) && onFinished(`Failed: ${e.error}`, true));
    hub.on("cancelled", (e) => mine(e) && onFinished("Cancelled."));
    // After a reconnect the server has forgotten our subscription: subscribing again sends the current state first.
    hub.onreconnected(() => current && hub.invoke("Subscribe", current.id).catch((error) => setStatus(error.message, true)));
  }
  if (hub.state === signalR.HubConnectionState.Disconnected) await hub.start();
  return hub;
}

const mine = (event) => current !== null && event.id === current.id;

function setProgress(percent, label) {
  $("progress").value = percent;
  $("progress-label").textContent = label;
}

function onQueued(e) {
  setStatus(e.position == null ? "Queued." : `Queued: ${e.position} ahead.`);
  setProgress(0, "");
}

function onStarted(e) {
  setStatus("Running.");
  setProgress(0, `0 / ${e.steps}`);
}

function onProgress(e) {
  const eta = e.eta == null ? "" : ` · about ${e.eta < 1 ? "<1" : Math.round(e.eta)} s left`;
  setProgress(e.steps > 0 ? Math.round((100 * e.step) / e.steps) : 0, `${e.step} / ${e.steps}${eta}`);
  if (e.preview) {
    $("preview").src = e.preview;
    $("preview").hidden = false;
  }
}

async function onCompleted(e) {
  const job = current;
  setProgress(100, "100%");
  onFinished(e.cached ? "Done (from the cache)." : "Done.");
  for (const image of e.images) await addToGallery(image, job.params, e.cached);
}

function onFinished(text, isError = false) {
  setStatus(text, isError);
  $("cancel-button").disabled = true;
  $("generate-button").disabled = false;
  $("preview").hidden = true;
}

async function imageSource(url) {
  // With an API key the image needs the Authorization header, which an <img> cannot send.
  if (!apiKey.value.trim()) return url;
  try {
    const response = await fetch(url, { headers: headers(false) });
    if (response.ok) return URL.createObjectURL(await response.blob());
  } catch { /* a redirect to storage elsewhere: the URL itself carries its signature */ }
  return url;
}

async function addToGallery(image, params, cached) {
  const figure = document.createElement("figure");
  figure.className = "result";
  const link = document.createElement("a");
  link.href = image.url;
  link.target = "_blank";
  const img = document.createElement("img");
  img.alt = params.prompt;
  img.width = image.width;
  img.height = image.height;
  img.src = await imageSource(image.url);
  link.append(img);
  const caption = document.createElement("figcaption");
  const details = [
    params.prompt,
    params.negative_prompt ? `not: ${params.negative_prompt}` : null,
    `${image.width}×${image.height}`,
    `${params.steps} steps`,
    `guidance ${params.guidance_scale}`,
    `seed ${image.seed}`,
    params.scheduler || "default scheduler",
    params.model || "default model",
    cached ? "cached" : null,
  ].filter(Boolean);
  caption.textContent = details.join(" · ");
  figure.append(link, caption);
  $("gallery").prepend(figure);
}

// ---- generate and cancel ----

function number(id) {
  const value = $(id).valueAsNumber;
  return Number.isFinite(value) ? value : undefined;
}

$("generate-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const params = {
    prompt: $("prompt").value,
    negative_prompt: $("negative").value || undefined,
    width: number("width"),
    height: number("height"),
    steps: number("steps"),
    guidance_scale: number("guidance"),
    seed: number("seed"),
    scheduler: $("scheduler").value || undefined,
    model: $("model").value || undefined,
  };
  $("generate-button").disabled = true;
  setProgress(0, "");
  setStatus("Submitting…");
  try {
    const live = await connection();
    const job = await api("POST", "/v1/generations", params);
    current = { id: job.id, params };
    $("cancel-button").disabled = false;
    await live.invoke("Subscribe", job.id);
  } catch (error) {
    onFinished(error.message, true);
  }
});

$("cancel-button").addEventListener("click", async () => {
  if (!current) return;
  try {
    await api("DELETE", `/v1/generations/${current.id}`);
  } catch (error) {
    setStatus(`Could not cancel: ${error.message}`, true);
  }
});

loadLists();
