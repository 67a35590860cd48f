// The images panel: where the latent comes from. Dataset samples (thumbnails; one is encoded),
// an uploaded, dropped or pasted image, shown beside its reconstruction with the encoder's
// verdict. Encoding is the page's `encoder`: the server's (serverEncoder) or the browser's
// (decode/browser-encoder.js); every encoding sets the store's base latent, then its source.

import { api } from "../lib/api.js";
import { fmt } from "../lib/format.js";
import { make, setImage } from "../lib/dom.js";

const TYPE_NAMES = "a PNG, JPEG, WebP or GIF image";

/** Encoding by the server: samples drawn with a random seed, images sent to /encode. */
export const serverEncoder = {
  where: "",
  canEncode: () => true,
  samples: (model) => api.samples(model.id, 8, Math.floor(Math.random() * 2 ** 31)),
  encode: (model, source) => (source.type === "file" ? api.encodeFile(model.id, source.file) : api.encodeIndex(model.id, source.index)),
};

const factorCaption = (sample) =>
  Object.entries(sample.factors ?? {}).map(([k, v]) => `${k} ${fmt.sig(v)}`).join(", ");

export class SourcePanel {
  /**
   * @param {object} els  original, reconstruction, originalCaption, samples, fileInput, dropZone;
   *   optional: reconstructionCaption, context, sampleButton
   * @param {object} deps  store, latent (LatentControl), encoder, banner ({setStatus, showError,
   *   clearError, reportError}), summary(): the status line's model part, config(): the server's
   *   limits (a promise), thumbClass
   */
  constructor(els, { store, latent, encoder, banner, summary = () => "", config = async () => null, thumbClass = "thumb" }) {
    Object.assign(this, { els, store, latent, encoder, banner, summary, config, thumbClass });
    this.busy = false;
    els.fileInput.addEventListener("change", () => {
      const file = els.fileInput.files?.[0];
      if (file) this.encodeFile(file);
      els.fileInput.value = "";
    });
    els.sampleButton?.addEventListener("click", () => this.loadSamples({ fromUser: true }));
    this._wireDrops();
  }

  get model() {
    return this.store.state.model;
  }

  show() {
    const { els } = this;
    els.samples.replaceChildren();
    [els.original, els.reconstruction].forEach((img) => setImage(img, null));
    for (const span of [els.originalCaption, els.reconstructionCaption, els.context]) if (span) span.textContent = "";
  }

  /** Encode `source` ({type: "sample", index, image?} | {type: "file", file}) and make it the base latent. */
  async encode(source, caption) {
    const model = this.model;
    if (!model) return false;
    const { setStatus } = this.banner;
    setStatus(`Encoding ${caption}${this.encoder.where}…`);
    const reply = await this.encoder.encode(model, source);
    if (model !== this.model) return false;
    this._apply(reply, caption);
    this.store.set({ source: { ...source, caption } });
    const what = source.type === "sample" && !this.encoder.where ? `dataset sample ${source.index}` : `encoded ${caption}${this.encoder.where}`;
    setStatus(`${this.summary()} · ${what}${reply.ms != null ? ` (${reply.ms.toFixed(1)} ms)` : ""}`);
    return true;
  }

  async encodeFile(file) {
    const model = this.model;
    if (!model) return;
    const name = file.name || "pasted image";
    const config = await this.config().catch(() => null);
    const types = config?.accepted_image_types ?? ["image/png", "image/jpeg", "image/webp", "image/gif"];
    if (file.type && !types.includes(file.type)) {
      this.banner.showError(`"${file.name}" is ${file.type}; upload ${TYPE_NAMES}`);
      return;
    }
    const limit = config?.max_upload_bytes;
    if (limit && file.size > limit) {
      this.banner.showError(`"${file.name}" is ${(file.size / 1048576).toFixed(1)} MB; the limit is ${fmt.sig(limit / 1048576)} MB`);
      return;
    }
    try {
      if (await this.encode({ type: "file", file }, name)) this.banner.clearError();
    } catch (error) {
      if (model === this.model) this.banner.reportError(error, `could not encode "${file.name || "image"}"`);
    }
  }

  /** Draw dataset samples and encode the first (without an encoder: the prior centre);
   * `fromUser` clears the last error on success. */
  async loadSamples({ fromUser = false } = {}) {
    const model = this.model;
    if (!model) return;
    const button = this.els.sampleButton;
    if (button) button.disabled = true;
    this.busy = true;
    this.banner.setStatus("Drawing dataset samples…");
    try {
      const samples = await this.encoder.samples(model);
      if (model !== this.model) return;
      this._renderSamples(samples);
      if (!this.encoder.canEncode(model)) {
        this.latent.set(this.latent.priorCentre(), { asBase: true });
        return;
      }
      if (!samples.length) throw new Error("the dataset returned no samples");
      await this.encode({ type: "sample", index: samples[0].index, image: samples[0].image }, `sample ${samples[0].index}`);
      if (fromUser) this.banner.clearError();
    } catch (error) {
      if (model === this.model) this.banner.reportError(error, "dataset sample");
    } finally {
      this.busy = false;
      if (button) button.disabled = false;
    }
  }

  _apply(reply, caption) {
    const { els } = this;
    const model = this.model;
    setImage(els.original, reply.input);
    setImage(els.reconstruction, reply.reconstruction);
    els.originalCaption.textContent = caption ? `· ${caption}` : "";
    let latent = reply.latent;
    // Codes: take their exact values when the encoder sends code indices.
    if (Array.isArray(reply.codes) && Array.isArray(model.codebooks)) {
      latent = reply.codes.map((c, d) => Number(model.codebooks[d]?.[c] ?? latent[d]));
    }
    this.latent.set(latent, { asBase: true, scale: Array.isArray(reply.scale) ? reply.scale : null });
    if (els.reconstructionCaption) {
      // The server measures the reconstruction and says how the input compares with the training data.
      const heldout = reply.heldout_psnr_db == null ? "" : ` (held-out ${reply.heldout_psnr_db.toFixed(1)} dB)`;
      els.reconstructionCaption.textContent = reply.psnr_db == null ? "" : `· PSNR ${reply.psnr_db.toFixed(1)} dB${heldout}`;
    }
    if (els.context) {
      els.context.textContent = reply.context ?? "";
      els.context.classList.toggle("warn", Boolean(reply.far_from_training));
    }
  }

  _renderSamples(samples) {
    this.els.samples.replaceChildren(...samples.map((sample) => {
      const caption = factorCaption(sample);
      const img = make("img", { className: "pixelated", alt: "", src: sample.image });
      const button = make("button", { type: "button", className: this.thumbClass, title: `sample ${sample.index}${caption ? `: ${caption}` : ""}` }, img);
      button.setAttribute("aria-label", `Encode dataset sample ${sample.index}`);
      button.addEventListener("click", async () => {
        try {
          if (!(await this.encode({ type: "sample", index: sample.index, image: sample.image }, `sample ${sample.index}`))) return;
          this.banner.clearError();
          this.els.originalCaption.title = caption;
        } catch (error) {
          this.banner.reportError(error, "dataset sample");
        }
      });
      return button;
    }));
  }

  /** Drag and drop on the images panel, paste anywhere; elsewhere a stray drop must not navigate away. */
  _wireDrops() {
    const zone = this.els.dropZone;
    for (const type of ["dragover", "drop"]) window.addEventListener(type, (e) => e.preventDefault());
    zone.addEventListener("dragenter", (e) => {
      e.preventDefault();
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragover", (e) => {
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
    });
    zone.addEventListener("dragleave", (e) => {
      if (!zone.contains(e.relatedTarget)) zone.classList.remove("dragging");
    });
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("dragging");
      const file = [...(e.dataTransfer?.files ?? [])][0];
      if (file) this.encodeFile(file);
      else this.banner.showError("drop an image file (PNG, JPEG, WebP or GIF)");
    });
    zone.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        this.els.fileInput.click();
      }
    });
    document.addEventListener("paste", (e) => {
      const item = [...(e.clipboardData?.items ?? [])].find((i) => i.kind === "file" && i.type.startsWith("image/"));
      if (!item) return;
      e.preventDefault();
      const file = item.getAsFile();
      if (file) this.encodeFile(new File([file], file.name || "pasted.png", { type: file.type }));
    });
  }
}
