// Where a model's latents are decoded, chosen once per model: by the server (the WebSocket
// LiveDecoder, HTTP while it reconnects) or in this page (the model's ONNX decoder in a Web
// Worker: BrowserDecoder). The ONNX graphs are loaded when the model is shown and the browser
// can run them; until they are ready, or when they cannot be, the server decodes (a page without
// a server, the static site, has only the browser). Frames from either path reach `onFrame`.

import { BrowserDecoder, OnnxModel, browserTraverse } from "./browser-decoder.js";

const PREFER_BROWSER_KEY = "latentatlas.decodeInBrowser";
const LIVE_LABELS = { live: "live (WebSocket)", connecting: "connecting…", http: "HTTP fallback", closed: "offline" };

export class DecoderStrategy {
  /**
   * @param {object} handlers  onFrame(frame), onError(message), onChange() (the path or its state
   *   changed: the status follows), onReady(onnx | null) (the in-browser decoder came or went)
   * @param {object} options  server: how the server decodes, {live: the LiveDecoder class, traverse:
   *   api.traverse}, or null (the static site: nothing of the server's is loaded); manifest(model):
   *   the model's ONNX manifest (a promise); open: OnnxModel.open's options; toggle, path: the
   *   "decode in the browser" checkbox and the line saying where decoding runs (both optional)
   */
  constructor({ onFrame, onError, onChange = () => {}, onReady = () => {} }, { server = null, manifest, open = {}, toggle = null, path = null }) {
    this.handlers = { onChange, onReady, onError };
    this.options = { manifest, open, serverTraverse: server?.traverse };
    this.els = { toggle, path };
    this.live = server ? new server.live({ onFrame, onError, onState: (s) => ((this.liveState = s), onChange()) }) : null;
    this.browser = new BrowserDecoder({ onFrame, onError });
    this.liveState = "closed";
    this.model = null;
    this.onnx = null; // the model's OnnxModel once its decoder runs in this page
    this.note = ""; // why the model decodes where it does
    this.generation = 0;
    this.frame = 0; // a server decode waiting for the next animation frame
    this.frameT0 = null;
    this.latent = null;
    this.loading = 0; // ONNX decoders being fetched and started (a model switch may overlap one)
    try {
      if (toggle) toggle.checked = localStorage.getItem(PREFER_BROWSER_KEY) !== "0";
    } catch {
      /* storage unavailable: the default (checked) */
    }
    toggle?.addEventListener("change", () => this._toggled());
  }

  get preferBrowser() {
    return this.els.toggle ? this.els.toggle.checked : true;
  }

  /** True when this page decodes (the ONNX decoder is loaded and wanted). */
  get inBrowser() {
    return Boolean(this.onnx) && this.preferBrowser;
  }

  /** A decode pending, or the in-browser decoder still loading (its first frame follows). */
  get busy() {
    return Boolean(this.live?.busy || this.browser.busy || this.frame || this.loading);
  }

  /** Where decoding runs, for the status line. */
  get label() {
    return this.inBrowser ? "decoding in your browser" : LIVE_LABELS[this.liveState];
  }

  /** Decode `model`'s latents from now on: the server at once, the browser once its graphs load. */
  use(model) {
    this.model = model;
    this.live?.open(model.id);
    return this._loadBrowser(model);
  }

  async _loadBrowser(model) {
    this.loading += 1;
    try {
      await this._openBrowser(model);
    } finally {
      this.loading -= 1;
    }
  }

  async _openBrowser(model) {
    const generation = ++this.generation;
    this._drop("");
    if (!this.preferBrowser) return;
    if (typeof Worker === "undefined" || typeof WebAssembly === "undefined") {
      this.note = ": this browser has no Web Workers or WebAssembly";
      this._describe();
      return;
    }
    if (this.els.path) this.els.path.textContent = "· preparing in-browser decoding…";
    let onnx;
    try {
      const manifest = await this.options.manifest(model);
      if (generation !== this.generation) return;
      if (!manifest.available) {
        this.note = `: ${model.id}'s decoder is not available as ONNX (${manifest.unavailable.decoder ?? "not exported"})`;
        this._describe();
        return;
      }
      onnx = await OnnxModel.open(manifest, this.options.open);
    } catch (error) {
      if (generation === this.generation) {
        this.note = `: in-browser decoding failed to start (${error.message})`;
        this._describe();
        if (!this.live) this.handlers.onError(`${model.id}'s decoder: ${error.message}`);
      }
      return;
    }
    if (generation !== this.generation || !this.preferBrowser) {
      onnx.close();
      return;
    }
    const t = onnx.timings.decoder;
    this.onnx = onnx;
    this.note = ` · ${(t.bytes / 1e6).toFixed(1)} MB${t.cached ? " from the browser cache" : ""}, ready in ${Math.round(t.ms)} ms`;
    this.browser.use(onnx);
    this._describe();
    this.handlers.onReady(onnx);
  }

  /** Decode `latent`: in the page at once (one in flight, the latest wins), for the server on
   * the next animation frame (coalesced). `t0`: when the user's change happened. */
  request(latent, t0 = performance.now()) {
    this.latent = latent;
    if (this.inBrowser) {
      this.browser.request(latent, t0);
      return;
    }
    if (!this.live) return;
    this.frameT0 = this.frameT0 == null ? t0 : Math.min(this.frameT0, t0);
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      const t = this.frameT0;
      this.frameT0 = null;
      if (this.latent) this.live.request(this.latent, t);
    });
  }

  /** A traversal grid (the server's /traverse reply, or the same decoded here). */
  traverse(model, latent, dims, steps, { signal } = {}) {
    if (this.inBrowser || !this.live) return browserTraverse(this.onnx, latent, dims, steps);
    return this.options.serverTraverse(model.id, latent, dims, steps, { signal });
  }

  close() {
    this.live?.close();
    this.onnx?.close();
  }

  _drop(note) {
    this.onnx?.close();
    this.onnx = null;
    this.browser.use(null);
    this.note = note;
    this._describe();
  }

  _toggled() {
    try {
      localStorage.setItem(PREFER_BROWSER_KEY, this.preferBrowser ? "1" : "0");
    } catch {
      /* storage unavailable: the choice lasts for this page only */
    }
    if (!this.model) return;
    if (this.preferBrowser) {
      this._loadBrowser(this.model);
      return;
    }
    this._drop(" (in-browser decoding switched off)");
    this.handlers.onReady(null);
  }

  _describe() {
    const { path } = this.els;
    if (path) {
      path.textContent = this.inBrowser ? `· decoding in your browser (ONNX Runtime Web${this.note})` : `· decoding on the server${this.note}`;
      path.dataset.path = this.inBrowser ? "browser" : "server";
    }
    this.handlers.onChange();
  }
}
