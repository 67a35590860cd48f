// A box or lasso selection in the population scatter (or a clicked point and its nearest
// neighbours), seen as images: the first MAX_GRID samples tiled by the server (GET
// /api/models/{id}/dataset-grid) into one picture.

import { modelPath } from "../lib/api.js";

export const MAX_GRID = 64;
const COLUMNS = 8;

export class SelectionGrid {
  /** @param {{box: HTMLElement, note: HTMLElement, img: HTMLImageElement}} els */
  constructor(els) {
    this.els = els;
    this.clear();
  }

  clear() {
    this.els.box.hidden = true;
    this.els.img.removeAttribute("src");
    this.els.note.textContent = "";
    delete this.els.box.dataset.shown;
  }

  /** Show the dataset images `indices` (all the selected samples; the first MAX_GRID drawn) of `modelId`,
   * with `caption` (default: how many are selected). */
  show(modelId, indices, caption = null) {
    if (!indices.length) return this.clear();
    const shown = indices.slice(0, MAX_GRID);
    const { box, note, img } = this.els;
    box.hidden = false;
    note.textContent = caption ?? (indices.length > shown.length
      ? `${indices.length.toLocaleString()} samples selected: the first ${shown.length} shown.`
      : `${indices.length} sample${indices.length === 1 ? "" : "s"} selected.`);
    img.alt = `Dataset images of ${shown.length} selected samples`;
    img.onload = () => { box.dataset.shown = String(shown.length); };
    img.onerror = () => { note.textContent += " (their images could not be loaded)"; };
    img.src = `${modelPath(modelId)}/dataset-grid?indices=${shown.join(",")}&columns=${Math.min(COLUMNS, shown.length)}`;
  }
}

/** The `k` rows of `latents` (flat, n x dims) nearest to row `row` (Euclidean), nearest first, `row` left out. */
export function nearestRows(latents, dims, row, k) {
  const n = latents.length / dims;
  const best = []; // [distance², row], sorted, at most k
  for (let j = 0; j < n; j++) {
    if (j === row) continue;
    let d2 = 0;
    for (let d = 0; d < dims; d++) d2 += (latents[j * dims + d] - latents[row * dims + d]) ** 2;
    if (best.length < k || d2 < best[best.length - 1][0]) {
      const at = best.findIndex(([b]) => b > d2);
      best.splice(at === -1 ? best.length : at, 0, [d2, j]);
      if (best.length > k) best.pop();
    }
  }
  return best.map(([, j]) => j);
}
