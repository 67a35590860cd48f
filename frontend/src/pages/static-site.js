// The static explorer (`latentatlas export-site`): the explorer's panels (images, sliders,
// traversal, card) composed with the in-browser decoder and encoder (ONNX Runtime Web in a Web
// Worker) and no server but the static host. `site.json` lists the models (their
// /api/models/{id} description, ONNX manifest and a few dataset samples); an opened image is
// read, cropped, resized and encoded here, and never sent anywhere.

import { banner } from "../lib/banner.js";
import { $, byIds, download } from "../lib/dom.js";
import { Store, anyBusy } from "../lib/store.js";
import { readUrlState, writeUrlState } from "../lib/urlstate.js";
import { browserEncoder } from "../decode/browser-encoder.js";
import { DecoderStrategy } from "../decode/strategy.js";
import { CardPanel } from "../panels/card.js";
import { DecodeView } from "../panels/decode-view.js";
import { declaredFactors, metricsFactors } from "../panels/factors.js";
import { LatentControl } from "../panels/latent.js";
import { LatentSliders } from "../panels/latent-sliders.js";
import { ModelPicker } from "../panels/model-picker.js";
import { ScoreTable } from "../panels/score-table.js";
import { SourcePanel } from "../panels/source.js";
import { TraversalPanel } from "../panels/traversal.js";
import { installSkipLinks } from "../lib/skip-link.js";

installSkipLinks();

const { setStatus, showError, clearError, reportError } = banner;
const store = new Store({ models: [], model: null, latent: null, t0: 0, base: null, source: null, factors: [] });
let generation = 0;

const picker = new ModelPicker($("model-select"), (id) => selectModel(id), { grouped: false });
const decodeView = new DecodeView({ decode: $("decode-img"), latency: $("latency"), download: $("download-button") });
const decoder = new DecoderStrategy(
  { onFrame: (frame) => decodeView.showFrame(frame), onError: showError },
  { server: false, manifest: async (model) => model.onnx, open: { withEncoder: true, resolveUrl: (url) => new URL(url, document.baseURI).href } },
);
const latent = new LatentControl(store);
const source = new SourcePanel(
  {
    original: $("original-img"), reconstruction: $("reconstruction-img"), originalCaption: $("original-caption"),
    context: $("encode-context"), samples: $("samples"), fileInput: $("file-input"), dropZone: $("drop-zone"),
  },
  { store, latent, encoder: browserEncoder(decoder), banner, summary: () => store.state.model?.id ?? "", thumbClass: "sample" },
);
const gridDownload = $("grid-download");
const traversal = new TraversalPanel(
  { ...byIds("traversal", ["img", "canvas", "labels", "overlay", "readout"]), steps: $("steps-select") },
  {
    decoder, onPick: (dim, value) => latent.setDim(dim, value), onShown: () => (gridDownload.disabled = false),
    onSteps: () => writeLink(), onError: reportError,
  },
  { delay: 250 },
);
const sliders = new LatentSliders({ container: $("sliders") }, { onInput: (dim, value, t0) => latent.setDim(dim, value, t0) });

store.on("latent", (z, state) => {
  if (!z) return;
  decoder.request(z, state.t0);
  writeLink();
});

/** The view in the link (lib/urlstate.js): the model, its latent and the traversal's steps. An
 *  opened image stays in the browser: the link holds its latent, marked `src=upload`. */
function writeLink() {
  const { model, latent: z, source: from } = store.state;
  writeUrlState(() => ({ model: model?.id, latent: z, upload: from?.type === "file", steps: traversal.steps }));
}
const panels = store.connect([
  picker, decodeView, source, traversal, latent, sliders, new CardPanel({ card: $("model-card"), lossPlot: $("loss-plot") }),
  new ScoreTable($("metrics-table")), { show: () => (gridDownload.disabled = true) },
]);

window.__latentAtlas = {
  get frames() {
    return decodeView.timings.frames;
  },
  get lastDecodeMs() {
    return decodeView.timings.lastDecodeMs;
  },
  get modelId() {
    return store.state.model?.id ?? null;
  },
  get latent() {
    return store.state.latent ? store.state.latent.slice() : null;
  },
  get ready() {
    return Boolean(decoder.onnx);
  },
  get idle() {
    return Boolean(decoder.onnx) && !decoder.busy && !anyBusy(panels);
  },
};

async function selectModel(id, view = {}) {
  const current = ++generation;
  const model = store.state.models.find((m) => m.id === id);
  if (!model) return;
  clearError(); // an error about the previous model (an image it could not open) is not this one's
  Object.assign(store.state, { source: null, base: null, latent: null });
  store.set({ model });
  store.set({ factors: declaredFactors(model) ?? metricsFactors(model) ?? [] });
  traversal.restoreSteps(view.steps);
  setStatus(`Loading ${model.id}'s decoder into your browser…`);
  await decoder.use(model);
  if (current !== generation || !decoder.onnx) return;
  const t = decoder.onnx.timings.decoder;
  setStatus(`${model.id} · ${model.latent_dim} latents · decoding in your browser (${(t.bytes / 1e6).toFixed(1)} MB, ready in ${Math.round(t.ms)} ms)`);
  await source.loadSamples();
  if (current !== generation) return;
  if (view.latent?.length === model.latent_dim) latent.set(view.latent, { asBase: true });
  else if (view.latent) {
    showError(`the link's latent has ${view.latent.length} values but ${model.id} has ${model.latent_dim} dims`);
  }
  if (view.upload) {
    showError("this link was made from an opened image, which a link cannot carry: it shows the latent the link holds");
  }
}

async function start() {
  try {
    const response = await fetch(new URL("site.json", document.baseURI));
    if (!response.ok) throw new Error(`site.json: HTTP ${response.status}`);
    store.state.models = (await response.json()).models ?? [];
  } catch (error) {
    reportError(error, "could not read this site's models");
    return;
  }
  if (!picker.fill(store.state.models)) {
    showError("this site holds no models");
    return;
  }
  const view = readUrlState();
  if (store.state.models.some((m) => m.id === view.model)) await selectModel(view.model, view);
  else await selectModel(picker.first);
}

$("reset-button").addEventListener("click", () => store.state.base && latent.reset());
gridDownload.addEventListener("click", () => download(traversal.image, `${store.state.model?.id}-traversal.png`));
$("error-dismiss").addEventListener("click", clearError);
window.addEventListener("beforeunload", () => decoder.close());

start();
