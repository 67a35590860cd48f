// Interpolation between two images: each end a dataset image (its index) or an uploaded file,
// "from" following the page's current image; the server encodes both, decodes N evenly spaced
// latents on the line between them (POST /interpolate) and the strip shows them; "Download GIF"
// asks the server for the same frames as an animated GIF.

import { api } from "../lib/api.js";
import { download, make } from "../lib/dom.js";

export class InterpolationPanel {
  /**
   * @param {object} els  panel (the section), from, fromFile, fromName, to, toFile, toName (a number input, a
   *   file input and its name per end), steps, button, gif, note, strip
   * @param {(error, context) => void} onError
   */
  constructor(els, onError) {
    this.els = els;
    this.onError = onError;
    this.model = null;
    this.files = { from: null, to: null };
    this.working = false;
    for (const end of ["from", "to"]) {
      els[end].addEventListener("input", () => this.setFile(end, null));
      els[`${end}File`].addEventListener("change", () => {
        const file = els[`${end}File`].files?.[0];
        if (file) this.setFile(end, file);
        els[`${end}File`].value = "";
      });
    }
    els.button.addEventListener("click", () => this.run());
    els.gif.addEventListener("click", () => this.run({ gif: true }));
  }

  get busy() {
    return this.working;
  }

  show(model) {
    const { els } = this;
    this.model = model;
    const caps = model.capabilities;
    els.panel.hidden = !(caps.encode && (caps.decode || caps.probe_decoder));
    els.strip.replaceChildren();
    els.note.textContent = "";
    const size = model.dataset_size;
    for (const end of ["from", "to"]) {
      els[end].max = size ? String(size - 1) : "";
      this.setFile(end, null);
    }
    els.to.value = size ? String(Math.floor(Math.random() * size)) : "";
  }

  /** "from" follows the page's image: its dataset index, or its uploaded file. */
  setSource(source) {
    if (!source) return;
    if (source.type === "file") this.setFile("from", source.file);
    else {
      this.setFile("from", null);
      this.els.from.value = String(source.index);
    }
  }

  setFile(end, file) {
    this.files[end] = file;
    const name = this.els[`${end}Name`];
    name.textContent = file ? `upload: ${file.name || "image"}` : "";
    if (file) this.els[end].value = "";
  }

  /** End `end` as the API takes it, or throws naming what is missing. */
  end(end) {
    if (this.files[end]) return { file: this.files[end] };
    const index = this.els[end].value.trim();
    if (!/^\d+$/.test(index)) throw new Error(`"${end}": give a dataset index (0 or more) or upload an image`);
    return { index: Number(index) };
  }

  async run({ gif = false } = {}) {
    const { els, model } = this;
    if (!model) return;
    let ends;
    try {
      ends = [this.end("from"), this.end("to")];
    } catch (error) {
      this.onError(error, "interpolation");
      return;
    }
    const steps = Number(els.steps.value);
    this.working = true;
    els.button.disabled = els.gif.disabled = true;
    els.note.textContent = gif ? "Drawing the GIF…" : "Encoding both images and decoding the path…";
    try {
      const reply = await api.interpolate(model.id, ...ends, steps, { gif });
      if (model !== this.model) return;
      if (gif) {
        download(reply, `${model.id}-interpolation.gif`);
        els.note.textContent = `GIF of ${steps} frames downloaded.`;
      } else this.showStrip(reply);
    } catch (error) {
      els.note.textContent = "";
      this.onError(error, "interpolation");
    } finally {
      this.working = false;
      els.button.disabled = els.gif.disabled = false;
    }
  }

  showStrip({ frames, steps, label }) {
    const n = frames.length;
    const frame = (src, i) => make("img", {
      src, className: "pixelated", alt: `step ${i + 1} of ${n}`, title: `t = ${(i / (n - 1)).toFixed(2)}`,
    });
    this.els.strip.replaceChildren(...frames.map(frame));
    const snapped = this.model.capabilities.codes ? ", each snapped to the codebooks" : "";
    this.els.note.textContent = `${steps} frames on the line from the first image's latent to the second's${snapped}` +
      (label ? `; rendered by the ${label}` : "") + ".";
  }
}
