// The ensemble page's overlay of its members' training curves (GET /api/ensembles/{id}/curves),
// one beta's seeds at a time, with smoothing and a log / linear axis (lib/curve-overlay.js).

import { CurveOverlay } from "../lib/curve-overlay.js";
import { ensembleApi } from "../lib/ensemble-api.js";

export class EnsembleCurves {
  /** @param {HTMLElement} container  the overlay's place; `onError(error, context)` reports a failure. */
  constructor(container, onError) {
    this.overlay = new CurveOverlay(container, "ensemble-curves", { groupLabel: "members" });
    this.onError = onError;
    this.id = null;
  }

  async show(id) {
    this.id = id;
    try {
      const data = await ensembleApi.curves(id);
      if (id === this.id) this.overlay.show(data);
    } catch (error) {
      if (id === this.id) {
        this.overlay.show(null);
        this.onError(error, `training curves of ${id}`);
      }
    }
  }
}
