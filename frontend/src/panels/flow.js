// The ordered-latents panel for models whose latents are sorted by importance (`capabilities.ordered`:
// EOFlow). A logarithmic slider picks C, how many of the top latents to keep; the top-C decode
// of the current image follows while dragging (one /truncate in flight, the latest C wins),
// beside the original and their amplified difference, with the PSNR and the compression
// ratio. A scree plot and a PSNR-vs-C plot (the card's held-out EOFlow and PCA curves and
// this image's own) mark C and set it on click. A denoising view adds seeded noise of a chosen
// sigma and decodes the noisy image's top C latents. When the model decodes in the browser
// (`useBrowser`), the top-C decode while dragging is local (the encoded latent with entries C..
// set to 0, as the server's truncate does) and the server measures the PSNR once, on release.

import { pixelsToDataUrl } from "../decode/browser-decoder.js";
import { Coalescer, flowApi } from "./flow-api.js";
import { FlowBaselines } from "./flow-baselines.js";
import { clearPlot, describeMed, markKeep, renderMedCurves, renderPsnrCurves, renderScree } from "./flow-plots.js";
import { setImage } from "../lib/dom.js";

const RESIDUAL_GAIN = 4;
const EXACT_DB = 100;

/** A reproducible noise seed per image: the dataset index, or a hash of the file's identity. */
function seedFor(source) {
  if (source.type === "sample") return source.index % 2 ** 32;
  const key = `${source.file.name}:${source.file.size}:${source.file.lastModified}`;
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}

function formatDb(db) {
  return db >= EXACT_DB ? "exact" : `${db.toFixed(2)} dB`;
}

async function loadImage(src) {
  const img = new Image();
  img.src = src;
  await img.decode();
  return img;
}

const context2d = (canvas) => canvas.getContext("2d", { willReadFrequently: true });

/** Draw |a - b| x gain, per channel, of two same-size images into `canvas`. */
async function drawResidual(canvas, srcA, srcB, gain) {
  const [a, b] = await Promise.all([loadImage(srcA), loadImage(srcB)]);
  const w = a.naturalWidth;
  const h = a.naturalHeight;
  canvas.width = w;
  canvas.height = h;
  const ctx = context2d(canvas);
  ctx.drawImage(a, 0, 0);
  const pa = ctx.getImageData(0, 0, w, h).data;
  ctx.clearRect(0, 0, w, h);
  ctx.drawImage(b, 0, 0, w, h);
  const pb = ctx.getImageData(0, 0, w, h).data;
  const out = ctx.createImageData(w, h);
  for (let i = 0; i < pa.length; i += 4) {
    for (let c = 0; c < 3; c++) out.data[i + c] = Math.min(255, Math.abs(pa[i + c] - pb[i + c]) * gain);
    out.data[i + 3] = 255;
  }
  ctx.putImageData(out, 0, 0);
}

/** "+1.23 dB" / "−0.45 dB". */
function signedDb(db) {
  return `${db >= 0 ? "+" : "−"}${Math.abs(db).toFixed(2)} dB`;
}

export class FlowPanel {
  /**
   * @param {object} els  {panel, summary, keep, keepValue, ratio, original, decode, psnr, residual,
   *   residualCaption, scree, psnrPlot, note, sigma, sigmaValue, denoiseNote, noisy, noisyPsnr, denoised, denoisedPsnr,
   *   pcaDecode, pcaPsnr, pcaDenoised, pcaDenoisedPsnr (the PCA baselines: flow-baselines.js), medPlot, medNote
   *   (MED against C, the card's flow.med)}
   * @param {(error: Error, context: string) => void} onError
   */
  constructor(els, onError, onChange = () => {}) {
    this.els = els;
    this.onError = onError;
    this.onChange = onChange; // C or sigma changed: the link follows
    this.restored = null; // {keep, sigma} from a link, applied by the next show()
    this.model = null;
    this.source = null;
    this.keep = 1;
    this.keeps = [1];
    this.curve = null; // this image's {keep, psnr}
    this.generation = 0;
    this.abort = new AbortController();
    this.markFrame = 0;
    this.onnx = null; // an OnnxModel when the top-C decode runs in this browser
    this.latent = null; // the current image's encoded latent (for the in-browser decode)
    this.truncation = new Coalescer((job) => this._truncate(job), (error) => this._fail(error, "truncate"));
    this.localTruncation = new Coalescer((job) => this._truncateLocally(job), (error) => this._fail(error, "in-browser truncate"));
    this.curves = new Coalescer((job) => this._curve(job), (error) => this._fail(error, "PSNR curve"));
    this.denoising = new Coalescer((job) => this._denoise(job), (error) => this._fail(error, "denoise"));
    this.baselines = new FlowBaselines(els, (job) => this._current(job), (error, context) => this._fail(error, context));
    els.keep.addEventListener("input", () => this.setKeep(this.keeps[Number(els.keep.value)], { commit: false }));
    els.keep.addEventListener("change", () => {
      if (this._local()) this.truncation.push({ ...this._job(), keep: this.keep }); // the PSNR, once per drag
      this._requestDenoise();
    });
    els.sigma.addEventListener("input", () => {
      this._describeSigma();
      this._requestDenoise();
      this.onChange();
    });
  }

  /** Requests queued or in flight (the page is not idle while there are). */
  get busy() {
    return this.truncation.busy || this.localTruncation.busy || this.curves.busy || this.denoising.busy || this.baselines.busy;
  }

  /** Decode the top-C image with `onnx` (an OnnxModel) in the browser; null: on the server. */
  useBrowser(onnx) {
    this.onnx = onnx && this.model && onnx.latentDim === this.model.latent_dim ? onnx : null;
  }

  _local() {
    return Boolean(this.onnx && this.latent && this.source);
  }

  /** Show the panel for `model` (ModelDetail) if its latents are ordered; hide it otherwise. */
  show(model) {
    this.generation += 1;
    this.abort.abort();
    this.abort = new AbortController();
    for (const queue of [this.truncation, this.localTruncation, this.curves, this.denoising, this.baselines]) queue.clear();
    this.model = model.capabilities?.ordered ? model : null;
    this.onnx = null;
    this.source = null;
    this.latent = null;
    this.curve = null;
    this.els.panel.hidden = !this.model;
    this._clearImages();
    clearPlot(this.els.scree);
    clearPlot(this.els.psnrPlot);
    clearPlot(this.els.medPlot);
    this.els.medNote.textContent = "";
    if (!this.model) return;
    const dim = model.latent_dim;
    const flow = this._card();
    this.keeps = model.keep_grid; // the server's C values: log-spaced, the curves' and the card's
    this.els.keep.max = String(this.keeps.length - 1);
    const restored = this.restored ?? {};
    this.restored = null;
    this.keep = this._clampKeep(restored.keep ?? flow?.denoise?.best_keep ?? Math.floor(dim / 16));
    this.els.sigma.value = String(restored.sigma ?? flow?.denoise?.sigma ?? 0.1);
    this._describeKeep();
    this._describeSigma();
    this._describeCard();
    this._renderCurves();
    this._renderMed();
    this._loadEntropy();
  }

  /** The image changed: {type: "sample", index} or {type: "file", file}; `base.latent` its encoding. */
  setSource(source, { base = null } = {}) {
    if (!this.model || !source) return;
    const latent = base?.latent;
    this.source = source;
    this.latent = latent && latent.length === this.model.latent_dim ? latent.slice() : null;
    this.curve = null;
    const job = this._job();
    this.truncation.push({ ...job, keep: this.keep });
    this.curves.push({ ...job, keep: this.model.curve_keep_grid });
    this._requestDenoise();
  }

  /** What a link holds of this panel: {keep, sigma} (nothing while hidden). */
  linkState() {
    return this.model ? { keep: this.keep, sigma: Number(this.els.sigma.value) } : {};
  }

  /** C and sigma from a link: set now when the panel shows this model, else by the next show(). */
  restore({ keep = null, sigma = null }) {
    if (this.model) {
      if (sigma != null) {
        this.els.sigma.value = String(sigma);
        this._describeSigma();
      }
      if (keep != null) this.setKeep(keep);
    } else {
      this.restored = { keep, sigma };
    }
  }

  /** Keep the top `keep` latents; `commit` (a release or a click) also re-runs the denoising. */
  setKeep(keep, { commit = true } = {}) {
    if (!this.model) return;
    this.keep = this._clampKeep(keep);
    this.onChange();
    this._describeKeep();
    this._scheduleMarks();
    if (this._local()) {
      this.localTruncation.push({ ...this._job(), keep: this.keep });
      if (commit) this.truncation.push({ ...this._job(), keep: this.keep });
    } else if (this.source) {
      this.truncation.push({ ...this._job(), keep: this.keep });
    }
    if (commit) this._requestDenoise();
  }

  // -------------------------------------------------------------- requests

  _job() {
    return { generation: this.generation, source: this.source, model: this.model, signal: this.abort.signal };
  }

  _current(job) {
    return job.generation === this.generation && job.source === this.source;
  }

  _fail(error, context) {
    if (error?.name !== "AbortError") this.onError(error, context);
  }

  _requestDenoise() {
    if (!this.model || !this.source) return;
    const sigma = Number(this.els.sigma.value);
    this.denoising.push({ ...this._job(), sigma, keep: this.keep, seed: seedFor(this.source) });
  }

  async _truncate(job) {
    const reply = await flowApi.truncate(job.model.id, job.source, [job.keep], { signal: job.signal });
    if (!this._current(job)) return;
    this.baselines.truncate(job);
    const result = reply.results[0];
    const { els } = this;
    setImage(els.original, reply.input);
    setImage(els.decode, result.image);
    els.psnr.textContent = `· C=${result.keep} · PSNR ${formatDb(result.psnr)}`;
    els.psnr.dataset.keep = String(result.keep);
    els.psnr.dataset.db = String(result.psnr);
    await drawResidual(els.residual, reply.input, result.image, RESIDUAL_GAIN);
    if (this._current(job)) els.residualCaption.textContent = `· |original − decode| × ${RESIDUAL_GAIN}`;
  }

  async _truncateLocally(job) {
    const onnx = this.onnx;
    const latent = this.latent.slice();
    latent.fill(this.model.truncation_fill, job.keep); // the server's rule for the dropped latents
    const { rgba } = await onnx.decode([latent]);
    if (!this._current(job) || onnx !== this.onnx) return;
    const { els } = this;
    const image = pixelsToDataUrl(rgba, onnx.width, onnx.height);
    setImage(els.decode, image);
    if (els.psnr.dataset.keep !== String(job.keep)) els.psnr.textContent = `· C=${job.keep} · PSNR on release`;
    const original = els.original.getAttribute("src");
    if (original) await drawResidual(els.residual, original, image, RESIDUAL_GAIN);
  }

  async _curve(job) {
    const reply = await flowApi.truncate(job.model.id, job.source, job.keep, { signal: job.signal });
    if (!this._current(job)) return;
    this.curve = { keep: reply.results.map((r) => r.keep), psnr: reply.results.map((r) => r.psnr) };
    this._renderCurves();
  }

  async _denoise(job) {
    const { sigma, keep, seed } = job;
    const reply = await flowApi.denoise(job.model.id, job.source, { sigma, keep, seed }, { signal: job.signal });
    if (!this._current(job)) return;
    this.baselines.denoise(job);
    const { els } = this;
    setImage(els.noisy, reply.noisy);
    setImage(els.denoised, reply.denoised);
    els.noisyPsnr.textContent = `· σ=${reply.sigma.toFixed(2)} · ${formatDb(reply.noisy_psnr)}`;
    const gain = reply.denoised_psnr - reply.noisy_psnr;
    const change = reply.noisy_psnr >= EXACT_DB ? "" : ` (${gain >= 0 ? "+" : "−"}${Math.abs(gain).toFixed(2)} dB)`;
    els.denoisedPsnr.textContent = `· C=${reply.keep} · ${formatDb(reply.denoised_psnr)}${change}`;
    els.denoisedPsnr.dataset.db = String(reply.denoised_psnr);
  }

  async _loadEntropy() {
    const model = this.model;
    if (!model.capabilities?.ordered) {
      this.els.scree.replaceChildren(Object.assign(document.createElement("p"), { className: "muted", textContent: "This model reports no explained entropy." }));
      return;
    }
    const generation = this.generation;
    try {
      const reply = await flowApi.entropy(model.id, { signal: this.abort.signal });
      if (generation !== this.generation) return;
      renderScree(this.els.scree, reply, this.keep, (c) => this.setKeep(c));
    } catch (error) {
      if (generation === this.generation) this._fail(error, "explained entropy");
    }
  }

  // -------------------------------------------------------------- display

  /** The flow section of the card (the model's held-out evaluation), or null. */
  _card() {
    const flow = this.model?.card?.flow;
    return flow && typeof flow === "object" ? flow : null;
  }

  _clampKeep(keep) {
    return Math.max(1, Math.min(this.model.latent_dim, Math.round(Number(keep)) || 1));
  }

  /** The slider position whose C is nearest `keep` on the log scale. */
  _position(keep) {
    let best = 0;
    for (let i = 1; i < this.keeps.length; i++) {
      if (Math.abs(Math.log(this.keeps[i] / keep)) < Math.abs(Math.log(this.keeps[best] / keep))) best = i;
    }
    return best;
  }

  _describeKeep() {
    const { els, keep } = this;
    const dim = this.model.latent_dim;
    const ratio = keep / dim;
    els.keep.value = String(this._position(keep));
    els.keep.setAttribute("aria-valuetext", `keep the top ${keep} of ${dim} latents`);
    els.keepValue.textContent = `C = ${keep}`;
    els.ratio.textContent =
      `kept ${keep} of ${dim} dims · C / D = ${ratio.toFixed(ratio < 0.01 ? 4 : 3)} (${(dim / keep).toFixed(1)}× fewer numbers)`;
  }

  _describeSigma() {
    this.els.sigmaValue.textContent = Number(this.els.sigma.value).toFixed(2);
  }

  _describeCard() {
    const { els, model } = this;
    const flow = this._card();
    const bpd = flow?.bits_per_dim;
    els.summary.textContent = `${model.latent_dim} latents by explained entropy${typeof bpd === "number" ? ` · ${bpd.toFixed(3)} bits/dim` : ""}`;
    const truncation = flow?.truncation;
    const images = this._heldOutImages();
    els.note.textContent = truncation?.psnr?.length
      ? `Held-out curves${images ? ` over ${images} images` : ""}: EOFlow against PCA with as many components` +
        (this.model?.peers?.length ? ", and the other flows on this data (dotted, from their cards)" : "") + ". Click a point to keep its C."
      : `This model's card has no held-out evaluation yet (run \`latentatlas evaluate\` on it): no EOFlow or PCA curve, only this image's. Click a point to keep its C.`;
    const denoise = flow?.denoise;
    els.denoiseNote.textContent =
      denoise && typeof denoise.best_keep === "number" && typeof denoise.gain_db === "number"
        ? `Held-out at σ ${denoise.sigma}: best C ${denoise.best_keep}, ${signedDb(denoise.gain_db)} over the noisy input` +
          (typeof denoise.pca_gain_db === "number" ? ` (PCA: best C ${denoise.pca_best_keep}, ${signedDb(denoise.pca_gain_db)})` : "") +
          ". The noise is seeded per image."
        : "Denoising keeps the top C latents of the noisy image (C from the slider above); the noise is seeded per image.";
  }

  /** How many held-out images the card's curves average (recorded beside them or in card.flow). */
  _heldOutImages() {
    const flow = this._card();
    return flow?.truncation?.images ?? flow?.images ?? null;
  }

  _renderCurves() {
    const curves = { truncation: this._card()?.truncation ?? null, images: this._heldOutImages(), curve: this.curve, peers: this.model?.peers ?? [] };
    renderPsnrCurves(this.els.psnrPlot, curves, this.keep, (c) => this.setKeep(c));
  }

  /** MED against C (the card's flow.med: D and C over the top C latents, and their null). */
  _renderMed() {
    const med = this._card()?.med ?? null;
    renderMedCurves(this.els.medPlot, med, this.keep, (c) => this.setKeep(c));
    this.els.medNote.textContent = med ? describeMed(med) : "";
  }

  /** Move the C line of the plots on the next frame (drags fire faster than plots relayout). */
  _scheduleMarks() {
    if (this.markFrame) return;
    this.markFrame = requestAnimationFrame(() => {
      this.markFrame = 0;
      markKeep(this.els.scree, this.keep);
      markKeep(this.els.psnrPlot, this.keep);
      markKeep(this.els.medPlot, this.keep);
    });
  }

  _clearImages() {
    const { els } = this;
    for (const img of [els.original, els.decode, els.noisy, els.denoised]) setImage(img, null);
    for (const span of [els.psnr, els.residualCaption, els.noisyPsnr, els.denoisedPsnr]) span.textContent = "";
    delete els.psnr.dataset.keep;
    delete els.psnr.dataset.db;
    delete els.denoisedPsnr.dataset.db;
    context2d(els.residual).clearRect(0, 0, els.residual.width, els.residual.height);
    this.baselines.clear();
  }
}
