// The Latent Atlas explorer: the model picker, the images, the live decode, the sliders, the
// traversal grid and the analysis panels, composed around one store (lib/store.js). Latents
// decode on the server or in this browser, chosen once per model (decode/strategy.js); the view
// lives in the link (lib/urlstate.js). Plain ES modules, no build step.

import { api } from "../lib/api.js";
import { banner } from "../lib/banner.js";
import { $, byIds } from "../lib/dom.js";
import { Store, linkState } from "../lib/store.js";
import { isForeignHash, readUrlState, writeUrlState } from "../lib/urlstate.js";
import { LiveDecoder } from "../decode/live.js";
import { DecoderStrategy } from "../decode/strategy.js";
import { ApiPanel } from "../panels/api-snippets.js";
import { BatchPanel } from "../panels/batch.js";
import { CardPanel } from "../panels/card.js";
import { DecodeView } from "../panels/decode-view.js";
import { DirectionsPanel } from "../panels/directions.js";
import { ExportButtons } from "../panels/exports.js";
import { FactorNames, declaredFactors, metricsFactors } from "../panels/factors.js";
import { FlowPanel } from "../panels/flow.js";
import { InterpolationPanel } from "../panels/interpolation.js";
import { LatentControl, sliderLimit } from "../panels/latent.js";
import { LatentSliders } from "../panels/latent-sliders.js";
import { MetricsPanel } from "../panels/metrics.js";
import { ModelPicker } from "../panels/model-picker.js";
import { PopulationPanel } from "../panels/population.js";
import { ProbeDecoderView } from "../panels/probe-decoder.js";
import { DecoderAbsence, NearestPanel, retrievalTraverser } from "../panels/retrieval.js";
import { SourcePanel, serverEncoder } from "../panels/source.js";
import { TraversalPanel } from "../panels/traversal.js";
import { ZooPanel } from "../panels/zoo.js";
import { installHook } from "./explorer-hook.js";
import { installSkipLinks } from "../lib/skip-link.js";
import { followCurrentColumn } from "../lib/table-scroll.js";

installSkipLinks();
followCurrentColumn($("metrics-compare").parentElement);

const { setStatus, setBackgroundStatus, showError, clearError, reportError } = banner;
const store = new Store({ models: [], model: null, latent: null, t0: 0, base: null, source: null, factors: [] });
let generation = 0; // bumps on every model switch: late replies for older models are ignored

const summary = () => {
  const m = store.state.model;
  return m ? `${m.id} · ${m.kind.toUpperCase()} · ${m.latent_dim} latents · ${m.capabilities.decode ? decoder.label : "no decoder"}` : "";
};
const writeLink = (delay) => writeUrlState(link, delay);

// ---------------------------------------------------------------- panels

const picker = new ModelPicker($("model-select"), (id) => {
  clearError();
  selectModel(id);
});
const decodeView = new DecodeView({
  decode: $("decode-img"), canvas: $("decode-canvas"), float: $("decode-float"), latency: $("latency"), download: $("download-button"),
});
const decoder = new DecoderStrategy(
  {
    onFrame: (frame) => decodeView.showFrame(frame),
    onError: showError,
    onChange: () => store.state.model && setBackgroundStatus(summary()),
    onReady: (onnx) => {
      const canvas = onnx && decodeView.handOverCanvas();
      if (canvas) onnx.paintInto(canvas); // the worker paints slider frames itself
      flow.useBrowser(onnx);
      if (store.state.latent) decoder.request(store.state.latent);
    },
  },
  { server: { live: LiveDecoder, traverse: api.traverse }, manifest: (model) => api.onnx(model.id), toggle: $("browser-decode"), path: $("decode-path") },
);
const latent = new LatentControl(store);
const source = new SourcePanel(
  {
    original: $("original-img"), reconstruction: $("reconstruction-img"), originalCaption: $("original-caption"),
    reconstructionCaption: $("reconstruction-caption"), context: $("encode-context"), samples: $("samples"),
    fileInput: $("file-input"), dropZone: $("drop-zone"), sampleButton: $("sample-button"),
  },
  { store, latent, encoder: serverEncoder, banner, summary, config: api.config },
);
const traversal = new TraversalPanel(
  { ...byIds("traversal", ["img", "canvas", "labels", "overlay", "readout"]), steps: $("steps-select") },
  { decoder: retrievalTraverser(decoder), onPick: (dim, value) => latent.setDim(dim, value), onSteps: () => writeLink(), onError: reportError },
);
const sliders = new LatentSliders(
  {
    container: $("sliders"), hint: $("sliders-hint"), orderLabel: $("order-label"), orderToggle: $("order-by-info"),
    family: $("family-line"), legendBand: $("legend-band"), legendInactive: $("legend-inactive"), legendTicks: $("legend-ticks"),
  },
  {
    onInput: (dim, value, t0) => latent.setDim(dim, value, t0),
    onArrange: (dims) => {
      traversal.setDims(dims);
      writeLink();
    },
    onError: reportError,
  },
);
const factors = new FactorNames($("factors-button"), {
  onNames: (names) => store.set({ factors: names ?? [] }),
  onStatus: (text) => setStatus(`${summary()} · ${text}`),
  onError: reportError,
});
const metrics = new MetricsPanel(
  {
    ...byIds("metrics", ["bars", "compare", "button", "cancel", "samples", "trainVotes", "evalVotes", "progress", "status"]),
    nmi: $("nmi-heatmap"), dci: $("dci-heatmap"),
  },
  { onPickDim: (dim) => sliders.focus(dim), onComputed: metricsComputed, onError: reportError },
);
const flow = new FlowPanel(
  byIds("flow", [
    "panel", "summary", "keep", "keepValue", "ratio", "original", "decode", "psnr", "residual", "residualCaption", "scree",
    "psnrPlot", "note", "sigma", "sigmaValue", "denoiseNote", "noisy", "noisyPsnr", "denoised", "denoisedPsnr",
    "pcaDecode", "pcaPsnr", "pcaDenoised", "pcaDenoisedPsnr", "medPlot", "medNote",
  ]),
  reportError,
  () => writeLink(),
);
const population = new PopulationPanel(
  byIds("population", ["panel", "n", "layout", "color", "drag", "button", "note", "scatter", "hists", "selection", "selectionNote", "grid"]), {
  onPick: (index, caption) => {
    source.encode({ type: "sample", index }, caption).catch((error) => reportError(error, caption));
    $("original-img").scrollIntoView({ block: "nearest", behavior: "smooth" });
  },
  onError: reportError,
});
const batch = new BatchPanel(byIds("batch", ["panel", "files", "folder", "note", "grid"]), {
  onEncoded: (items) => population.setYours(items),
  onError: reportError,
});
const nearest = new NearestPanel({ section: $("nearest"), ...byIds("nearest", ["note", "list"]) }, {
  onPick: (index, caption) => source.encode({ type: "sample", index }, caption).catch((error) => reportError(error, caption)),
  onError: reportError,
});
const decoderAbsence = new DecoderAbsence({
  note: $("decoder-absent"), traversalNote: $("traversal-absent"),
  hide: [$("reconstruction-img").closest("figure"), $("decode-img").closest("figure"), $("browser-decode").closest(".decode-path")],
  disable: [$("export-traversal-png"), $("export-traversal-gif")],
});
new ExportButtons(
  byIds("export", ["traversalPng", "traversalGif", "metricsCsv", "metricsJson", "latentCsv", "latentJson"]),
  () => ({ model: store.state.model, latent: store.state.latent?.slice() ?? null, dims: traversal.gridDims, steps: traversal.steps, names: store.state.factors }),
  reportError,
);

// Every latent change is decoded and written to the link first; then the panels follow it.
store.on("latent", (z, state) => {
  if (!z) return;
  if (state.model?.capabilities.decode) decoder.request(z, state.t0);
  writeLink();
});
const directions = new DirectionsPanel(
  byIds("directions", ["panel", "count", "button", "wide", "note", "sliders"]),
  { latent, onError: reportError },
);
const interpolation = new InterpolationPanel(
  byIds("interpolation", [
    "panel", "from", "fromFile", "fromName", "to", "toFile", "toName", "steps", "button", "gif", "note", "strip",
  ]),
  reportError,
);
const apiPanel = new ApiPanel(byIds("api", ["what", "curl", "python", "copyCurl", "copyPython", "status"]));
const panels = store.connect([
  picker, decodeView, source, traversal, latent, sliders, directions, interpolation, apiPanel,
  factors, new CardPanel({ card: $("model-card"), lossPlot: $("loss-plot"), ...byIds("card", ["extra", "more"]) }),
  {
    show: (model) => {
      metrics.show(model, store.state.models);
      $("metrics-shipped-row").hidden = !store.state.models.some((m) => m.id === model.id && m.metricsFromJob);
    },
  }, new ZooPanel(byIds("zoo", ["section", "metric", "note", "plot", "claims", "curves"])),
  flow, population, batch, nearest, decoderAbsence, new ProbeDecoderView({ figure: $("probe"), ...byIds("probe", ["img", "label"]) }, reportError),
]);
installHook({ store, decoder, decodeView, panels });

// ---------------------------------------------------------------- the view and its link

/** What the link holds: an ordered model's latent is the whole image (thousands of numbers), so
 * its link holds the source and the values of its slider dims (the top latents) over its encoding. */
function link() {
  const { model, latent: z, source: from } = store.state;
  const whole = model && sliderLimit(model) === model.latent_dim;
  return {
    model: model?.id,
    latent: whole ? z : null,
    top: !whole && z ? z.slice(0, sliderLimit(model)) : null,
    datasetIndex: from?.type === "sample" ? from.index : null,
    upload: from?.type === "file",
    ...linkState(panels),
  };
}

async function selectModel(id, view = {}) {
  const current = ++generation;
  picker.select.value = id;
  setStatus(`Loading ${id}…`);
  let model;
  try {
    model = await api.getModel(id);
  } catch (error) {
    if (current === generation) reportError(error, `model ${id}`);
    return;
  }
  if (current !== generation) return;
  const previous = store.state.source;
  Object.assign(store.state, { source: null, base: null, latent: null });
  store.set({ model });
  store.set({ factors: FactorNames.initial(model) ?? [] });
  $("prior-button").hidden = !model.capabilities.sample;
  decoder.use(model);
  setStatus(summary());
  try {
    await restoreView(model, view, previous);
  } catch (error) {
    if (current === generation) reportError(error);
  }
}

/** Show what the link holds (`view`, lib/urlstate.js), else the previous upload, else a dataset sample. */
async function restoreView(model, { latent: z, top, datasetIndex, upload, keep, sigma, steps, dim, order }, previous) {
  const centre = () => latent.set(latent.priorCentre(), { asBase: true });
  traversal.restoreSteps(steps);
  sliders.restoreOrder(order);
  if (model.capabilities.ordered && (keep != null || sigma != null)) flow.restore({ keep, sigma });
  if (z && z.length !== model.latent_dim) {
    showError(`the link's latent has ${z.length} values but ${model.id} has ${model.latent_dim} dims; starting from the prior centre`);
    centre();
  } else if (z || top || datasetIndex != null || upload) {
    if (datasetIndex != null && !(await source.encode({ type: "sample", index: datasetIndex }, `sample ${datasetIndex}`))) return;
    if (datasetIndex == null && !z) centre();
    if (z) latent.set(z, { asBase: datasetIndex == null });
    if (top && latent.latent) latent.set([...top.slice(0, sliderLimit(model)), ...latent.latent.slice(top.length)]);
    if (upload) {
      showError("this link was made from an uploaded image, which a link cannot carry: it shows " +
        (z || top ? "the latent the link holds" : "the prior centre") + "; upload the image again to see it");
    }
    setStatus(`${summary()} · restored from the link`);
  } else if (previous?.type === "file") {
    centre();
    await source.encodeFile(previous.file);
  } else {
    centre();
    await source.loadSamples();
  }
  if (dim != null) sliders.focus(dim, { mark: true });
}

/** A metrics job's numbers (`fromJob`) or the shipped card's are now the model's: shown, and the dims named again. */
async function metricsComputed(id, values, fromJob = true) {
  const { models, model } = store.state;
  for (const m of [...models, model]) if (m?.id === id) Object.assign(m, { metrics: values, metricsFromJob: fromJob });
  $("metrics-shipped-row").hidden = !(model?.id === id && fromJob);
  metrics.show(model, models);
  if (model?.id !== id) return;
  try {
    const fresh = await api.getModel(id); // the server names the dims from the new metrics
    for (const m of [...store.state.models, store.state.model]) if (m?.id === id) m.dim_names = fresh.dim_names;
  } catch (error) {
    reportError(error, "refreshing the model after its metrics");
  }
  if (store.state.model?.id === id && !declaredFactors(store.state.model)) store.set({ factors: metricsFactors(store.state.model) ?? [] });
  setStatus(`${summary()} · ${fromJob ? "metrics computed" : "the shipped card's metrics again"}`);
}

$("metrics-shipped").addEventListener("click", async () => {
  const id = store.state.model?.id;
  if (!id) return;
  try {
    await metricsComputed(id, await api.shippedMetrics(id), false);
  } catch (error) {
    reportError(error, "going back to the shipped card");
  }
});

async function restoreFromUrl() {
  const view = readUrlState();
  let id = view.model;
  if (id && !store.state.models.some((m) => m.id === id)) {
    showError(`the link asks for model "${id}", which this server does not serve; showing ${picker.first}`);
    id = null;
  }
  if (view.invalidLatent) showError("the link's latent (z=…) is not a list of numbers; ignoring it");
  await selectModel(id ?? picker.first, id ? view : {});
}

async function start() {
  setStatus("Loading models…");
  try {
    store.state.models = await api.listModels();
  } catch (error) {
    reportError(error, "could not list models");
    setStatus("No models loaded.");
    return;
  }
  if (!picker.fill(store.state.models)) {
    showError("The server has no models to serve: train one (latentatlas train --out models/NAME) and restart it.");
    return;
  }
  await restoreFromUrl();
}

// ---------------------------------------------------------------- buttons and the page

$("reset-button").addEventListener("click", () => {
  if (!store.state.model) return;
  latent.reset();
  setStatus(`${summary()} · reset`);
});
$("random-button").addEventListener("click", () => store.state.model && latent.randomize());
$("prior-button").addEventListener("click", async () => {
  const model = store.state.model;
  if (!model) return;
  const seed = Math.floor(Math.random() * 2 ** 31);
  try {
    const reply = await api.generate(model.id, 1, seed);
    if (store.state.model !== model) return;
    latent.set(reply.samples[0].latent);
    setStatus(`${summary()} · drawn from the prior (seed ${seed})`);
  } catch (error) {
    reportError(error, "could not sample the prior");
  }
});
$("copy-link").addEventListener("click", async () => {
  writeLink(0);
  try {
    await navigator.clipboard.writeText(location.href);
    setStatus(store.state.source?.type === "file"
      ? "Link copied. It holds the latent, not your uploaded image (links cannot carry uploads): whoever opens it sees the decode, not the original."
      : "Link copied: it restores this model, image, latent and view.");
  } catch {
    setStatus(`Copy this link: ${location.href}`);
  }
});
$("error-dismiss").addEventListener("click", clearError);
window.addEventListener("hashchange", () => {
  if (isForeignHash() && store.state.models.length) restoreFromUrl();
});
window.addEventListener("beforeunload", () => decoder.close());

start();
