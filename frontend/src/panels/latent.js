// The current latent and what it may hold: each dim's range (QLAE: its sorted codebook, the
// value snapping to the codes; continuous: mean +- 3 sd of the encoder's outputs, ticks at every
// sd), the prior centre, a random draw, and the encoded image's latent to reset to. LatentControl
// owns the store's `latent` and `base`; every change goes through it.

/** Sorted codebook values per dim, or null for continuous models. */
export function sortedCodebooks(model) {
  if (!Array.isArray(model.codebooks)) return null;
  return model.codebooks.map((values) => [...values].map(Number).sort((a, b) => a - b));
}

export function nearestIndex(sorted, v) {
  let best = 0;
  let bestDist = Infinity;
  for (let i = 0; i < sorted.length; i++) {
    const d = Math.abs(sorted[i] - v);
    if (d < bestDist) {
      bestDist = d;
      best = i;
    }
  }
  return best;
}

/** The range and the ticks of each dimension's slider (continuous: mean +- `sds` sd, a tick per sd). */
export function dimRanges(model, sds = 3) {
  const codebooks = sortedCodebooks(model);
  const ranges = [];
  for (let d = 0; d < model.latent_dim; d++) {
    if (codebooks && codebooks[d]?.length) {
      const codes = codebooks[d];
      let min = codes[0];
      let max = codes[codes.length - 1];
      if (!(max > min)) {
        min -= 0.5;
        max += 0.5;
      }
      ranges.push({ kind: "codes", codes, min, max });
    } else {
      const mean = Number(model.latent_mean?.[d] ?? 0);
      let sd = Number(model.latent_std?.[d] ?? 1);
      if (!(sd > 1e-6)) sd = 1;
      const ticks = Array.from({ length: 2 * sds + 1 }, (_, i) => mean + (i - sds) * sd);
      ranges.push({ kind: "continuous", mean, sd, min: mean - sds * sd, max: mean + sds * sd, step: sd / 10, ticks });
    }
  }
  return ranges;
}

/** Snap a value to what the slider of `range` can hold (a code for QLAE). */
export function snap(range, v) {
  if (!Number.isFinite(v)) v = range.kind === "codes" ? range.codes[0] : range.mean;
  if (range.kind === "codes") return range.codes[nearestIndex(range.codes, v)];
  return v;
}

/** Sliders (and traversal rows) of `model`: all its dims, or the top 16 of an ordered model. */
export function sliderLimit(model) {
  return model.capabilities?.ordered ? Math.min(model.latent_dim, 16) : model.latent_dim;
}

const gauss = () => Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());

export class LatentControl {
  /** @param {import("../lib/store.js").Store} store  its `latent`, `t0` and `base` are set here */
  constructor(store) {
    this.store = store;
    this.ranges = [];
  }

  show(model) {
    this.ranges = dimRanges(model);
  }

  get latent() {
    return this.store.state.latent;
  }

  /** Replace the whole latent (snapped to the sliders' codes); `asBase`: it is the encoded image's
   * (with its posterior `scale`), the reset target. */
  set(latent, { asBase = false, scale = null, t0 = performance.now() } = {}) {
    const snapped = latent.map((v, d) => (d < this.ranges.length ? snap(this.ranges[d], Number(v)) : Number(v)));
    if (asBase) this.store.set({ base: { latent: snapped.slice(), scale } });
    this.store.set({ latent: snapped, t0 });
  }

  /** Set one dim (a slider, a traversal tile). */
  setDim(d, value, t0 = performance.now()) {
    const latent = this.latent;
    if (!latent) return;
    latent[d] = snap(this.ranges[d], value);
    this.store.set({ latent, t0 });
  }

  /** The prior centre: each dim's mean (a code: the one nearest it). */
  priorCentre() {
    const mean = this.store.state.model?.latent_mean ?? [];
    return this.ranges.map((r, d) => (r.kind === "codes" ? snap(r, Number(mean[d] ?? 0)) : r.mean));
  }

  /** Back to the encoded image's latent, or the prior centre. */
  reset() {
    this.set(this.store.state.base?.latent ?? this.priorCentre());
  }

  /** A random latent over the sliders' dims (codes uniformly, continuous dims from N(mean, sd));
   * the dims without sliders (an ordered model's lower ones) stay as they are. */
  randomize() {
    const shown = sliderLimit(this.store.state.model);
    this.set(this.ranges.map((r, d) => {
      if (d >= shown) return this.latent?.[d] ?? r.mean;
      return r.kind === "codes" ? r.codes[Math.floor(Math.random() * r.codes.length)] : r.mean + r.sd * gauss();
    }));
  }
}
