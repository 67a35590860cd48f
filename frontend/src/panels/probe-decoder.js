// The probe decoder of a model without a decoder (capabilities.probe_decoder): the current latent
// rendered by a decoder trained afterwards on the model's frozen latents (POST /probe-decode),
// always under its label "probe decoder, held-out PSNR X dB: not the model's own", so that nobody
// mistakes it for the model's decoder. Hidden for a model with a decoder of its own.

import { modelPath, request } from "../lib/api.js";
import { setImage } from "../lib/dom.js";
import { cancelPending, hasPending } from "../lib/pending.js";

export const probeApi = {
  /** {image, label, heldout_psnr_db} */
  decode: (id, latent, opts = {}) => request(`${modelPath(id)}/probe-decode`, { ...opts, method: "POST", json: { latent } }),
  /** /traverse's reply rendered by the probe decoder, plus {label, heldout_psnr_db}. */
  traverse: (id, latent, dims, steps, opts = {}) =>
    request(`${modelPath(id)}/probe-traverse`, { ...opts, method: "POST", json: { latent, dims, steps } }),
};

/** Whether `model`'s latents are rendered by its probe decoder: it has one, and no decoder of its own. */
export const rendersByProbe = (model) => Boolean(model && !model.capabilities.decode && model.capabilities.probe_decoder);

/** The probe decoder's label from the model's card (the server writes it with the probe). */
export const probeLabel = (model) => model?.card?.probe_decoder?.label ?? "probe decoder: not the model's own";

export class ProbeDecoderView {
  /** @param {object} els  {figure, img, label}; @param {function} onError(error, context) */
  constructor(els, onError, { delay = 60 } = {}) {
    Object.assign(this, { els, onError, delay });
    this.model = null;
    this.timer = 0;
    this.loading = 0;
    this.abort = null;
  }

  get busy() {
    return hasPending(this);
  }

  show(model) {
    cancelPending(this);
    this.model = model;
    const { els } = this;
    els.figure.hidden = !rendersByProbe(model);
    setImage(els.img, null);
    els.label.textContent = rendersByProbe(model) ? probeLabel(model) : "";
  }

  setLatent(latent) {
    if (!rendersByProbe(this.model) || !latent) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = 0;
      this.refresh(latent.slice());
    }, this.delay);
  }

  async refresh(latent) {
    const model = this.model;
    this.abort?.abort();
    const abort = (this.abort = new AbortController());
    this.loading += 1;
    try {
      const reply = await probeApi.decode(model.id, latent, { signal: abort.signal });
      if (abort.signal.aborted || model !== this.model) return;
      setImage(this.els.img, reply.image);
      this.els.label.textContent = reply.label;
    } catch (error) {
      if (error.name !== "AbortError" && model === this.model) this.onError(error, "probe decoder");
    } finally {
      this.loading -= 1;
    }
  }
}
