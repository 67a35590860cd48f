// The traversal grid: one row per latent dim, one column per step of that dim's values
// (QLAE: its codebook; continuous: mean +- 3 sd), everything else held at the current latent.
// Rows are labelled z<d> (plus the factor where known); the tile nearest the current value
// is outlined; hovering reads out the value, clicking sets the latent to it.

const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(3));

export class TraversalView {
  /**
   * @param {object} els  {img, labels, overlay, readout}
   * @param {(dim: number, value: number) => void} onPick
   */
  constructor(els, onPick) {
    this.els = els;
    this.onPick = onPick;
    this.grid = null; // the last /traverse reply
    this.factors = [];
    const { img } = els;
    img.addEventListener("pointerdown", (e) => {
      this.touched = e.pointerType === "touch";
    });
    img.addEventListener("mousemove", (e) => this._hover(e));
    // a tap's readout stays (touch screens send a mouseleave right after it)
    img.addEventListener("mouseleave", () => this.touched || this._readout(""));
    img.addEventListener("click", (e) => {
      const cell = this._cellAt(e);
      if (cell) this.onPick(cell.dim, cell.value);
      this._hover(e); // a tap (no hover on touch screens) reads the tile out too
    });
  }

  clear() {
    this.grid = null;
    this.els.img.removeAttribute("src");
    this.els.img.classList.add("empty");
    this.els.labels.replaceChildren();
    this.els.overlay.replaceChildren();
    this._readout("");
  }

  setFactors(names) {
    this.factors = names ?? [];
    if (this.grid) this._labels();
  }

  /** Show a /traverse reply; `latent` is the latent it was computed for. */
  show(grid, latent) {
    this.grid = grid;
    const { img } = this.els;
    img.classList.remove("empty");
    img.parentElement.classList.toggle("small-tiles", grid.tile < 64); // small tiles are upscaled to the panel's width
    img.src = grid.image;
    img.alt = `Traversal grid: ${grid.dims.length} latent dims by ${grid.steps} steps`;
    this._labels();
    this.mark(latent);
  }

  _labels() {
    const { labels } = this.els;
    labels.replaceChildren();
    for (const d of this.grid.dims) {
      const row = document.createElement("div");
      row.className = "grid-label";
      const name = document.createElement("span");
      name.textContent = `z${d}`;
      row.append(name);
      const factor = this.factors[d];
      if (factor) {
        const f = document.createElement("small");
        f.textContent = factor;
        row.append(f);
      }
      labels.append(row);
    }
  }

  /** Outline, per row, the step nearest the current latent's value of that dim. */
  mark(latent) {
    const { overlay } = this.els;
    overlay.replaceChildren();
    const grid = this.grid;
    if (!grid || !latent) return;
    const rows = grid.dims.length;
    grid.dims.forEach((d, r) => {
      const values = grid.values[r] ?? [];
      let best = -1;
      let bestDist = Infinity;
      values.forEach((v, c) => {
        const dist = Math.abs(v - latent[d]);
        if (dist < bestDist) {
          bestDist = dist;
          best = c;
        }
      });
      if (best < 0) return;
      const box = document.createElement("span");
      box.className = "current";
      box.style.left = `${(best / values.length) * 100}%`;
      box.style.top = `${(r / rows) * 100}%`;
      box.style.width = `${100 / values.length}%`;
      box.style.height = `${100 / rows}%`;
      overlay.append(box);
    });
  }

  _cellAt(event) {
    const grid = this.grid;
    if (!grid) return null;
    const rect = this.els.img.getBoundingClientRect();
    const r = Math.floor(((event.clientY - rect.top) / rect.height) * grid.dims.length);
    const values = grid.values[r];
    if (!values) return null;
    const c = Math.floor(((event.clientX - rect.left) / rect.width) * values.length);
    if (c < 0 || c >= values.length) return null;
    return { row: r, col: c, dim: grid.dims[r], value: values[c] };
  }

  _hover(event) {
    const cell = this._cellAt(event);
    if (!cell) return this._readout("");
    const factor = this.factors[cell.dim] ? ` (${this.factors[cell.dim]})` : "";
    this._readout(`z${cell.dim}${factor} = ${fmt(cell.value)} · step ${cell.col + 1}/${this.grid.values[cell.row].length} · click to set`);
  }

  _readout(text) {
    this.els.readout.textContent = text || "Hover a tile to read its value; click to set the latent to it.";
  }
}
