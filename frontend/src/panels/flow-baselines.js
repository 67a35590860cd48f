// PCA's version of what the flow panel shows for this image: its top-C reconstruction beside the
// flow's top-C decode, and its projection of the noisy image beside the flow's denoising. The
// server fits the PCA (the card's baseline, once per model: seconds to a minute the first time,
// on Shapes3D) and sends each with its PSNR (`baselines: true` on /truncate and /denoise); these
// requests run apart from the flow's own, so the first fit never holds up the flow's decode.

import { Coalescer, flowApi } from "./flow-api.js";
import { setImage } from "../lib/dom.js";

const EXACT_DB = 100;

/** Show `baseline` ({image, psnr} or null) in `img` with "· C=… · PSNR …" in `caption`. */
function showBaseline(img, caption, baseline, keep, samples) {
  setImage(img, baseline?.image ?? null);
  delete caption.dataset.db;
  caption.textContent = "";
  if (!baseline) return;
  caption.textContent = `· C=${keep} · ${baseline.psnr >= EXACT_DB ? "exact" : `${baseline.psnr.toFixed(2)} dB`}`;
  caption.dataset.db = String(baseline.psnr);
  caption.title = `PCA fitted on ${samples} training images (the card's baseline)`;
}

export class FlowBaselines {
  /**
   * @param {object} els {pcaDecode, pcaPsnr, pcaDenoised, pcaDenoisedPsnr}
   * @param {(job: object) => boolean} isCurrent  whether a job's answer still belongs on screen
   * @param {(error: Error, context: string) => void} onError
   */
  constructor(els, isCurrent, onError) {
    this.els = els;
    this.isCurrent = isCurrent;
    this.truncation = new Coalescer((job) => this._truncate(job), (error) => onError(error, "PCA top-C baseline"));
    this.denoising = new Coalescer((job) => this._denoise(job), (error) => onError(error, "PCA denoising baseline"));
  }

  get busy() {
    return this.truncation.busy || this.denoising.busy;
  }

  clear() {
    this.truncation.clear();
    this.denoising.clear();
    showBaseline(this.els.pcaDecode, this.els.pcaPsnr, null);
    showBaseline(this.els.pcaDenoised, this.els.pcaDenoisedPsnr, null);
  }

  /** PCA's top-C reconstruction of the job's image (job: {model, source, keep, signal, ...}). */
  truncate(job) {
    if (!this.els.pcaDecode.getAttribute("src")) this.els.pcaPsnr.textContent = "· fitting PCA (first use)…";
    this.truncation.push(job);
  }

  /** PCA's projection of the job's noisy image (job: {..., sigma, keep, seed}). */
  denoise(job) {
    this.denoising.push(job);
  }

  async _truncate(job) {
    const reply = await flowApi.truncate(job.model.id, job.source, [job.keep], { signal: job.signal, baselines: true });
    if (this.isCurrent(job)) showBaseline(this.els.pcaDecode, this.els.pcaPsnr, reply.results[0].pca, job.keep, reply.pca_samples);
  }

  async _denoise(job) {
    const { sigma, keep, seed } = job;
    const reply = await flowApi.denoise(job.model.id, job.source, { sigma, keep, seed, baselines: true }, { signal: job.signal });
    if (this.isCurrent(job)) showBaseline(this.els.pcaDenoised, this.els.pcaDenoisedPsnr, reply.pca, reply.keep, reply.pca_samples);
  }
}
