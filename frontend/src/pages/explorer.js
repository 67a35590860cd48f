// Latent Atlas front end: wires the API, the live decoder, the sliders, the traversal
// grid, the model card and the URL state together. Plain ES modules, no build step.

import { activity, api } from "./api.js";
import { banner } from "./banner.js";
import { renderCardFacts } from "./card.js";
import { BrowserDecoder, OnnxModel, browserTraverse } from "./browser-decoder.js";
import { ExportButtons } from "./exports.js";
import { canEstimate, declaredFactors, estimateFactors, metricsFactors, namingRule } from "./factors.js";
import { FlowPanel, sliderLimit } from "./flow.js";
import { LiveDecoder } from "./live.js";
import { MetricsPanel } from "./metrics.js";
import { renderLossPlot } from "./plot.js";
import { PopulationPanel } from "./population.js";
import { ZooPanel } from "./zoo.js";
import { SliderPanel, dimRanges, snap } from "./sliders.js";
import { TraversalView } from "./traversal.js";
import { isForeignHash, readUrlState, writeUrlState } from "./urlstate.js";
import { setImage } from "./dom.js";

const $ = (id) => document.getElementById(id);
const el = {
  modelSelect: $("model-select"),
  fileInput: $("file-input"),
  dropZone: $("drop-zone"),
  sampleButton: $("sample-button"),
  resetButton: $("reset-button"),
  randomButton: $("random-button"),
  priorButton: $("prior-button"),
  downloadButton: $("download-button"),
  original: $("original-img"),
  reconstruction: $("reconstruction-img"),
  decode: $("decode-img"),
  originalCaption: $("original-caption"),
  reconstructionCaption: $("reconstruction-caption"),
  latency: $("latency"),
  samples: $("samples"),
  sliders: $("sliders"),
  stepsSelect: $("steps-select"),
  factorsButton: $("factors-button"),
  errorDismiss: $("error-dismiss"),
  card: $("model-card"),
  cardExtra: $("card-extra"),
  lossPlot: $("loss-plot"),
  slidersHint: $("sliders-hint"),
  encodeContext: $("encode-context"),
  browserDecode: $("browser-decode"),
  decodePath: $("decode-path"),
  decodeCanvas: $("decode-canvas"),
  decodeFloat: $("decode-float"),
  copyLink: $("copy-link"),
  orderLabel: $("order-label"),
  orderByInfo: $("order-by-info"),
};

const PREFER_BROWSER_KEY = "latentatlas.decodeInBrowser";

const SLIDERS_HINT = "Drag a slider or focus it and use the arrow keys.";

const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
const ACCEPTED_TYPES = ["image/png", "image/jpeg", "image/webp", "image/gif"];

const state = {
  models: [],
  model: null, // ModelInfo (+ curves, card) of the selected model
  ranges: [],
  latent: null, // current latent (numbers)
  base: null, // latent of the encoded image (reset target), or null
  baseScale: null,
  source: null, // {type: "file", file} | {type: "sample", index} | null
  factors: [],
  generation: 0, // bumps on every model switch: late replies for older models are ignored
  traversalAbort: null,
  shownDims: null, // the dims the sliders and traversal show, in order, when ordered by information
  factorsAbort: null,
  liveState: "closed",
  frames: 0,
  onnx: null, // the selected model's OnnxModel once its decoder runs in this browser
  onnxNote: "", // why the model decodes where it does
};

// A small hook for tests and benchmarks: the latest live frame's timings.
const hook = {
  lastDecodeMs: null, // input event -> decoded image shown (ms)
  lastServerMs: null, // server-side decode time (ms), WebSocket only
  lastRoundTripMs: null, // message sent -> reply received (ms)
  frames: 0,
  get latent() {
    return state.latent ? state.latent.slice() : null;
  },
  get modelId() {
    return state.model?.id ?? null;
  },
  get liveState() {
    return state.liveState;
  },
  /** "browser" when slider decodes run in this page (ONNX Runtime Web), else "server". */
  get decodePath() {
    return decodingInBrowser() ? "browser" : "server";
  },
  /** The ONNX graphs' load timings of the selected model ({decoder: {ms, downloadMs, bytes, cached}}). */
  get onnxTimings() {
    return state.onnx ? { ...state.onnx.timings } : null;
  },
  /** Decode latents in the page (the browser path) -> PNG data URLs; for agreement tests. */
  async decodeInBrowser(latents) {
    if (!state.onnx) throw new Error("the selected model does not decode in this browser");
    const { rgba } = await state.onnx.decode(latents);
    const plane = state.onnx.width * state.onnx.height * 4;
    return latents.map((_, i) => Array.from(rgba.subarray(i * plane, (i + 1) * plane)));
  },
  /** Decode the selected model's traversal grid (every slider dim x `steps`) in the page, as the
   * traversal panel does; {ms, dims, steps} (for benchmarks). */
  async timeTraversal(steps = 11) {
    if (!state.onnx || !state.latent) throw new Error("the selected model does not decode in this browser");
    const dims = Array.from({ length: sliderLimit(state.model) }, (_, d) => d);
    const t0 = performance.now();
    const grid = await browserTraverse(state.onnx, state.latent.slice(), dims, steps);
    return { ms: performance.now() - t0, decodeMs: grid.ms, dims: grid.dims.length, steps: grid.steps };
  },
  /** No request in flight, no decode pending, no traversal scheduled. */
  get idle() {
    return activity.inflight === 0 && !live.busy && !browserDecoder.busy && !rafId && !traversalTimer && !flowPanel.busy && !populationPanel.busy;
  },
};
window.__latentAtlas = hook;

// ---------------------------------------------------------------- status & errors

const { setStatus, showError, clearError, reportError } = banner;

function liveLabel() {
  if (decodingInBrowser()) return "decoding in your browser";
  return { live: "live (WebSocket)", connecting: "connecting…", http: "HTTP fallback", closed: "offline" }[state.liveState];
}

function modelSummary() {
  const m = state.model;
  return m ? `${m.id} · ${m.kind.toUpperCase()} · ${m.latent_dim} latents · ${liveLabel()}` : "";
}

// ---------------------------------------------------------------- images

let pendingFrame = null;
function showFrame(frame) {
  const receivedAt = performance.now();
  pendingFrame = frame;
  const img = el.decode;
  if (frame.rgba) {
    // decoded in this page: paint the pixels now (an image's load event waits for its own
    // decode, about a frame later); the <img> then takes the same pixels for downloads
    const canvas = el.decodeCanvas;
    canvas.width = frame.width;
    canvas.height = frame.height;
    canvas.getContext("2d").putImageData(new ImageData(frame.rgba, frame.width, frame.height), 0, 0);
    canvas.hidden = false;
    img.onload = null;
    setImage(img, frame.image);
    frameShown(frame, receivedAt);
    return;
  }
  el.decodeCanvas.hidden = true;
  img.onload = () => {
    if (pendingFrame !== frame) return;
    frameShown(frame, receivedAt);
  };
  setImage(img, frame.image);
}

function frameShown(frame, receivedAt) {
  const shownAt = performance.now();
  if (document.body.classList.contains("decode-away")) el.decodeFloat.src = el.decode.src;
  hook.lastDecodeMs = shownAt - frame.t0;
  hook.lastServerMs = frame.serverMs;
  hook.lastRoundTripMs = receivedAt - frame.sentAt;
  hook.frames += 1;
  if (frame.via === "browser") {
    el.latency.textContent = `· ${frame.workerMs.toFixed(1)} / ${hook.lastDecodeMs.toFixed(0)} ms (in browser)`;
    el.latency.title = "decode time in this browser / input event to image on screen";
  } else {
    el.latency.textContent =
      frame.serverMs != null
        ? `· ${frame.serverMs.toFixed(1)} / ${hook.lastDecodeMs.toFixed(0)} ms`
        : `· ${hook.lastDecodeMs.toFixed(0)} ms (HTTP)`;
    el.latency.title = "server decode time / input event to image on screen";
  }
  el.downloadButton.disabled = false;
  window.dispatchEvent(
    new CustomEvent("latentatlas:frame", {
      detail: {
        seq: frame.seq,
        inputToFrameMs: hook.lastDecodeMs,
        serverMs: frame.serverMs,
        workerMs: frame.workerMs ?? null,
        roundTripMs: hook.lastRoundTripMs,
        via: frame.via,
      },
    }),
  );
}

const live = new LiveDecoder({
  onFrame: showFrame,
  onError: (message) => showError(message),
  onState: (s) => {
    state.liveState = s;
    if (state.model) setStatus(modelSummary());
  },
});

const browserDecoder = new BrowserDecoder({ onFrame: showFrame, onError: (message) => showError(message) });

// ---------------------------------------------------------------- where decoding runs

function decodingInBrowser() {
  return Boolean(state.onnx) && el.browserDecode.checked;
}

function describeDecodePath() {
  const inBrowser = decodingInBrowser();
  el.decodePath.textContent = inBrowser ? `· decoding in your browser (ONNX Runtime Web${state.onnxNote})` : `· decoding on the server${state.onnxNote}`;
  el.decodePath.dataset.path = inBrowser ? "browser" : "server";
  if (state.model) setStatus(modelSummary());
}

/** Load the model's ONNX decoder in a worker when the server exports it; until then (and when
 * it cannot), the WebSocket path decodes. */
async function setupBrowserDecoding(model, generation) {
  state.onnx?.close();
  state.onnx = null;
  browserDecoder.use(null);
  state.onnxNote = "";
  describeDecodePath();
  if (!el.browserDecode.checked || typeof Worker === "undefined" || typeof WebAssembly === "undefined") {
    state.onnxNote = el.browserDecode.checked ? ": this browser has no Web Workers or WebAssembly" : "";
    describeDecodePath();
    return;
  }
  el.decodePath.textContent = "· preparing in-browser decoding…";
  let manifest;
  let onnx;
  try {
    manifest = await api.onnx(model.id);
    if (generation !== state.generation) return;
    if (!manifest.available) {
      state.onnxNote = `: ${model.id}'s decoder is not available as ONNX (${manifest.unavailable.decoder ?? "not exported"})`;
      describeDecodePath();
      return;
    }
    onnx = await OnnxModel.open(manifest);
  } catch (error) {
    if (generation === state.generation) {
      state.onnxNote = `: in-browser decoding failed to start (${error.message})`;
      describeDecodePath();
    }
    return;
  }
  if (generation !== state.generation || !el.browserDecode.checked) {
    onnx.close();
    return;
  }
  const t = onnx.timings.decoder;
  state.onnx = onnx;
  state.onnxNote = ` · ${(t.bytes / 1e6).toFixed(1)} MB${t.cached ? " from the browser cache" : ""}, ready in ${Math.round(t.ms)} ms`;
  browserDecoder.use(onnx);
  flowPanel.useBrowser(onnx);
  describeDecodePath();
  if (state.latent) requestDecode();
}

el.browserDecode.addEventListener("change", () => {
  try {
    localStorage.setItem(PREFER_BROWSER_KEY, el.browserDecode.checked ? "1" : "0");
  } catch {
    /* storage unavailable: the choice lasts for this page only */
  }
  if (!state.model) return;
  if (el.browserDecode.checked) {
    setupBrowserDecoding(state.model, state.generation);
  } else {
    state.onnx?.close();
    state.onnx = null;
    browserDecoder.use(null);
    flowPanel.useBrowser(null);
    state.onnxNote = " (in-browser decoding switched off)";
    describeDecodePath();
    if (state.latent) requestDecode();
  }
});
try {
  el.browserDecode.checked = localStorage.getItem(PREFER_BROWSER_KEY) !== "0";
} catch {
  /* storage unavailable: the default (checked) */
}

// ---------------------------------------------------------------- latent updates

let rafId = 0;
let rafT0 = null;

/** Ask for a decode of the current latent: in the browser at once (the worker decodes one at a
 * time, latest wins), for the server on the next animation frame (coalesced). */
function requestDecode(t0 = performance.now()) {
  if (decodingInBrowser()) {
    if (state.latent) browserDecoder.request(state.latent, t0);
    return;
  }
  rafT0 = rafT0 == null ? t0 : Math.min(rafT0, t0);
  if (rafId) return;
  rafId = requestAnimationFrame(() => {
    rafId = 0;
    const t = rafT0;
    rafT0 = null;
    if (state.latent) live.request(state.latent, t);
  });
}

function latentChanged(t0) {
  requestDecode(t0);
  writeUrlState(urlState);
  scheduleTraversal();
  traversal.mark(state.latent);
}

function urlState() {
  // An ordered model's latent is the whole image (thousands of numbers): its link holds the
  // source and the values of its slider dims (the top latents) over the source's encoding.
  const model = state.model;
  const whole = model && sliderLimit(model) === model.latent_dim;
  const flow = model?.capabilities?.ordered ? flowPanel.linkState() : {};
  return {
    model: model?.id,
    latent: whole ? state.latent : null,
    top: !whole && state.latent ? state.latent.slice(0, sliderLimit(model)) : null,
    datasetIndex: state.source?.type === "sample" ? state.source.index : null,
    upload: state.source?.type === "file",
    steps: el.stepsSelect.disabled ? null : Number(el.stepsSelect.value),
    order: el.orderByInfo.checked && !el.orderLabel.hidden ? "info" : null,
    ...flow,
  };
}

/** Replace the whole latent (snapped to the sliders' codes) and decode it. */
function setLatent(latent, { asBase = false, scale = null } = {}) {
  state.latent = latent.map((v, d) => snap(state.ranges[d], Number(v)));
  sliders.setValues(state.latent);
  if (asBase) {
    state.base = state.latent.slice();
    state.baseScale = scale;
    sliders.setBase(state.base, scale);
  }
  latentChanged(performance.now());
}

function priorCentre() {
  const mean = state.model?.latent_mean ?? [];
  return state.ranges.map((r, d) => (r.kind === "codes" ? snap(r, Number(mean[d] ?? 0)) : r.mean));
}

// ---------------------------------------------------------------- traversal

const traversal = new TraversalView(
  { img: $("traversal-img"), labels: $("traversal-labels"), overlay: $("traversal-overlay"), readout: $("traversal-readout") },
  (dim, value) => {
    if (!state.latent) return;
    state.latent[dim] = snap(state.ranges[dim], value);
    sliders.setValues(state.latent);
    latentChanged(performance.now());
  },
);

let traversalTimer = 0;
function scheduleTraversal(delay = 350) {
  clearTimeout(traversalTimer);
  traversalTimer = setTimeout(() => {
    traversalTimer = 0;
    refreshTraversal();
  }, delay);
}

async function refreshTraversal() {
  const model = state.model;
  if (!model || !state.latent) return;
  // While the user is still dragging, wait: the live decode has priority.
  if (live.busy || browserDecoder.busy) return scheduleTraversal(150);
  state.traversalAbort?.abort();
  const abort = new AbortController();
  state.traversalAbort = abort;
  const latent = state.latent.slice();
  const dims = state.shownDims ?? Array.from({ length: sliderLimit(model) }, (_, d) => d);
  const steps = Number(el.stepsSelect.value) || 11;
  try {
    const onnx = decodingInBrowser() ? state.onnx : null;
    const grid = onnx ? await browserTraverse(onnx, latent, dims, steps) : await api.traverse(model.id, latent, dims, steps, { signal: abort.signal });
    if (abort.signal.aborted || model !== state.model) return;
    traversal.show(grid, state.latent);
  } catch (error) {
    if (model === state.model) reportError(error, "traversal");
  }
}

// ---------------------------------------------------------------- encoding

function applyEncoding(reply, caption) {
  setImage(el.original, reply.input);
  setImage(el.reconstruction, reply.reconstruction);
  el.originalCaption.textContent = caption ? `· ${caption}` : "";
  el.reconstructionCaption.textContent = "";
  let latent = reply.latent;
  // QLAE: take the codes' exact values when the server sends code indices.
  if (Array.isArray(reply.codes) && Array.isArray(state.model.codebooks)) {
    latent = reply.codes.map((c, d) => Number(state.model.codebooks[d]?.[c] ?? latent[d]));
  }
  setLatent(latent, { asBase: true, scale: Array.isArray(reply.scale) ? reply.scale : null });
  flowPanel.setSource(state.source, state.base);
  populationPanel.setMarker(state.base, caption || "current image");
  // The server measures the reconstruction and says how the input compares with the training data.
  const heldout = reply.heldout_psnr_db == null ? "" : ` (held-out ${reply.heldout_psnr_db.toFixed(1)} dB)`;
  el.reconstructionCaption.textContent = `· PSNR ${reply.psnr_db.toFixed(1)} dB${heldout}`;
  el.encodeContext.textContent = reply.context;
  el.encodeContext.classList.toggle("warn", Boolean(reply.far_from_training));
}

async function encodeFile(file) {
  const model = state.model;
  if (!model) return;
  if (file.type && !ACCEPTED_TYPES.includes(file.type)) {
    showError(`"${file.name}" is ${file.type}; upload a PNG, JPEG, WebP or GIF image`);
    return;
  }
  if (file.size > MAX_UPLOAD_BYTES) {
    showError(`"${file.name}" is ${(file.size / 1048576).toFixed(1)} MB; the limit is ${MAX_UPLOAD_BYTES / 1048576} MB`);
    return;
  }
  setStatus(`Encoding ${file.name || "pasted image"}…`);
  try {
    const reply = await api.encodeFile(model.id, file);
    if (model !== state.model) return;
    clearError();
    state.source = { type: "file", file };
    applyEncoding(reply, file.name || "pasted image");
    setStatus(`${modelSummary()} · encoded ${file.name || "pasted image"}`);
  } catch (error) {
    if (model === state.model) reportError(error, `could not encode "${file.name || "image"}"`);
  }
}

async function encodeIndex(index, caption) {
  const model = state.model;
  setStatus(`Encoding dataset sample ${index}…`);
  const reply = await api.encodeIndex(model.id, index);
  if (model !== state.model) return false;
  state.source = { type: "sample", index };
  applyEncoding(reply, caption ?? `sample ${index}`);
  setStatus(`${modelSummary()} · dataset sample ${index}`);
  return true;
}

function factorCaption(sample) {
  const factors = sample.factors ?? {};
  return Object.entries(factors)
    .map(([k, v]) => `${k} ${typeof v === "number" ? Number(v.toPrecision(3)) : v}`)
    .join(", ");
}

/** Draw dataset samples and encode the first; `fromUser` clears the last error on success. */
async function loadSamples({ fromUser = false } = {}) {
  const model = state.model;
  if (!model) return;
  el.sampleButton.disabled = true;
  setStatus("Drawing dataset samples…");
  try {
    const seed = Math.floor(Math.random() * 2 ** 31);
    const samples = await api.samples(model.id, 8, seed);
    if (model !== state.model) return;
    if (!samples.length) throw new Error("the dataset returned no samples");
    renderSamples(samples);
    await encodeIndex(samples[0].index, `sample ${samples[0].index}`);
    if (fromUser) clearError();
  } catch (error) {
    if (model === state.model) reportError(error, "dataset sample");
  } finally {
    el.sampleButton.disabled = false;
  }
}

function renderSamples(samples) {
  el.samples.replaceChildren();
  for (const sample of samples) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "thumb";
    const caption = factorCaption(sample);
    button.title = `sample ${sample.index}${caption ? `: ${caption}` : ""}`;
    button.setAttribute("aria-label", `Encode dataset sample ${sample.index}`);
    const img = document.createElement("img");
    img.className = "pixelated";
    img.alt = "";
    img.src = sample.image;
    button.append(img);
    button.addEventListener("click", async () => {
      try {
        await encodeIndex(sample.index, `sample ${sample.index}`);
        clearError();
        el.originalCaption.title = caption;
      } catch (error) {
        reportError(error, "dataset sample");
      }
    });
    el.samples.append(button);
  }
}

// ---------------------------------------------------------------- dims ordered by information

/** Order the sliders and traversal rows by each dim's information (the server measures it), with
 * the server's inactive dims collapsed; or back to the natural order. */
async function arrangeDims() {
  const model = state.model;
  if (!model || !sliders) return;
  if (!el.orderByInfo.checked) {
    state.shownDims = null;
    sliders.arrange();
  } else {
    try {
      model.information ??= await api.dimInformation(model.id);
    } catch (error) {
      el.orderByInfo.checked = false;
      reportError(error, "information per dim");
      return;
    }
    if (model !== state.model) return;
    const info = model.information;
    const unit = info.measure === "kl_nats" ? "nats" : "bits";
    const notes = info.values.map((v) => `${v.toFixed(2)} ${unit}`);
    const collapsed = new Set((model.dim_inactive ?? []).flatMap((off, d) => (off ? [d] : [])));
    state.shownDims = sliders.arrange(info.order, collapsed, notes, arrangeDims);
  }
  writeUrlState(urlState);
  scheduleTraversal(0);
}

el.orderByInfo.addEventListener("change", arrangeDims);

// ---------------------------------------------------------------- in-context help

/** One line on the model's family (the server's summary) and the slider legend for what it has. */
function describeModelHelp(model) {
  const caps = model.capabilities;
  const what = [
    caps.codes && "each latent snaps to its own codebook of values",
    caps.posterior && "the encoder gives a Gaussian posterior per latent",
    caps.ordered && "latents are ordered by explained entropy: the sliders hold the top ones",
    caps.likelihood && "an exact likelihood (bits/dim)",
    caps.sample && "it can sample from its prior",
  ].filter(Boolean);
  $("family-line").textContent = `${model.kind.toUpperCase()}: ${model.family}${what.length ? `; ${what.join("; ")}` : ""}.`;
  $("legend-band").hidden = !caps.posterior;
  $("legend-inactive").hidden = !(model.dim_inactive ?? []).some(Boolean);
  $("legend-ticks").textContent = caps.codes ? "ticks: the codebook's values" : "ticks: every sd of the encoded data (the middle one: the mean)";
}

// ---------------------------------------------------------------- model card

function renderCard(model) {
  renderCardFacts(model, el.card, el.cardExtra);
  $("card-more").hidden = !el.cardExtra.children.length;
  renderLossPlot(el.lossPlot, model.curves);
}

// ---------------------------------------------------------------- factors

function setFactors(names) {
  state.factors = names ?? [];
  sliders?.setFactors(state.factors);
  traversal.setFactors(state.factors);
}

async function nameDims() {
  const model = state.model;
  const fromMetrics = metricsFactors(model);
  if (fromMetrics) {
    setFactors(fromMetrics);
    setStatus(`${modelSummary()} · dims named from the card's metrics: ${namingRule(model)}`);
    return;
  }
  if (!model || !canEstimate(model)) return;
  state.factorsAbort?.abort();
  const abort = new AbortController();
  state.factorsAbort = abort;
  el.factorsButton.disabled = true;
  try {
    const { names } = await estimateFactors(model, {
      signal: abort.signal,
      onProgress: (done, total) => setStatus(`Naming dims: encoded ${done}/${total} interventions…`),
    });
    if (model !== state.model) return;
    setFactors(names);
    const named = names.filter(Boolean).length;
    setStatus(`${modelSummary()} · ${named}/${names.length} dims follow one factor`);
  } catch (error) {
    if (model === state.model) reportError(error, "naming dims");
  } finally {
    if (model === state.model) el.factorsButton.disabled = false;
  }
}

// ---------------------------------------------------------------- metrics

const metricsPanel = new MetricsPanel(
  {
    bars: $("metrics-bars"),
    nmi: $("nmi-heatmap"),
    dci: $("dci-heatmap"),
    compare: $("metrics-compare"),
    button: $("metrics-button"),
    cancel: $("metrics-cancel"),
    samples: $("metrics-samples"),
    trainVotes: $("metrics-train-votes"),
    evalVotes: $("metrics-eval-votes"),
    progress: $("metrics-progress"),
    status: $("metrics-status"),
  },
  {
    onPickDim: (dim) => {
      sliders?.focus(dim);
      el.sliders.querySelector(`.slider-row[data-dim="${dim}"]`)?.scrollIntoView({ block: "nearest" });
    },
    onComputed: async (id, metrics) => {
      for (const m of [...state.models, state.model]) if (m?.id === id) m.metrics = metrics;
      metricsPanel.show(state.model, state.models);
      if (state.model?.id !== id) return;
      try {
        const fresh = await api.getModel(id); // the server names the dims from the new metrics
        for (const m of [...state.models, state.model]) if (m?.id === id) m.dim_names = fresh.dim_names;
      } catch (error) {
        reportError(error, "refreshing the model after its metrics");
      }
      if (state.model?.id === id && !declaredFactors(state.model)) setFactors(metricsFactors(state.model));
      setStatus(`${modelSummary()} · metrics computed`);
    },
    onError: reportError,
  },
);

// ---------------------------------------------------------------- exports (PNG/GIF, CSV/JSON)

new ExportButtons(
  {
    traversalPng: $("export-traversal-png"),
    traversalGif: $("export-traversal-gif"),
    metricsCsv: $("export-metrics-csv"),
    metricsJson: $("export-metrics-json"),
    latentCsv: $("export-latent-csv"),
    latentJson: $("export-latent-json"),
  },
  () => ({
    model: state.model,
    latent: state.latent?.slice() ?? null,
    dims: traversal.grid?.dims ?? null,
    steps: Number(el.stepsSelect.value) || 11,
    names: state.factors,
  }),
  reportError,
);

// ---------------------------------------------------------------- ordered latents (EOFlow)

const flowPanel = new FlowPanel(
  {
    panel: $("flow-panel"),
    summary: $("flow-summary"),
    keep: $("flow-keep"),
    keepValue: $("flow-keep-value"),
    ratio: $("flow-ratio"),
    original: $("flow-original"),
    decode: $("flow-decode"),
    psnr: $("flow-psnr"),
    residual: $("flow-residual"),
    residualCaption: $("flow-residual-caption"),
    scree: $("flow-scree"),
    psnrPlot: $("flow-psnr-plot"),
    note: $("flow-note"),
    sigma: $("flow-sigma"),
    sigmaValue: $("flow-sigma-value"),
    denoiseNote: $("flow-denoise-note"),
    noisy: $("flow-noisy"),
    noisyPsnr: $("flow-noisy-psnr"),
    denoised: $("flow-denoised"),
    denoisedPsnr: $("flow-denoised-psnr"),
  },
  reportError,
  () => writeUrlState(urlState),
);

const zooPanel = new ZooPanel({
  section: $("zoo-section"), metric: $("zoo-metric"), note: $("zoo-note"), plot: $("zoo-plot"), claims: $("zoo-claims"),
});

const populationPanel = new PopulationPanel(
  {
    panel: $("population-panel"),
    n: $("population-n"),
    color: $("population-color"),
    button: $("population-button"),
    note: $("population-note"),
    scatter: $("population-scatter"),
    hists: $("population-hists"),
  },
  {
    onPick: (index, caption) => {
      encodeIndex(index, caption).catch((error) => reportError(error, caption));
      el.original.scrollIntoView({ block: "nearest", behavior: "smooth" });
    },
    onError: reportError,
  },
);

// ---------------------------------------------------------------- models

let sliders = null;

async function selectModel(id, { latent = null, top = null, datasetIndex = null, upload = false, keep = null, sigma = null, steps = null, dim = null, order = null } = {}) {
  const generation = ++state.generation;
  state.traversalAbort?.abort();
  state.factorsAbort?.abort();
  el.modelSelect.value = id;
  setStatus(`Loading ${id}…`);
  let model;
  try {
    model = await api.getModel(id);
  } catch (error) {
    if (generation === state.generation) reportError(error, `model ${id}`);
    return;
  }
  if (generation !== state.generation) return;
  const previousSource = state.source;
  state.model = model;
  state.ranges = dimRanges(model);
  state.base = null;
  state.baseScale = null;
  state.source = null;
  state.latent = null;
  traversal.clear();
  el.samples.replaceChildren();
  [el.original, el.reconstruction, el.decode].forEach((img) => setImage(img, null));
  el.decodeCanvas.hidden = true;
  el.originalCaption.textContent = el.reconstructionCaption.textContent = el.latency.textContent = "";
  el.encodeContext.textContent = "";
  el.downloadButton.disabled = true;
  sliders = new SliderPanel(
    el.sliders,
    model,
    (d, value, t0) => {
      if (!state.latent) return;
      state.latent[d] = value;
      latentChanged(t0);
    },
    { limit: sliderLimit(model) },
  );
  el.stepsSelect.disabled = Array.isArray(model.codebooks);
  el.stepsSelect.title = Array.isArray(model.codebooks) ? "quantised latents: traversals step through each dim's codebook" : "";
  // Naming dims by intervention needs one traversal per dim: not for a flow's thousands.
  el.priorButton.hidden = !model.capabilities.sample;
  el.factorsButton.hidden = model.capabilities.ordered || (!canEstimate(model) && !metricsFactors(model));
  el.factorsButton.disabled = false;
  setFactors(declaredFactors(model) ?? metricsFactors(model));
  el.slidersHint.textContent = !declaredFactors(model) && metricsFactors(model) ? `${SLIDERS_HINT} Names: ${namingRule(model)} (NMI shown).` : SLIDERS_HINT;
  describeModelHelp(model);
  state.shownDims = null;
  el.orderLabel.hidden = !(model.capabilities.posterior || model.capabilities.codes);
  if (el.orderLabel.hidden) el.orderByInfo.checked = false;
  if (el.orderByInfo.checked || order === "info") {
    el.orderByInfo.checked = true;
    arrangeDims();
  }
  renderCard(model);
  metricsPanel.show(model, state.models);
  zooPanel.show(model);
  flowPanel.show(model);
  populationPanel.show(model);
  live.open(model.id);
  setupBrowserDecoding(model, generation);
  setStatus(modelSummary());

  try {
    if (steps != null && [...el.stepsSelect.options].some((o) => Number(o.value) === steps)) el.stepsSelect.value = String(steps);
    if (model.capabilities.ordered && (keep != null || sigma != null)) flowPanel.restore({ keep, sigma });
    const fromLink = latent || top || datasetIndex != null || upload;
    if (latent && latent.length !== model.latent_dim) {
      showError(`the link's latent has ${latent.length} values but ${model.id} has ${model.latent_dim} dims; starting from the prior centre`);
      setLatent(priorCentre(), { asBase: true });
    } else if (fromLink) {
      if (datasetIndex != null) {
        const reply = await api.encodeIndex(model.id, datasetIndex);
        if (generation !== state.generation) return;
        state.source = { type: "sample", index: datasetIndex };
        applyEncoding(reply, `sample ${datasetIndex}`);
      } else if (!latent) {
        setLatent(priorCentre(), { asBase: true });
      }
      if (latent) setLatent(latent, { asBase: datasetIndex == null });
      if (top && state.latent) setLatent([...top.slice(0, sliderLimit(model)), ...state.latent.slice(top.length)]);
      if (upload) {
        showError("this link was made from an uploaded image, which a link cannot carry: it shows " +
          (latent || top ? "the latent the link holds" : "the prior centre") + "; upload the image again to see it");
      }
      setStatus(`${modelSummary()} · restored from the link`);
    } else if (previousSource?.type === "file") {
      setLatent(priorCentre(), { asBase: true });
      await encodeFile(previousSource.file);
    } else {
      setLatent(priorCentre(), { asBase: true });
      await loadSamples();
    }
    if (dim != null) sliders.focusDim(dim);
  } catch (error) {
    if (generation === state.generation) reportError(error);
  }
}

/** The picker's groups, in order: autoencoders and generators (quantised-latent models first),
 * ordered flows, then each ensemble's members; all decided by the declared capabilities. */
function groupModels(models) {
  const groups = new Map([["Autoencoders and generators", []], ["Ordered flows", []]]);
  const rank = (m) => (m.capabilities.codes ? 0 : 1);
  for (const m of [...models].sort((a, b) => rank(a) - rank(b))) {
    const label = m.ensemble ? `Ensemble ${m.ensemble}` : m.capabilities.ordered ? "Ordered flows" : "Autoencoders and generators";
    if (!groups.has(label)) groups.set(label, []);
    groups.get(label).push(m);
  }
  return [...groups].filter(([, group]) => group.length);
}

async function start() {
  setStatus("Loading models…");
  let models;
  try {
    models = await api.listModels();
  } catch (error) {
    reportError(error, "could not list models");
    setStatus("No models loaded.");
    return;
  }
  state.models = models;
  el.modelSelect.replaceChildren();
  if (!models.length) {
    el.modelSelect.append(new Option("no models", ""));
    showError("The server has no models to serve: train one (latentatlas train --out models/NAME) and restart it.");
    return;
  }
  for (const [label, group] of groupModels(models)) {
    const optgroup = document.createElement("optgroup");
    optgroup.label = label;
    for (const m of group) optgroup.append(new Option(`${m.id} — ${m.kind.toUpperCase()}, ${m.dataset}, ${m.latent_dim}d`, m.id));
    el.modelSelect.append(optgroup);
  }
  el.modelSelect.disabled = false;
  await restoreFromUrl();
}

async function restoreFromUrl() {
  const url = readUrlState();
  const ids = state.models.map((m) => m.id);
  const first = el.modelSelect.options[0].value; // the picker's order: autoencoders first
  let id = url.model;
  if (id && !ids.includes(id)) {
    showError(`the link asks for model "${id}", which this server does not serve; showing ${first}`);
    id = null;
  }
  if (url.invalidLatent) showError("the link's latent (z=…) is not a list of numbers; ignoring it");
  if (!id) {
    await selectModel(first);
    return;
  }
  const { latent, top, datasetIndex, upload, keep, sigma, steps, dim, order } = url;
  await selectModel(id, { latent, top, datasetIndex, upload, keep, sigma, steps, dim, order });
}

// ---------------------------------------------------------------- events

el.modelSelect.addEventListener("change", () => {
  clearError();
  selectModel(el.modelSelect.value);
});

el.fileInput.addEventListener("change", () => {
  const file = el.fileInput.files?.[0];
  if (file) encodeFile(file);
  el.fileInput.value = "";
});

el.sampleButton.addEventListener("click", () => loadSamples({ fromUser: true }));

el.resetButton.addEventListener("click", () => {
  if (!state.model) return;
  setLatent(state.base ?? priorCentre());
  setStatus(`${modelSummary()} · reset`);
});

el.randomButton.addEventListener("click", () => {
  if (!state.model) return;
  const gauss = () => Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
  // Only the dims with sliders (an ordered model's top latents); the rest stay as they are.
  const shown = sliderLimit(state.model);
  setLatent(
    state.ranges.map((r, d) => {
      if (d >= shown) return state.latent?.[d] ?? r.mean;
      return r.kind === "codes" ? r.codes[Math.floor(Math.random() * r.codes.length)] : r.mean + r.sd * gauss();
    }),
  );
});

el.priorButton.addEventListener("click", async () => {
  const model = state.model;
  if (!model) return;
  const seed = Math.floor(Math.random() * 2 ** 31);
  try {
    const reply = await api.generate(model.id, 1, seed);
    if (state.model !== model) return;
    setLatent(reply.samples[0].latent);
    setStatus(`${modelSummary()} · drawn from the prior (seed ${seed})`);
  } catch (error) {
    reportError(error, "could not sample the prior");
  }
});

el.downloadButton.addEventListener("click", () => {
  const src = el.decode.getAttribute("src");
  if (!src || !state.model) return;
  const a = document.createElement("a");
  a.href = src;
  a.download = `${state.model.id}-decode.png`;
  document.body.append(a);
  a.click();
  a.remove();
});

el.stepsSelect.addEventListener("change", () => {
  scheduleTraversal(0);
  writeUrlState(urlState);
});
el.factorsButton.addEventListener("click", () => nameDims());
el.copyLink.addEventListener("click", async () => {
  writeUrlState(urlState, 0);
  const upload = state.source?.type === "file";
  try {
    await navigator.clipboard.writeText(location.href);
    setStatus(upload
      ? "Link copied. It holds the latent, not your uploaded image (links cannot carry uploads): whoever opens it sees the decode, not the original."
      : "Link copied: it restores this model, image, latent and view.");
  } catch {
    setStatus(`Copy this link: ${location.href}`);
  }
});
el.errorDismiss.addEventListener("click", clearError);

// Drag and drop: the images panel takes the drop; elsewhere a stray drop must not navigate away.
for (const type of ["dragover", "drop"]) window.addEventListener(type, (e) => e.preventDefault());
el.dropZone.addEventListener("dragenter", (e) => {
  e.preventDefault();
  el.dropZone.classList.add("dragging");
});
el.dropZone.addEventListener("dragover", (e) => {
  e.preventDefault();
  if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
});
el.dropZone.addEventListener("dragleave", (e) => {
  if (!el.dropZone.contains(e.relatedTarget)) el.dropZone.classList.remove("dragging");
});
el.dropZone.addEventListener("drop", (e) => {
  e.preventDefault();
  el.dropZone.classList.remove("dragging");
  const file = [...(e.dataTransfer?.files ?? [])][0];
  if (file) encodeFile(file);
  else showError("drop an image file (PNG, JPEG, WebP or GIF)");
});
el.dropZone.addEventListener("keydown", (e) => {
  if (e.key === "Enter" || e.key === " ") {
    e.preventDefault();
    el.fileInput.click();
  }
});

document.addEventListener("paste", (e) => {
  const items = [...(e.clipboardData?.items ?? [])];
  const item = items.find((i) => i.kind === "file" && i.type.startsWith("image/"));
  if (!item) return;
  e.preventDefault();
  const file = item.getAsFile();
  if (file) encodeFile(new File([file], file.name || "pasted.png", { type: file.type }));
});

window.addEventListener("hashchange", () => {
  if (isForeignHash() && state.models.length) restoreFromUrl();
});

// On a narrow screen the sliders sit below the images: while the decode is scrolled out of view,
// a floating copy of it (CSS shows it under 640 px) follows the sliders.
new IntersectionObserver(([entry]) => {
  document.body.classList.toggle("decode-away", !entry.isIntersecting);
  if (!entry.isIntersecting && el.decode.src) el.decodeFloat.src = el.decode.src;
}).observe(el.decode);

window.addEventListener("beforeunload", () => {
  live.close();
  state.onnx?.close();
});

start();
