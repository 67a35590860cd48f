// The traversal grid: one row per latent dim, one column per step of that dim's values
// (QLAE: its codebook; continuous: mean +- 3 sd), everything else held at the current latent.
// Rows are labelled z<d> (plus the factor where known); the tile nearest the current value
// is outlined; hovering reads out the value, clicking sets the latent to it. From the keyboard the
// grid is one Tab stop: arrow keys move a cursor over the tiles (read out), Enter or Space sets it.
// A grid decoded in this page is painted into a canvas over the image at once when it has the
// shape of the grid shown; its PNG (for the <img>, downloads and links) is encoded only once the
// grids stop changing for PNG_AFTER_MS (encoding it held the page's thread ~25 ms a grid).

import { paintTiles, PNG_AFTER_MS } from "../decode/browser-decoder.js";
import { fmt } from "../lib/format.js";
import { hasPending } from "../lib/pending.js";
import { nearestIndex } from "./latent.js";

export class TraversalView {
  /**
   * @param {object} els  {img, labels, overlay, readout}; optional: canvas (painted at once for
   *   grids decoded in this page)
   * @param {(dim: number, value: number) => void} onPick
   */
  constructor(els, onPick) {
    this.els = els;
    this.onPick = onPick;
    this.grid = null; // the last /traverse reply
    this.marks = null; // {grid, boxes, steps}: each row's outlined step
    this.imageTimer = 0; // a painted grid whose PNG is not in the <img> yet
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
    this.cursor = null; // the keyboard's tile {row, col} while the grid has focus
    img.tabIndex = 0;
    if (els.readout.id) img.setAttribute("aria-describedby", els.readout.id);
    img.addEventListener("focus", () => this._moveCursor(this.cursor ?? { row: 0, col: 0 }));
    img.addEventListener("blur", () => {
      this.cursor = null;
      this._drawCursor();
    });
    img.addEventListener("keydown", (e) => this._key(e));
  }

  _key(event) {
    const grid = this.grid;
    if (!grid || !this.cursor) return;
    const steps = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] }[event.key];
    if (steps) {
      this._moveCursor({ row: this.cursor.row + steps[0], col: this.cursor.col + steps[1] });
    } else if (event.key === "Enter" || event.key === " ") {
      const { row, col } = this.cursor;
      this.onPick(grid.dims[row], grid.values[row][col]);
    } else {
      return;
    }
    event.preventDefault();
  }

  /** Put the keyboard's cursor on tile `cell` (clamped to the grid) and read it out. */
  _moveCursor(cell) {
    const grid = this.grid;
    if (!grid) return;
    const row = Math.max(0, Math.min(grid.dims.length - 1, cell.row));
    const col = Math.max(0, Math.min((grid.values[row]?.length ?? 1) - 1, cell.col));
    this.cursor = { row, col };
    this._drawCursor();
    this._describe({ row, col, dim: grid.dims[row], value: grid.values[row][col] }, "Enter to set");
  }

  _drawCursor() {
    this.els.overlay.querySelector(".cursor")?.remove();
    const grid = this.grid;
    if (!grid || !this.cursor) return;
    const { row, col } = this.cursor;
    const box = Object.assign(document.createElement("span"), { className: "cursor" });
    const cols = grid.values[row].length;
    Object.assign(box.style, {
      left: `${(col / cols) * 100}%`, top: `${(row / grid.dims.length) * 100}%`,
      width: `${100 / cols}%`, height: `${100 / grid.dims.length}%`,
    });
    this.els.overlay.append(box);
  }

  /** A painted grid's PNG is still to be put in the <img>. */
  get busy() {
    return Boolean(this.imageTimer);
  }

  clear() {
    this.grid = null;
    clearTimeout(this.imageTimer);
    this.imageTimer = 0;
    if (this.els.canvas) this.els.canvas.hidden = true;
    this.els.img.removeAttribute("src");
    this.els.img.classList.add("empty");
    this.els.labels.replaceChildren();
    this.els.overlay.replaceChildren();
    this.marks = null;
    this._readout("");
  }

  setFactors(names) {
    this.factors = names ?? [];
    if (this.grid) this._labels();
  }

  /** Show a /traverse reply; `latent` is the latent it was computed for. */
  show(grid, latent) {
    const { img, canvas } = this.els;
    const rows = grid.dims.length;
    // the canvas lies over the <img>'s box, so it can take a grid of the shape the <img> shows
    const sameShape = img.naturalWidth === grid.steps * grid.tile && img.naturalHeight === rows * grid.tile;
    this.grid = grid;
    img.classList.remove("empty");
    img.parentElement.classList.toggle("small-tiles", grid.tile < 64); // small tiles are upscaled to the panel's width
    img.alt = `Traversal grid: ${rows} latent dims by ${grid.steps} steps`;
    clearTimeout(this.imageTimer);
    this.imageTimer = 0;
    if (grid.rgba && canvas && sameShape) {
      paintTiles(canvas, grid.rgba, grid.width, grid.height, rows, grid.steps);
      canvas.hidden = false;
      this.imageTimer = setTimeout(() => this._flushImage(), PNG_AFTER_MS);
    } else {
      this._flushImage();
    }
    this._labels();
    this.mark(latent);
    this._drawCursor();
  }

  /** Put the grid's PNG in the <img>; the canvas over it goes once the <img> shows it. */
  _flushImage() {
    clearTimeout(this.imageTimer);
    this.imageTimer = 0;
    const { img, canvas } = this.els;
    const grid = this.grid;
    if (!grid) return;
    if (canvas && !canvas.hidden) {
      img.onload = () => {
        if (this.grid === grid && !this.imageTimer) canvas.hidden = true;
      };
    }
    img.src = grid.image;
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

  /** Outline, per row, the step nearest the current latent's value of that dim. Only the rows
   * whose step changed are touched (a drag moves one), so a slider's move re-lays out little. */
  mark(latent) {
    const grid = this.grid;
    if (this.marks?.grid !== grid || !latent) {
      this.els.overlay.querySelectorAll(".current").forEach((box) => box.remove());
      this.marks = grid && latent ? { grid, boxes: [], steps: [] } : null;
    }
    if (!this.marks) return;
    const rows = grid.dims.length;
    grid.dims.forEach((d, r) => {
      const values = grid.values[r] ?? [];
      const step = values.length ? nearestIndex(values, latent[d]) : -1;
      if (step === this.marks.steps[r]) return;
      this.marks.steps[r] = step;
      let box = this.marks.boxes[r];
      if (step < 0) {
        box?.remove();
        this.marks.boxes[r] = null;
        return;
      }
      if (!box) {
        box = this.marks.boxes[r] = Object.assign(document.createElement("span"), { className: "current" });
        Object.assign(box.style, { top: `${(r / rows) * 100}%`, width: `${100 / values.length}%`, height: `${100 / rows}%` });
        this.els.overlay.append(box);
      }
      box.style.left = `${(step / values.length) * 100}%`;
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
    this._describe(cell, "click to set");
  }

  _describe(cell, action) {
    const factor = this.factors[cell.dim] ? ` (${this.factors[cell.dim]})` : "";
    const step = `step ${cell.col + 1}/${this.grid.values[cell.row].length}`;
    this._readout(`z${cell.dim}${factor} = ${fmt.fixed(cell.value)} · ${step} · ${action}`);
  }

  _readout(text) {
    this.els.readout.textContent =
      text || "Hover a tile to read its value; click to set the latent to it (keyboard: Tab to the grid, arrows, Enter).";
  }
}

/** The traversal panel: the grid of the current latent, redrawn a moment after it stops
 * changing (a drag's live decode goes first), by the page's decoder (server or browser). */
export class TraversalPanel {
  /**
   * @param {object} els  {img, labels, overlay, readout, steps (select)}
   * @param {object} hooks  decoder: a DecoderStrategy (traverse, busy); onPick(dim, value);
   *   onShown(grid); onSteps(): the steps changed; onError(error, context)
   * @param {object} options  delay: ms after the last change before the grid is redrawn
   */
  constructor(els, { decoder, onPick, onShown = () => {}, onSteps = () => {}, onError }, { delay = 350 } = {}) {
    this.els = els;
    this.view = new TraversalView(els, onPick);
    this.hooks = { decoder, onShown, onError };
    this.delay = delay;
    this.model = null;
    this.latent = null;
    this.dims = null; // the dims shown, in order (null: the model's traverse_dims, the server's default)
    this.timer = 0;
    this.loading = 0; // grids being drawn
    this.abort = null;
    els.steps.addEventListener("change", () => {
      this.schedule(0);
      onSteps();
    });
  }

  get busy() {
    return hasPending(this) || this.view.busy;
  }

  get steps() {
    return Number(this.els.steps.value) || 11;
  }

  /** The PNG of the last grid drawn (a data URL; null before one): the grid on screen, even while
   * its <img> still waits for it. */
  get image() {
    return this.view.grid?.image ?? null;
  }

  /** The dims of the last grid drawn (null before one). */
  get gridDims() {
    return this.view.grid?.dims ?? null;
  }

  show(model) {
    this.abort?.abort();
    this.model = model;
    this.latent = null;
    this.dims = null;
    this.view.clear();
    const codes = Array.isArray(model.codebooks);
    this.els.steps.disabled = codes;
    this.els.steps.title = codes ? "quantised latents: traversals step through each dim's codebook" : "";
  }

  setLatent(latent) {
    this.latent = latent;
    this.view.mark(latent);
    this.schedule();
  }

  setFactors(names) {
    this.view.setFactors(names);
  }

  /** Show the rows of `dims`, in order (null: the model's default rows). */
  setDims(dims) {
    this.dims = dims && this.model ? dims.slice(0, this.model.traverse_dims.length) : dims;
    this.schedule(0);
  }

  /** Steps from a link, when the select offers them. */
  restoreSteps(steps) {
    if (steps != null && [...this.els.steps.options].some((o) => Number(o.value) === steps)) this.els.steps.value = String(steps);
  }

  linkState() {
    return { steps: this.els.steps.disabled ? null : this.steps };
  }

  schedule(delay = this.delay) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = 0;
      this.refresh();
    }, delay);
  }

  async refresh() {
    const { model, latent } = this;
    const { decoder } = this.hooks;
    if (!model || !latent) return;
    if (decoder.busy) return this.schedule(150); // while the user drags, the live decode goes first
    this.abort?.abort();
    const abort = (this.abort = new AbortController());
    const dims = this.dims ?? model.traverse_dims;
    this.loading += 1;
    try {
      const grid = await decoder.traverse(model, latent.slice(), dims, this.steps, { signal: abort.signal });
      if (abort.signal.aborted || model !== this.model) return;
      this.view.show(grid, this.latent);
      this.hooks.onShown(grid);
    } catch (error) {
      if (model === this.model) this.hooks.onError(error, "traversal");
    } finally {
      this.loading -= 1;
    }
  }
}
