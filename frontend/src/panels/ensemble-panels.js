// The ensemble view's DOM panels: the ensemble's facts, the fusion card (a sentence and the
// objective's sparkline), one channel's traversal (a member served as a model, swept along
// one dim), the pair of channels picked in the heatmap, and the hotspot list with one
// representative traversal per hotspot.

import { make } from "../lib/dom.js";
import { fmt } from "../lib/format.js";
import { betaCounts, betaPart, channelName, fmtBeta, hotspotColor, statusSummary, untrainedNullLine } from "./ensemble-data.js";

/** `./index.html#model=ID&dim=K`: the member in the explorer with the channel's slider picked (urlstate.js's hash format). */
export const explorerHref = (modelId, dim = null) => `./index.html#model=${encodeURIComponent(modelId)}${dim != null ? `&dim=${dim}` : ""}`;

function fact(dl, term, value, title = "") {
  if (value == null || value === "") return;
  dl.append(make("dt", { textContent: term }), make("dd", { textContent: value, title }));
}

/** The ensemble's description: grid, member statuses, analysis state. */
export function renderFacts(dl, detail) {
  dl.replaceChildren();
  const imported = detail.source === "imported";
  fact(dl, "Members", imported ? `${detail.member_count} imported runs` : `${detail.member_count} (${detail.betas.length} β × ${detail.seeds} seeds)`);
  fact(dl, "Status", statusSummary(detail.status_counts));
  const dims = [...new Set(detail.members.map((m) => m.latent_dim).filter((d) => d != null))];
  const sizes = dims.length > 1 ? `${dims.join(", ")} latents` : `${detail.latent_dim} latents each`;
  fact(dl, "Kind", `${imported ? "saved latents" : detail.kind.toUpperCase()} · ${detail.dataset} · ${sizes}`);
  fact(dl, "β", detail.betas.map(fmtBeta).join(", "));
  fact(dl, "Analysed", detail.analysed ? `${detail.analysed_at?.replace("T", " ").slice(0, 16) ?? "yes"}${detail.probe_size ? ` · ${detail.probe_size.toLocaleString()} probe points` : ""}` : "not yet");
  const failed = detail.members.filter((m) => m.status === "failed");
  if (failed.length) fact(dl, "Failed", failed.map((m) => m.name).join(", "), failed.map((m) => `${m.name}: ${m.error ?? "?"}`).join("\n"));
  const skipped = detail.skipped_members ?? [];
  if (skipped.length) {
    fact(dl, "Left out", skipped.map((s) => s.name).join(", "), skipped.map((s) => `${s.name}: ${s.reason}`).join("\n"));
  }
}

const num = (v) => typeof v === "number" && Number.isFinite(v);
const bitsText = (v) => `${fmt.score(v, 2)} bits`;

/** What the fusion maximised, in words. */
export function objectiveText(objective) {
  if (objective === "exp_neg_vi") return "mean exp(−VI) to the members";
  if (objective === "nmi") return "mean NMI to the members";
  return objective ? String(objective).replaceAll("_", " ") : "the objective";
}

/**
 * The fusion card: one sentence comparing the fused space with the best single member and
 * the most informative member, a line of details (objective, steps, channels, start) and the
 * objective's history as a sparkline (`drawSparkline(host, history, label)`, drawn once the
 * panel is visible). Hidden when `fusion` is absent or has no fused information.
 */
export function renderFusion(els, fusion, drawSparkline) {
  const { panel, sentence, details, spark } = els;
  sentence.replaceChildren();
  details.textContent = "";
  const f = fusion && typeof fusion === "object" ? fusion : null;
  panel.hidden = !f || !num(f.info_bits);
  if (panel.hidden) {
    spark.hidden = true;
    return;
  }
  const strong = (text) => make("strong", { textContent: text });
  const parts = ["Fused space: ", strong(bitsText(f.info_bits))];
  if (num(f.mean_nmi)) parts.push(", mean NMI to members ", strong(fmt.score(f.mean_nmi)));
  if (num(f.nmi_above_one) && f.nmi_above_one > 0 && num(f.max_nmi)) {
    parts.push(` (${f.nmi_above_one} estimates above 1, at most ${fmt.score(f.max_nmi)}, counted as 1)`);
  }
  if (f.best_member && num(f.best_member_info_bits)) {
    parts.push(" — best single member ", make("span", { className: "member-name", textContent: f.best_member }), ": ", strong(bitsText(f.best_member_info_bits)));
    if (num(f.best_member_mean_nmi)) parts.push(", mean NMI ", strong(fmt.score(f.best_member_mean_nmi)));
  }
  if (f.most_informative_member && num(f.most_informative_member_info_bits)) {
    parts.push(
      "; most informative member ",
      make("span", { className: "member-name", textContent: f.most_informative_member }),
      ": ",
      strong(bitsText(f.most_informative_member_info_bits)),
    );
  }
  parts.push(".");
  sentence.append(...parts);
  const facts = [`objective: ${objectiveText(f.objective)}`];
  if (num(f.steps)) {
    const budget = num(f.max_steps) ? ` of ${f.max_steps.toLocaleString()}` : "";
    const stop = f.converged ? ` (converged: < ${f.tol} gain over ${f.patience?.toLocaleString()} steps)` : "";
    facts.push(`${f.steps.toLocaleString()}${budget} steps${stop}`);
  }
  if (num(f.channels)) facts.push(`${f.channels} channels`);
  if (f.start_member) facts.push(`started from ${f.start_member}`);
  else if (f.init === "random") facts.push("started from random");
  if (num(f.mean_vi)) facts.push(`mean VI to members ${fmt.score(f.mean_vi)} bits`);
  details.textContent = facts.join(" · ");
  const history = Array.isArray(f.history) ? f.history.filter(num) : [];
  spark.hidden = history.length < 2;
  if (!spark.hidden) drawSparkline(spark, f.history, f.objective === "exp_neg_vi" ? "mean exp(−VI)" : "objective");
}

/**
 * Fetches (and caches) one channel's traversal: the member's model swept along `dim` from
 * its latent mean, as one row of `steps` tiles.
 */
export class ChannelTraversals {
  constructor(client) {
    this.client = client;
    this.models = null; // model id -> ModelInfo
    this.cache = new Map();
    this.absentReason = null; // why no member has a traversal (the ensemble's members_note), or null
  }

  _fetchModels() {
    this.models = this.client.listModels().then((list) => new Map(list.map((m) => [m.id, m])));
    this.models.catch(() => (this.models = null));
    return this.models;
  }

  /** The member's ModelInfo; the list is fetched again once for a member served since. */
  async _model(modelId) {
    let model = (await (this.models ?? this._fetchModels())).get(modelId);
    if (!model) model = (await this._fetchModels()).get(modelId);
    if (!model) throw new Error(`the server does not serve ${modelId}`);
    return model;
  }

  /** The /traverse reply for `modelId`'s `dim` (cached per model, dim and steps). */
  get(modelId, dim, steps) {
    const key = `${modelId}|${dim}|${steps}`;
    if (!this.cache.has(key)) {
      const pending = this._model(modelId).then((model) => {
        const latent = model.latent_mean?.length === model.latent_dim ? model.latent_mean : new Array(model.latent_dim).fill(0);
        return this.client.traverse(modelId, latent, [dim], steps);
      });
      pending.catch(() => this.cache.delete(key));
      this.cache.set(key, pending);
    }
    return this.cache.get(key);
  }
}

/** A figure for one channel: its traversal strip (loaded later), caption and explorer link. */
function channelFigure(channel, label, modelId) {
  const img = make("img", { className: "pixelated strip empty", alt: `Traversal of ${channelName(channel)}` });
  const caption = make("figcaption", { className: "channel-caption" });
  const swatch = make("span", { className: "swatch", title: label >= 0 ? `hotspot ${label}` : label === -1 ? "noise" : "inactive" });
  swatch.style.background = hotspotColor(label);
  caption.append(
    swatch,
    make("strong", { textContent: channel.member }),
    `${betaPart(channel)} · z${channel.dim} · ${fmt.score(channel.info_bits)} bits`,
  );
  if (modelId) caption.append(" · ", make("a", { href: explorerHref(modelId, channel.dim), textContent: "open in explorer", className: "explorer-link" }));
  const figure = make("figure", { className: "channel-figure" }, make("div", { className: "strip-frame" }, img), caption);
  figure.dataset.channel = String(channel.index);
  return { figure, img };
}

function showStrip(img, grid) {
  img.src = grid.image;
  img.classList.remove("empty");
  img.title = `z${grid.dims[0]}: ${grid.values[0].map((v) => v.toFixed(2)).join(", ")}`;
}

/** The two channels of a heatmap cell, side by side. */
export class PairView {
  constructor(els, traversals, onError) {
    this.els = els; // {pair, summary, steps}
    this.traversals = traversals;
    this.onError = onError;
    this.token = 0;
  }

  clear(text) {
    this.token += 1;
    this.els.pair.replaceChildren();
    this.els.summary.textContent = text;
  }

  /** Show channels `a` and `b` of `sim`; `modelIds` maps member names to served model ids. */
  async show(sim, a, b, modelIds) {
    const token = ++this.token;
    const [ca, cb] = [sim.channelOf(a), sim.channelOf(b)];
    const pa = sim.posOf.get(a);
    const pb = sim.posOf.get(b);
    this.els.summary.textContent =
      `NMI ${fmt.score(sim.nmi[pa][pb])} · VI ${fmt.score(sim.vi[pa][pb])} bits between ${channelName(ca)} and ${channelName(cb)}` +
      (a === b ? " (the same channel)" : "");
    const steps = Number(this.els.steps.value) || 11;
    const figures = [ca, cb].map((c) => ({ c, ...channelFigure(c, sim.labelOf(c.index), modelIds.get(c.member)) }));
    this.els.pair.replaceChildren(...figures.map((f) => f.figure));
    await Promise.all(figures.map(async ({ c, img }) => {
      const modelId = modelIds.get(c.member);
      if (!modelId) {
        const why = this.traversals.absentReason ? "no decoder" : "it is not served (unfinished, or it failed to load)";
        img.replaceWith(make("p", { className: "muted", textContent: `No traversal of ${c.member}: ${why}` }));
        return;
      }
      try {
        const grid = await this.traversals.get(modelId, c.dim, steps);
        if (token === this.token) showStrip(img, grid);
      } catch (error) {
        if (token === this.token) this.onError(error, `traversal of ${channelName(c)}`);
      }
    }));
  }
}

/** The hotspot list: size, betas, information, best factor, one representative traversal. */
export class HotspotList {
  constructor(els, traversals, hooks) {
    this.els = els; // {list, summary, nullLine}
    this.traversals = traversals;
    this.hooks = hooks; // {onToggle(label), onError(error, context)}
    this.token = 0;
    this.items = new Map(); // label -> li
  }

  clear(text) {
    this.token += 1;
    this.items.clear();
    this.els.list.replaceChildren();
    this.els.summary.textContent = text;
    this.els.nullLine.textContent = "";
    this.els.nullLine.title = "";
  }

  /** List `payload.hotspots`; the representatives' traversals load one after another. */
  async show(payload, sim, modelIds) {
    this.clear(
      payload.hotspots.length
        ? `${payload.hotspots.length} hotspots · OPTICS on ${payload.distance === "vi" ? "VI" : "−log NMI"}, min_samples ${payload.min_samples}`
        : `No hotspots (OPTICS on ${payload.distance}, min_samples ${payload.min_samples}): try a smaller min samples.`,
    );
    this.els.nullLine.textContent = untrainedNullLine(payload);
    this.els.nullLine.title = payload.untrained_null_rule ?? "";
    const token = this.token;
    const queue = payload.hotspots.map((h) => this._item(h, sim, modelIds));
    for (const { representative, img, modelId } of queue) {
      if (token !== this.token) return;
      if (!modelId) continue;
      try {
        showStrip(img, await this.traversals.get(modelId, representative.dim, 11));
      } catch (error) {
        if (token === this.token) this.hooks.onError(error, `traversal of ${channelName(representative)}`);
      }
    }
  }

  /** Mark hotspot `label` (or none) as the highlighted one. */
  setActive(label) {
    for (const [l, li] of this.items) li.querySelector("button").setAttribute("aria-pressed", String(l === label));
  }

  _item(hotspot, sim, modelIds) {
    const channels = hotspot.channels.map((index) => sim.channelOf(index));
    const representative = channels.reduce((best, c) => ((c.info_bits ?? -Infinity) > (best.info_bits ?? -Infinity) ? c : best));
    const modelId = modelIds.get(representative.member);
    const swatch = make("span", { className: "swatch" });
    swatch.style.background = hotspotColor(hotspot.label);
    const members = new Set(hotspot.members).size;
    const button = make(
      "button",
      { type: "button", className: "hotspot-head", title: "Highlight this hotspot's band in the heatmap" },
      swatch,
      make("strong", { textContent: `H${hotspot.label}` }),
      make("span", { textContent: `${hotspot.channels.length} channels · ${members} members · ${fmt.score(hotspot.mean_info_bits, 2)} bits mean` }),
    );
    button.setAttribute("aria-pressed", "false");
    button.addEventListener("click", () => this.hooks.onToggle(hotspot.label));
    const factor = hotspot.best_factor ? `best factor ${hotspot.best_factor} (NMI ${fmt.score(hotspot.best_factor_nmi)})` : "no factor labels";
    const details = make("p", { className: "hotspot-facts muted", textContent: [betaCounts(hotspot.betas), factor].filter(Boolean).join(" · ") });
    const img = make("img", { className: "pixelated strip empty", alt: `Traversal of ${channelName(representative)}, the most informative channel of hotspot ${hotspot.label}` });
    const absent = modelId ? "" : this.traversals.absentReason ? " · no decoder: no traversal" : " · not served";
    const caption = make("figcaption", { textContent: `${channelName(representative)} · ${fmt.score(representative.info_bits, 2)} bits${absent}` });
    const strip = this.traversals.absentReason ? [] : [make("div", { className: "strip-frame" }, img)];
    const li = make("li", { className: "hotspot" }, button, details, make("figure", { className: "hotspot-rep" }, ...strip, caption));
    li.dataset.label = String(hotspot.label);
    li.style.setProperty("--hotspot", hotspotColor(hotspot.label));
    this.items.set(hotspot.label, li);
    this.els.list.append(li);
    return { representative, img, modelId };
  }
}
