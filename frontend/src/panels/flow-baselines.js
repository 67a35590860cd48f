// PCA's version of what the flow panel shows for this image: its top-C reconstruction beside the
// flow's top-C decode, and its projection of the noisy image beside the flow's denoising. The
// server fits the PCA (the card's baseline, once per model) and sends each with its PSNR
// (`baselines: true` on /truncate and /denoise); this only shows them.

import { setImage } from "../lib/dom.js";

const EXACT_DB = 100;

/** Show `baseline` ({image, psnr} or null) in `img` with "· C=… · PSNR …" in `caption`. */
export function showBaseline(img, caption, baseline, keep, samples) {
  setImage(img, baseline?.image ?? null);
  if (!baseline) {
    caption.textContent = "";
    delete caption.dataset.db;
    return;
  }
  const db = baseline.psnr >= EXACT_DB ? "exact" : `${baseline.psnr.toFixed(2)} dB`;
  caption.textContent = `· C=${keep} · ${db}`;
  caption.dataset.db = String(baseline.psnr);
  caption.title = samples ? `PCA fitted on ${samples} training images (the card's baseline)` : "";
}

/** Empty both baseline figures (`els` holds pcaDecode, pcaPsnr, pcaDenoised, pcaDenoisedPsnr). */
export function clearBaselines(els) {
  showBaseline(els.pcaDecode, els.pcaPsnr, null);
  showBaseline(els.pcaDenoised, els.pcaDenoisedPsnr, null);
}
