// The static explorer (`latentatlas export-site`): the same sliders, traversal and card as the
// app, with every encode and decode in this browser (ONNX Runtime Web in a Web Worker) and no
// server but the static host. `site.json` lists the models (their /api/models/{id} description,
// ONNX manifest and a few dataset samples); an opened image is read, cropped, resized and
// encoded here, and never sent anywhere.

import { banner } from "./banner.js";
import { BrowserDecoder, OnnxModel, browserTraverse, pixelsToDataUrl } from "./browser-decoder.js";
import { renderCardFacts } from "./card.js";
import { sliderLimit } from "./flow.js";
import { SCORES, modelMetrics } from "./metrics.js";
import { renderLossPlot } from "./plot.js";
import { SliderPanel, dimRanges, snap } from "./sliders.js";
import { TraversalView } from "./traversal.js";
import { setImage } from "./dom.js";

const $ = (id) => document.getElementById(id);
const el = {
  modelSelect: $("model-select"),
  fileInput: $("file-input"),
  dropZone: $("drop-zone"),
  original: $("original-img"),
  originalCaption: $("original-caption"),
  reconstruction: $("reconstruction-img"),
  decode: $("decode-img"),
  latency: $("latency"),
  context: $("encode-context"),
  samples: $("samples"),
  sliders: $("sliders"),
  stepsSelect: $("steps-select"),
  resetButton: $("reset-button"),
  downloadButton: $("download-button"),
  gridDownload: $("grid-download"),
  card: $("model-card"),
  metrics: $("metrics-table"),
  lossPlot: $("loss-plot"),
  errorDismiss: $("error-dismiss"),
};
const { setStatus, showError, clearError, reportError } = banner;
const ACCEPTED_TYPES = ["image/png", "image/jpeg", "image/webp", "image/gif"];

const state = { models: [], model: null, onnx: null, ranges: [], latent: null, base: null, generation: 0, frames: 0 };
let sliders = null;
let traversalTimer = 0;

const hook = {
  frames: 0,
  lastDecodeMs: null,
  get modelId() {
    return state.model?.id ?? null;
  },
  get latent() {
    return state.latent ? state.latent.slice() : null;
  },
  get ready() {
    return Boolean(state.onnx);
  },
  get idle() {
    return Boolean(state.onnx) && !decoder.busy && !traversalTimer && !hook.traversing;
  },
  traversing: false,
};
window.__latentAtlas = hook;

const decoder = new BrowserDecoder({
  onFrame: (frame) => {
    el.decode.onload = () => {
      hook.lastDecodeMs = performance.now() - frame.t0;
      hook.frames += 1;
      el.latency.textContent = `· ${frame.workerMs.toFixed(1)} / ${hook.lastDecodeMs.toFixed(0)} ms (in browser)`;
      el.downloadButton.disabled = false;
    };
    setImage(el.decode, frame.image);
  },
  onError: (message) => showError(message),
});

const traversal = new TraversalView(
  { img: $("traversal-img"), labels: $("traversal-labels"), overlay: $("traversal-overlay"), readout: $("traversal-readout") },
  (dim, value) => {
    if (!state.latent) return;
    state.latent[dim] = snap(state.ranges[dim], value);
    sliders.setValues(state.latent);
    latentChanged();
  },
);

// ---------------------------------------------------------------- latent

function latentChanged(t0 = performance.now()) {
  decoder.request(state.latent, t0);
  traversal.mark(state.latent);
  clearTimeout(traversalTimer);
  traversalTimer = setTimeout(refreshTraversal, 250);
}

function setLatent(latent, { asBase = false } = {}) {
  state.latent = latent.map((v, d) => (d < state.ranges.length ? snap(state.ranges[d], Number(v)) : Number(v)));
  sliders.setValues(state.latent);
  if (asBase) {
    state.base = state.latent.slice();
    sliders.setBase(state.base, null);
  }
  latentChanged();
}

async function refreshTraversal() {
  traversalTimer = 0;
  const { model, onnx } = state;
  if (!model || !onnx || !state.latent) return;
  hook.traversing = true;
  try {
    const dims = Array.from({ length: sliderLimit(model) }, (_, d) => d);
    const grid = await browserTraverse(onnx, state.latent.slice(), dims, Number(el.stepsSelect.value) || 11);
    if (model === state.model) {
      traversal.show(grid, state.latent);
      el.gridDownload.disabled = false;
    }
  } catch (error) {
    reportError(error, "traversal");
  } finally {
    hook.traversing = false;
  }
}

// ---------------------------------------------------------------- images

/** An image (Blob or URL) -> its pixels as the model sees them: centre-cropped to a square,
 * resized to the model's size, transparency on black, grey as ITU-R 601 luma (like the server). */
async function modelPixels(source, channels, size) {
  let input = source;
  if (typeof source === "string") {
    // a sample's data URL: through an <img> (the page's CSP lets images, not fetch, read data: URLs)
    input = new Image();
    input.src = source;
    await input.decode();
  }
  const bitmap = await createImageBitmap(input); // a file's EXIF orientation is applied
  const side = Math.min(bitmap.width, bitmap.height);
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = size;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, size, size);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(bitmap, Math.floor((bitmap.width - side) / 2), Math.floor((bitmap.height - side) / 2), side, side, 0, 0, size, size);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, size, size).data;
  const plane = size * size;
  const pixels = new Float32Array(channels * plane);
  for (let p = 0; p < plane; p++) {
    const [r, g, b] = [rgba[4 * p], rgba[4 * p + 1], rgba[4 * p + 2]];
    if (channels === 1) {
      const grey = Math.round((r * 299 + g * 587 + b * 114) / 1000);
      pixels[p] = grey / 255;
      rgba[4 * p] = rgba[4 * p + 1] = rgba[4 * p + 2] = grey;
    } else {
      pixels[p] = r / 255;
      pixels[plane + p] = g / 255;
      pixels[2 * plane + p] = b / 255;
    }
  }
  return { pixels, preview: pixelsToDataUrl(new Uint8ClampedArray(rgba), size, size) };
}

async function encode(source, caption) {
  const { model, onnx } = state;
  if (!model || !onnx) return;
  if (!onnx.hasEncoder) {
    showError(`${model.id}'s encoder is not available in this site: move the sliders instead`);
    return;
  }
  setStatus(`Encoding ${caption} in your browser…`);
  const { pixels, preview } = await modelPixels(source, model.channels, model.image_size);
  const { latent, ms } = await onnx.encode(pixels);
  if (model !== state.model) return;
  const { rgba } = await onnx.decode([latent]);
  setImage(el.original, preview);
  setImage(el.reconstruction, pixelsToDataUrl(rgba, onnx.width, onnx.height));
  el.originalCaption.textContent = `· ${caption}`;
  setLatent(latent, { asBase: true });
  setStatus(`${model.id} · encoded ${caption} in your browser (${ms.toFixed(1)} ms)`);
}

async function encodeFile(file) {
  if (file.type && !ACCEPTED_TYPES.includes(file.type)) {
    showError(`"${file.name}" is ${file.type}; open a PNG, JPEG, WebP or GIF image`);
    return;
  }
  try {
    clearError();
    await encode(file, file.name || "image");
  } catch (error) {
    reportError(error, `could not encode "${file.name || "image"}"`);
  }
}

function renderSamples(model) {
  el.samples.replaceChildren();
  for (const sample of model.samples ?? []) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "sample";
    const factors = Object.entries(sample.factors ?? {}).map(([k, v]) => `${k} ${typeof v === "number" ? Number(v.toPrecision(3)) : v}`).join(", ");
    button.title = `dataset sample ${sample.index}: ${factors}`;
    button.setAttribute("aria-label", `Encode dataset sample ${sample.index}`);
    const img = document.createElement("img");
    img.src = sample.image;
    img.alt = "";
    img.className = "pixelated";
    button.append(img);
    button.addEventListener("click", () => encode(sample.image, `sample ${sample.index}`).catch((e) => reportError(e, "sample")));
    el.samples.append(button);
  }
}

function renderMetrics(model) {
  el.metrics.replaceChildren();
  const metrics = modelMetrics(model);
  if (!metrics) return;
  const caption = el.metrics.createCaption();
  caption.textContent = `From the card: ${metrics.samples.toLocaleString()} samples, seed ${metrics.seed}`;
  for (const [label, value, , description] of SCORES) {
    const v = value(metrics.values);
    if (typeof v !== "number") continue;
    const row = el.metrics.insertRow();
    const name = row.insertCell();
    name.textContent = label;
    name.title = description;
    row.insertCell().textContent = v.toFixed(3);
  }
}

// ---------------------------------------------------------------- models

async function selectModel(id) {
  const generation = ++state.generation;
  const model = state.models.find((m) => m.id === id);
  if (!model) return;
  state.onnx?.close();
  state.onnx = null;
  decoder.use(null);
  state.model = model;
  state.ranges = dimRanges(model);
  el.modelSelect.value = id;
  [el.original, el.reconstruction, el.decode].forEach((img) => setImage(img, null));
  el.originalCaption.textContent = el.latency.textContent = "";
  traversal.clear();
  el.downloadButton.disabled = el.gridDownload.disabled = true;
  renderCardFacts(model, el.card);
  renderMetrics(model);
  renderLossPlot(el.lossPlot, model.curves);
  renderSamples(model);
  el.context.textContent = `${model.id} was trained on ${model.dataset}${model.heldout?.psnr_db != null ? `; held-out PSNR ${model.heldout.psnr_db.toFixed(1)} dB` : ""}.`;
  sliders = new SliderPanel(el.sliders, model, (d, value, t0) => {
    if (!state.latent) return;
    state.latent[d] = value;
    latentChanged(t0);
  }, { limit: sliderLimit(model) });
  el.stepsSelect.disabled = Array.isArray(model.codebooks);
  setStatus(`Loading ${model.id}'s decoder into your browser…`);
  let onnx;
  try {
    onnx = await OnnxModel.open(model.onnx, { withEncoder: true, resolveUrl: (url) => new URL(url, document.baseURI).href });
  } catch (error) {
    if (generation === state.generation) reportError(error, `${model.id}'s decoder`);
    return;
  }
  if (generation !== state.generation) {
    onnx.close();
    return;
  }
  state.onnx = onnx;
  decoder.use(onnx);
  const t = onnx.timings.decoder;
  setStatus(`${model.id} · ${model.latent_dim} latents · decoding in your browser (${(t.bytes / 1e6).toFixed(1)} MB, ready in ${Math.round(t.ms)} ms)`);
  const mean = model.latent_mean ?? [];
  const centre = state.ranges.map((r, d) => (r.kind === "codes" ? snap(r, Number(mean[d] ?? 0)) : r.mean));
  if (model.samples?.length && onnx.hasEncoder) await encode(model.samples[0].image, `sample ${model.samples[0].index}`);
  else setLatent(centre, { asBase: true });
}

function download(src, name) {
  if (!src) return;
  const a = document.createElement("a");
  a.href = src;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
}

async function start() {
  try {
    const response = await fetch(new URL("site.json", document.baseURI));
    if (!response.ok) throw new Error(`site.json: HTTP ${response.status}`);
    state.models = (await response.json()).models ?? [];
  } catch (error) {
    reportError(error, "could not read this site's models");
    return;
  }
  el.modelSelect.replaceChildren(...state.models.map((m) => new Option(`${m.id} — ${m.kind.toUpperCase()}, ${m.dataset}, ${m.latent_dim}d`, m.id)));
  el.modelSelect.disabled = !state.models.length;
  if (!state.models.length) {
    showError("this site holds no models");
    return;
  }
  const wanted = new URLSearchParams(location.hash.slice(1)).get("model");
  await selectModel(state.models.some((m) => m.id === wanted) ? wanted : state.models[0].id);
}

el.modelSelect.addEventListener("change", () => selectModel(el.modelSelect.value));
el.fileInput.addEventListener("change", () => {
  const file = el.fileInput.files?.[0];
  if (file) encodeFile(file);
  el.fileInput.value = "";
});
for (const type of ["dragover", "drop"]) window.addEventListener(type, (e) => e.preventDefault());
el.dropZone.addEventListener("drop", (e) => {
  const file = [...(e.dataTransfer?.files ?? [])][0];
  if (file) encodeFile(file);
});
el.dropZone.addEventListener("keydown", (e) => {
  if (e.key === "Enter" || e.key === " ") {
    e.preventDefault();
    el.fileInput.click();
  }
});
el.resetButton.addEventListener("click", () => state.base && setLatent(state.base));
el.stepsSelect.addEventListener("change", () => refreshTraversal());
el.downloadButton.addEventListener("click", () => download(el.decode.getAttribute("src"), `${state.model?.id}-decode.png`));
el.gridDownload.addEventListener("click", () => download($("traversal-img").getAttribute("src"), `${state.model?.id}-traversal.png`));
el.errorDismiss.addEventListener("click", clearError);
window.addEventListener("beforeunload", () => state.onnx?.close());

start();
