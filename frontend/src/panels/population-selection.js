// A box or lasso selection in the population scatter, seen as images: the first MAX_GRID selected
// samples tiled by the server (GET /api/models/{id}/dataset-grid) into one picture.

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

  /** Show the dataset images `indices` (all the selected samples; the first MAX_GRID drawn) of `modelId`. */
  show(modelId, indices) {
    if (!indices.length) return this.clear();
    const shown = indices.slice(0, MAX_GRID);
    const { box, note, img } = this.els;
    box.hidden = false;
    note.textContent = indices.length > shown.length
      ? `${indices.length.toLocaleString()} samples selected: the first ${shown.length} shown.`
      : `${indices.length} sample${indices.length === 1 ? "" : "s"} selected.`;
    img.alt = `Dataset images of ${shown.length} selected samples`;
    img.onload = () => { box.dataset.shown = String(shown.length); };
    img.onerror = () => { note.textContent += " (their images could not be loaded)"; };
    img.src = `${modelPath(modelId)}/dataset-grid?indices=${shown.join(",")}&columns=${Math.min(COLUMNS, shown.length)}`;
  }
}
