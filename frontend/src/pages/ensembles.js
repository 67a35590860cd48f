// Latent Atlas ensemble view: the information fragments of an ensemble of beta-VAEs
// (Murphy, Dillavou & Bassett, TMLR 2025). Picks an ensemble (remembered in the URL hash),
// runs its analysis when missing, and shows the channel x channel NMI in OPTICS order under
// the reachability profile with the channel x factor NMI beside it on the same rows, the
// hotspots, information against beta, the traversals of any two channels and, when the
// analysis has them, the NMI between whole latent spaces and the fusion result.

import { activity } from "../lib/api.js";
import { banner } from "../lib/banner.js";
import { fmt } from "../lib/format.js";
import { keyboardCells } from "../lib/plot-keys.js";
import { $ } from "../lib/dom.js";
import { ensembleApi } from "../lib/ensemble-api.js";
import { NO_PLOTLY, placeholder, plotAvailable } from "../lib/plot.js";
import { hashParams, replaceHash } from "../lib/urlstate.js";
import { EnsembleCurves } from "../panels/ensemble-curves.js";
import { closestPartner, displayOrder, indexSimilarity } from "../panels/ensemble-data.js";
import { ChannelTraversals, HotspotList, PairView, renderFacts, renderFusion } from "../panels/ensemble-panels.js";
import { SimilarityPlot, renderInfoPlot, renderSpacesPlot, renderSparkline } from "../panels/ensemble-plots.js";
import { installSkipLinks } from "../lib/skip-link.js";

installSkipLinks();

const POLL_MS = 500;
const el = {
  select: $("ensemble-select"),
  errorDismiss: $("error-dismiss"),
  showUnclustered: $("show-unclustered"),
  similarityHint: $("similarity-hint"),
  similarity: $("similarity-plot"),
  tip: $("similarity-tip"),
  facts: $("ensemble-facts"),
  distance: $("distance-select"),
  minSamples: $("min-samples"),
  analyzeButton: $("analyze-button"),
  analyzeProgress: $("analyze-progress"),
  analyzeStatus: $("analyze-status"),
  spacesPanel: $("spaces-panel"),
  spacesHint: $("spaces-hint"),
  spacesPlot: $("spaces-plot"),
  fusion: { panel: $("fusion-panel"), sentence: $("fusion-sentence"), details: $("fusion-details"), spark: $("fusion-spark") },
  infoPlot: $("info-plot"),
  infoTitle: $("info-title"),
  infoHint: $("info-hint"),
  traversalAbsent: $("traversal-absent"),
};

const state = {
  ensembles: [],
  id: null,
  detail: null,
  sim: null, // indexed similarity payload
  hotspots: null,
  modelIds: new Map(), // member name -> served model id
  order: [], // channel indices in display order
  spacesOrder: [], // member names of the spaces heatmap, in drawn order
  highlight: null, // highlighted hotspot label
  pair: null, // [row channel, column channel]
  job: null, // {ensemble, progress, stage} of the analysis this page follows
  generation: 0, // bumps on every ensemble switch: late replies for older ones are ignored
};

// ---------------------------------------------------------------- status & errors

const { setStatus, showError, clearError, reportError } = banner;
const memberCurves = new EnsembleCurves($("ensemble-curves"), reportError);

// ---------------------------------------------------------------- URL hash: #ensemble=ID&pair=A,B

let lastHash = null;

function readHash() {
  const params = hashParams();
  const pair = (params.get("pair") ?? "").split(",").map(Number);
  return {
    ensemble: params.get("ensemble") || null,
    pair: pair.length === 2 && pair.every((v) => Number.isInteger(v) && v >= 0) ? pair : null,
  };
}

function writeHash() {
  const parts = state.id ? [`ensemble=${encodeURIComponent(state.id)}`] : [];
  if (state.pair) parts.push(`pair=${state.pair.join(",")}`);
  lastHash = replaceHash(parts);
}

// ---------------------------------------------------------------- views

const traversals = new ChannelTraversals(ensembleApi);

const similarityPlot = new SimilarityPlot(el.similarity, el.tip, {
  onPickPair: (a, b) => pickPair(a, b),
  onPickChannel: (index) => pickChannel(index),
});

// From the keyboard: arrows walk the channel x channel cells (in display order), Enter compares the pair.
keyboardCells(el.similarity, {
  size: () => (state.sim ? [state.order.length, state.order.length] : [0, 0]),
  describe: (row, col) => {
    const [a, b] = [state.order[row], state.order[col]].map((index) => state.sim.channelOf(index));
    const nmi = state.sim.nmi[state.sim.posOf.get(a.index)][state.sim.posOf.get(b.index)];
    return `${a.member} z${a.dim} and ${b.member} z${b.dim}: NMI ${fmt.score(nmi)}`;
  },
  pick: (row, col) => pickPair(state.order[row], state.order[col]),
});

const pairView = new PairView({ pair: $("pair"), summary: $("pair-summary"), steps: $("pair-steps") }, traversals, reportError);

const hotspotEls = { list: $("hotspot-list"), summary: $("hotspots-summary"), nullLine: $("hotspots-null") };
const hotspotList = new HotspotList(hotspotEls, traversals, {
  onToggle: (label) => toggleHotspot(label),
  onError: reportError,
});

const marks = () => ({ highlight: state.highlight, pair: state.pair });

/** The server's clip of NMI estimates to [0, 1], said in words (empty when it changed nothing). */
function clippingNote(clip) {
  if (!clip) return "";
  const parts = [];
  if (clip.below_zero) {
    parts.push(`${clip.below_zero} pairs estimated below 0 (down to ${fmt.score(clip.min_estimate)}) are shown as 0`);
  }
  if (clip.above_one) parts.push(`${clip.above_one} above 1 (up to ${fmt.score(clip.max_estimate)}) as 1`);
  return parts.length ? ` NMI is clipped to [0, 1], the estimator's bias removed: ${parts.join("; ")}.` : "";
}

function renderSimilarity() {
  const sim = state.sim;
  state.order = displayOrder(sim, el.showUnclustered.checked);
  const clustered = sim.ordering.length;
  const others = sim.channels.length - clustered;
  const factors = Array.isArray(sim.nmi_factor) && sim.factor_names?.length ? sim.factor_names.length : 0;
  el.similarityHint.textContent =
    `${clustered} clustered channels in OPTICS order (reachability above, hotspots shaded)` +
    (others ? `; ${others} unclustered ${el.showUnclustered.checked ? "after the dotted line" : "hidden"}` : "") +
    (factors ? `; on the right, each channel's NMI with the ${factors} ground-truth factors` : "; no factor labels") +
    ". Hover a cell to read it; click it to compare the two channels." +
    clippingNote(sim.nmi_clipping);
  if (!state.order.length) return similarityPlot.clear("No channel to show: every channel is inactive.");
  if (!plotAvailable()) return similarityPlot.clear(NO_PLOTLY);
  similarityPlot.render(sim, state.order, marks());
}

function renderSidePlots() {
  if (!plotAvailable()) return placeholder(el.infoPlot, NO_PLOTLY);
  renderInfoPlot(el.infoPlot, state.sim, state.detail, pickChannel);
}

/** The member x member NMI of whole latent spaces; hidden when the analysis has none. */
function renderSpaces(detail) {
  const spaces = detail?.spaces;
  state.spacesOrder = [];
  el.spacesPanel.hidden = !(spaces?.members?.length && Array.isArray(spaces.nmi));
  if (el.spacesPanel.hidden) return placeholder(el.spacesPlot, "");
  el.spacesHint.textContent =
    `${spaces.members.length} analysed members, ${detail.betas.length ? "by β then seed" : "by name"}: how much each pair's whole latent spaces share. Hover a cell for both members' information.`;
  if (!plotAvailable()) return placeholder(el.spacesPlot, NO_PLOTLY);
  state.spacesOrder = renderSpacesPlot(el.spacesPlot, spaces, detail.members);
}

/** Imported runs: no betas (information per run) and, without a decoder, no traversals (the pair panel says why). */
function showMemberKind(detail) {
  traversals.absentReason = detail.members_decode === false ? detail.members_note || "the members have no decoder" : null;
  el.traversalAbsent.hidden = !traversals.absentReason;
  el.traversalAbsent.textContent = traversals.absentReason ? `No traversals: ${traversals.absentReason}.` : "";
  const byBeta = detail.betas.length > 0;
  el.infoTitle.textContent = byBeta ? "Channel information vs beta" : "Channel information per run";
  el.infoHint.textContent = `Each dot is one channel (member, dim)${byBeta ? ", jittered by seed" : ""}; ✕ marks inactive channels. Click one to pair it with its closest channel.`;
}

function renderFusionCard(fusion) {
  renderFusion(el.fusion, fusion, (host, history, label) =>
    plotAvailable() ? renderSparkline(host, history, label) : placeholder(host, NO_PLOTLY),
  );
}

function clearAnalysisViews(text) {
  state.sim = null;
  state.hotspots = null;
  state.order = [];
  state.highlight = null;
  state.pair = null;
  el.similarityHint.textContent = "";
  similarityPlot.clear(text);
  placeholder(el.infoPlot, text);
  hotspotList.clear("");
  pairView.clear("Click a heatmap cell to compare its two channels' traversals.");
}

function pickPair(a, b) {
  if (!state.sim || !state.sim.posOf.has(a) || !state.sim.posOf.has(b)) return;
  state.pair = [a, b];
  similarityPlot.mark(marks());
  writeHash();
  pairView.show(state.sim, a, b, state.modelIds);
  // the pair's traversals sit below the heatmap: bring them into view
  $("pair").scrollIntoView({ block: "nearest", behavior: "smooth" });
}

/** One channel: pair it with its closest channel (highest NMI) in another member. */
function pickChannel(index) {
  pickPair(index, closestPartner(state.sim, index) ?? index);
}

function toggleHotspot(label) {
  state.highlight = state.highlight === label ? null : label;
  similarityPlot.mark(marks());
  hotspotList.setActive(state.highlight);
}

function summary() {
  const { detail, sim, hotspots } = state;
  if (!sim) return `${detail.id} · ${detail.member_count} members · not analysed`;
  const active = sim.channels.filter((c) => c.active).length;
  return `${detail.id} · ${sim.channels.length} channels (${active} active) · ${hotspots.hotspots.length} hotspots`;
}

// ---------------------------------------------------------------- loading

async function selectEnsemble(id, { pair = null } = {}) {
  const generation = ++state.generation;
  el.select.value = id;
  state.id = id;
  state.detail = null;
  clearAnalysisViews("Loading…");
  renderSpaces(null);
  renderFusionCard(null);
  writeHash();
  setStatus(`Loading ${id}…`);
  try {
    const detail = await ensembleApi.detail(id);
    if (generation !== state.generation) return;
    state.detail = detail;
    memberCurves.show(id);
    state.modelIds = new Map(detail.members.filter((m) => m.model_id).map((m) => [m.name, m.model_id]));
    renderFacts(el.facts, detail);
    showMemberKind(detail);
    renderSpaces(detail);
    renderFusionCard(detail.fusion);
    showJob();
    if (!detail.analysed) {
      clearAnalysisViews("Not analysed yet: press Analyze to compute the information fragments and hotspots.");
      setStatus(summary());
      return;
    }
    const [similarity, hotspots] = await Promise.all([ensembleApi.similarity(id), ensembleApi.hotspots(id)]);
    if (generation !== state.generation) return;
    state.sim = indexSimilarity(similarity);
    state.hotspots = hotspots;
    el.distance.value = similarity.distance;
    el.minSamples.value = String(similarity.min_samples);
    renderSimilarity();
    renderSidePlots();
    hotspotList.show(hotspots, state.sim, state.modelIds);
    setStatus(summary());
    if (pair) pickPair(pair[0], pair[1]);
  } catch (error) {
    if (generation === state.generation) reportError(error, `ensemble ${id}`);
  }
}

function optionText(e) {
  const done = e.status_counts?.done ?? 0;
  return `${e.id} — ${e.kind.toUpperCase()}, ${e.dataset}, ${done}/${e.member_count} done, ${e.analysed ? "analysed" : "not analysed"}`;
}

function fillPicker() {
  el.select.replaceChildren(...state.ensembles.map((e) => new Option(optionText(e), e.id)));
  el.select.disabled = !state.ensembles.length;
  if (state.id) el.select.value = state.id;
}

async function restoreFromHash() {
  const { ensemble, pair } = readHash();
  const ids = state.ensembles.map((e) => e.id);
  if (ensemble && ids.includes(ensemble)) return selectEnsemble(ensemble, { pair });
  if (ensemble) showError(`the link asks for ensemble "${ensemble}", which this server does not serve`);
  const first = state.ensembles.find((e) => e.analysed) ?? state.ensembles[0];
  return selectEnsemble(first.id);
}

async function start() {
  setStatus("Loading ensembles…");
  try {
    state.ensembles = await ensembleApi.list();
  } catch (error) {
    reportError(error, "could not list ensembles");
    return;
  }
  fillPicker();
  if (!state.ensembles.length) {
    el.select.append(new Option("no ensembles", ""));
    clearAnalysisViews("No ensemble.");
    showError("The server has no ensembles: train one (latentatlas ensemble train --out models/ensembles/NAME) and restart it.");
    return;
  }
  await restoreFromHash();
}

// ---------------------------------------------------------------- analysis job

function showJob() {
  const job = state.job?.ensemble === state.id ? state.job : null;
  el.analyzeProgress.hidden = !job;
  el.analyzeButton.disabled = Boolean(state.job) || !state.detail || !(state.detail.status_counts?.done > 0);
  el.analyzeButton.textContent = state.detail?.analysed ? "Re-analyze" : "Analyze";
  if (job) {
    el.analyzeProgress.value = job.progress ?? 0;
    el.analyzeStatus.textContent = `Analysing: ${job.stage ?? ""} (${Math.round(100 * (job.progress ?? 0))}%)`;
  } else if (state.detail && !(state.detail.status_counts?.done > 0)) {
    el.analyzeStatus.textContent = "No member has finished training yet: nothing to analyse.";
  } else {
    el.analyzeStatus.textContent = state.detail?.analysed ? "" : "Not analysed yet.";
  }
}

function analyzeBody() {
  const minSamples = Number(el.minSamples.value);
  if (!Number.isInteger(minSamples) || minSamples < 2 || minSamples > 10000) {
    throw new Error("min samples must be a whole number from 2 to 10,000");
  }
  return { distance: el.distance.value, min_samples: minSamples };
}

async function analyze() {
  const id = state.id;
  if (!id || state.job) return;
  try {
    const body = analyzeBody();
    state.job = { ensemble: id, progress: 0, stage: "starting" };
    showJob();
    const { job_id: jobId } = await ensembleApi.analyze(id, body);
    for (;;) {
      const job = await ensembleApi.job(jobId);
      state.job = { ensemble: id, progress: job.progress, stage: job.stage };
      showJob();
      if (job.status === "done") break;
      if (job.status === "failed") throw new Error(job.error || "the analysis failed");
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    state.job = null;
    state.ensembles = await ensembleApi.list();
    fillPicker();
    if (state.id === id) await selectEnsemble(id);
  } catch (error) {
    state.job = null;
    showJob();
    reportError(error, `analysis of ${id}`);
  }
}

// ---------------------------------------------------------------- events & test hook

el.select.addEventListener("change", () => {
  clearError();
  selectEnsemble(el.select.value);
});
el.showUnclustered.addEventListener("change", () => state.sim && renderSimilarity());
$("pair-steps").addEventListener("change", () => state.pair && pickPair(...state.pair));
el.analyzeButton.addEventListener("click", analyze);
el.errorDismiss.addEventListener("click", clearError);
window.addEventListener("hashchange", () => {
  if (location.hash !== lastHash && state.ensembles.length) restoreFromHash();
});

// For tests and benchmarks: what is shown, and whether the page is idle.
window.__ensembleView = {
  get ensembleId() {
    return state.id;
  },
  get rows() {
    return state.order.length;
  },
  get order() {
    return state.order.slice();
  },
  get pair() {
    return state.pair?.slice() ?? null;
  },
  get highlight() {
    return state.highlight;
  },
  get spacesOrder() {
    return state.spacesOrder.slice();
  },
  get renderMs() {
    return similarityPlot.lastRenderMs;
  },
  get idle() {
    return activity.inflight === 0 && !state.job;
  },
};

start();
