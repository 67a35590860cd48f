// Exploring a model without a decoder (capabilities.decode false, capabilities.retrieval true):
// the dataset images nearest to the current latent stand in for its decode (POST /nearest), the
// traversal grid is drawn by retrieval (POST /retrieval-traverse: each tile the dataset image
// nearest to the swept latent), and what needs a decoder says why it is absent. Everything is
// decided from the model's declared capabilities.

import { modelPath, request } from "../lib/api.js";
import { fmt } from "../lib/format.js";
import { make } from "../lib/dom.js";
import { cancelPending, hasPending } from "../lib/pending.js";
import { probeApi, probeLabel, rendersByProbe } from "./probe-decoder.js";

export const retrievalApi = {
  /** {neighbours: [{index, distance, image, factors}], index: {size, seed, dataset, metric}} */
  nearest: (id, latent, k, opts = {}) => request(`${modelPath(id)}/nearest`, { ...opts, method: "POST", json: { latent, k } }),
  /** /traverse's reply, plus {indices, distances, index}. */
  traverse: (id, latent, dims, steps, opts = {}) =>
    request(`${modelPath(id)}/retrieval-traverse`, { ...opts, method: "POST", json: { latent, dims, steps } }),
};

/** Whether `model` is explored by retrieval: it cannot decode, and it can retrieve. */
export const exploredByRetrieval = (model) => Boolean(model && !model.capabilities.decode && model.capabilities.retrieval);

/** What TraversalPanel draws its grids with: the page's decoder; for a model without one, its
 * probe decoder where it has one, else retrieval. */
export function retrievalTraverser(decoder) {
  return {
    get busy() {
      return decoder.busy;
    },
    traverse(model, latent, dims, steps, opts) {
      if (rendersByProbe(model)) return probeApi.traverse(model.id, latent, dims, steps, opts);
      if (exploredByRetrieval(model)) return retrievalApi.traverse(model.id, latent, dims, steps, opts);
      return decoder.traverse(model, latent, dims, steps, opts);
    },
  };
}

const factorLine = (factors) => Object.entries(factors ?? {}).map(([k, v]) => `${k} ${fmt.sig(v)}`).join(", ");

/** The nearest dataset images to the current latent, for a model explored by retrieval (hidden otherwise). */
export class NearestPanel {
  /**
   * @param {object} els  {section, note, list}
   * @param {object} hooks  onPick(index, caption): load that dataset sample; onError(error, context)
   * @param {object} options  k: images shown; delay: ms after the last latent change before asking
   */
  constructor(els, { onPick, onError }, { k = 8, delay = 200 } = {}) {
    Object.assign(this, { els, onPick, onError, k, delay });
    this.model = null;
    this.latent = null;
    this.timer = 0;
    this.loading = 0;
    this.abort = null;
    this.neighbours = [];
  }

  get busy() {
    return hasPending(this);
  }

  show(model) {
    cancelPending(this);
    this.model = model;
    this.latent = null;
    this.neighbours = [];
    const { els } = this;
    els.section.hidden = !exploredByRetrieval(model);
    els.list.replaceChildren();
    els.note.textContent = exploredByRetrieval(model)
      ? `${model.id} has no decoder (capabilities.decode is false): the dataset images whose latents are nearest to the current latent stand in for a decode.`
      : "";
  }

  setLatent(latent) {
    this.latent = latent;
    if (!exploredByRetrieval(this.model) || !latent) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = 0;
      this.refresh();
    }, this.delay);
  }

  async refresh() {
    const { model, latent } = this;
    if (!model || !latent) return;
    this.abort?.abort();
    const abort = (this.abort = new AbortController());
    this.loading += 1;
    try {
      const reply = await retrievalApi.nearest(model.id, latent.slice(), this.k, { signal: abort.signal });
      if (abort.signal.aborted || model !== this.model) return;
      this._render(reply);
    } catch (error) {
      if (error.name !== "AbortError" && model === this.model) this.onError(error, "nearest dataset images");
    } finally {
      this.loading -= 1;
    }
  }

  _render({ neighbours, index }) {
    const { els } = this;
    this.neighbours = neighbours;
    const saved = index.seed === null; // the model's own saved samples: no dataset image to load
    els.list.replaceChildren(...neighbours.map((n, rank) => {
      const caption = `sample ${n.index}`;
      const title = `${rank + 1}. ${caption}, distance ${fmt.sig(n.distance)}${n.factors ? `: ${factorLine(n.factors)}` : ""}`;
      const img = make("img", { className: "pixelated", alt: saved ? `Nearest saved sample ${rank + 1}: ${caption}` : "", src: n.image });
      if (saved) return make("span", { className: "thumb", title }, img);
      const button = make("button", { type: "button", className: "thumb", title }, img);
      button.setAttribute("aria-label", `Load nearest dataset image ${rank + 1}: ${caption}`);
      button.addEventListener("click", () => this.onPick(n.index, caption));
      return button;
    }));
    const pool = saved ? `of its ${index.size.toLocaleString()} saved samples` : `of ${index.size.toLocaleString()} seeded ${index.dataset} images`;
    els.note.textContent = `${this.model.id} has no decoder: the ${neighbours.length} ${saved ? "samples" : "dataset images"} nearest to the current latent ` +
      `(${pool}; ${index.metric}), nearest first.`;
  }
}

/** Says, for a model that cannot decode, why the decoder's parts are absent or stand in otherwise. */
export class DecoderAbsence {
  /**
   * @param {object} els  {note: the images panel's line; hide: elements only a decoder fills;
   *   disable: buttons that need a decoder; traversalNote: the traversal panel's line}
   */
  constructor(els) {
    this.els = els;
  }

  show(model) {
    const { note, hide, disable, traversalNote } = this.els;
    const missing = !model.capabilities.decode;
    const why = `${model.id} has no decoder (capabilities.decode is false)`;
    for (const el of hide) el.hidden = missing;
    for (const button of disable) {
      button.disabled = missing;
      button.dataset.absentTitle ??= button.title;
      button.title = missing ? `${why}: nothing to export` : button.dataset.absentTitle;
    }
    note.hidden = !missing;
    note.textContent = missing ? `No reconstruction or live decode: ${why}.` : "";
    traversalNote.hidden = !missing;
    traversalNote.textContent = !missing ? ""
      : rendersByProbe(model) ? `Traversal rendered by the ${probeLabel(model)} decoder.`
      : model.capabilities.retrieval ? "Traversal by retrieval: each tile is the dataset image nearest to the swept latent, not a decode."
      : `No traversal: ${why} and no retrieval (capabilities.retrieval is false).`;
  }
}
