// The decoded image of the current latent: frames from the page's decoder (server or browser),
// the latency line, the PNG download and, on a narrow screen, a floating copy that follows the
// sliders while the decode is scrolled out of view. Each frame shown is announced as a
// `latentatlas:frame` event with its timings (for tests and benchmarks). A frame decoded in this
// page is in the canvas at once: painted there by the decoding worker itself (`handOverCanvas`,
// OffscreenCanvas), or by this view where a browser cannot; its PNG (for the <img>, the download
// and links) is encoded only once the frames stop for PNG_AFTER_MS, not on every frame of a drag
// (encoding it took several ms of each frame's budget).

import { PNG_AFTER_MS } from "../decode/browser-decoder.js";
import { download, setImage } from "../lib/dom.js";

export class DecodeView {
  /** @param {object} els  decode (img), latency, download (button); optional: canvas (painted at
   *   once for in-page decodes), float (the narrow screen's copy) */
  constructor(els) {
    this.els = els;
    this.model = null;
    this.pending = null;
    this.timings = { lastDecodeMs: null, lastServerMs: null, lastRoundTripMs: null, frames: 0 };
    this.imageTimer = 0; // a painted frame whose PNG is not in the <img> yet
    this.imageFrame = null;
    this.handedOver = false; // the canvas belongs to a decoding worker, which paints it
    els.download.addEventListener("click", () => {
      this._flushImage();
      download(els.decode.getAttribute("src"), `${this.model?.id}-decode.png`);
    });
    if (els.float) {
      new IntersectionObserver(([entry]) => {
        document.body.classList.toggle("decode-away", !entry.isIntersecting);
        if (!entry.isIntersecting && els.decode.src) els.float.src = els.decode.src;
      }).observe(els.decode);
    }
  }

  /** A painted frame's PNG is still to be put in the <img>. */
  get busy() {
    return Boolean(this.imageTimer);
  }

  show(model) {
    const { els } = this;
    this.model = model;
    clearTimeout(this.imageTimer);
    this.imageTimer = 0;
    this.imageFrame = null;
    setImage(els.decode, null);
    if (els.canvas) els.canvas.hidden = true;
    els.latency.textContent = "";
    els.download.disabled = true;
  }

  /** A fresh canvas in place of this view's, for a decoding worker to paint frames into
   * (`OnnxModel.paintInto`), or null where there is no canvas or no OffscreenCanvas. A canvas
   * handed over stays that worker's: each in-browser decoder gets a new one. */
  handOverCanvas() {
    const old = this.els.canvas;
    if (!old || typeof old.transferControlToOffscreen !== "function") return null;
    const canvas = old.cloneNode(false);
    // shown from the start, transparent over the <img> until the worker's first frame: a worker's
    // pixels reach the screen with its animation frames, which a canvas not displayed may not get
    canvas.hidden = false;
    old.replaceWith(canvas);
    this.els.canvas = canvas;
    this.handedOver = true;
    return canvas;
  }

  /** A decoded frame: {image, seq, t0, sentAt, via, serverMs, workerMs?, rgba?, width?, height?,
   * frameShown?} (`frameShown`: the worker paints it into the canvas and promises when). */
  showFrame(frame) {
    const receivedAt = performance.now();
    const { decode: img, canvas } = this.els;
    this.pending = frame;
    const painted = Boolean(frame.frameShown);
    if (frame.rgba && canvas && (painted || !this.handedOver)) {
      // decoded in this page: into the canvas, by the worker (at its next frame) or now (an
      // image's load event waits for its own decode, about a frame later); the <img> then takes
      // the same pixels for downloads
      const onScreen = painted && !canvas.hidden; // the worker's frames are being shown
      if (!painted) {
        canvas.width = frame.width;
        canvas.height = frame.height;
        canvas.getContext("2d").putImageData(new ImageData(frame.rgba, frame.width, frame.height), 0, 0);
      }
      canvas.hidden = false;
      img.onload = null;
      this.imageFrame = frame;
      clearTimeout(this.imageTimer);
      // on a narrow screen scrolled away, the floating copy (an <img>) must follow every frame
      if (document.body.classList.contains("decode-away")) this._flushImage();
      else this.imageTimer = setTimeout(() => this._flushImage(), PNG_AFTER_MS);
      this._shown(frame, receivedAt, onScreen ? frame : null);
      return;
    }
    clearTimeout(this.imageTimer);
    this.imageTimer = 0;
    this.imageFrame = null;
    if (canvas) canvas.hidden = true;
    img.onload = () => {
      if (this.pending === frame) this._shown(frame, receivedAt);
    };
    setImage(img, frame.image);
  }

  /** Put the latest painted frame's PNG in the <img> (and the floating copy). */
  _flushImage() {
    clearTimeout(this.imageTimer);
    this.imageTimer = 0;
    const frame = this.imageFrame;
    this.imageFrame = null;
    if (!frame) return;
    setImage(this.els.decode, frame.image);
    if (this.els.float && document.body.classList.contains("decode-away")) this.els.float.src = this.els.decode.src;
  }

  /** `workerPainted`: the frame, when the worker paints it into the visible canvas: it is then
   * shown (and announced) once the worker says when it reached the screen; else null (on screen
   * now, on the page's next frame). */
  _shown(frame, receivedAt, workerPainted = null) {
    const { seq, serverMs, via } = frame;
    const detail = {
      seq, inputToFrameMs: null, serverMs, workerMs: frame.workerMs ?? null, roundTripMs: receivedAt - frame.sentAt, via,
      paintedBy: workerPainted ? "worker" : "page", frameAt: null, paintedMs: null,
    };
    const announce = () => window.dispatchEvent(new CustomEvent("latentatlas:frame", { detail }));
    if (!workerPainted) {
      this._record(frame, receivedAt, performance.now(), detail);
      announce(); // the page's next animation frame shows it
      return;
    }
    // the worker's animation frame that took it to the screen (frameAt, page clock; input -> that
    // frame: paintedMs), or nulls where a newer decode replaced it unseen
    workerPainted.frameShown.then(({ paintedAt, frameAt }) => {
      if (frameAt != null) {
        this._record(frame, receivedAt, paintedAt, detail);
        Object.assign(detail, { frameAt, paintedMs: frameAt - frame.t0 });
      }
      announce();
    });
  }

  /** A frame on screen (in the canvas or <img>) at `shownAt`: the timings and the latency line. */
  _record(frame, receivedAt, shownAt, detail) {
    const { els, timings } = this;
    if (els.float && document.body.classList.contains("decode-away")) els.float.src = els.decode.src;
    timings.lastDecodeMs = shownAt - frame.t0;
    timings.lastServerMs = frame.serverMs;
    timings.lastRoundTripMs = receivedAt - frame.sentAt;
    timings.frames += 1;
    detail.inputToFrameMs = timings.lastDecodeMs;
    const ms = timings.lastDecodeMs.toFixed(0);
    if (frame.via === "browser") {
      els.latency.textContent = `· ${frame.workerMs.toFixed(1)} / ${ms} ms (in browser)`;
      els.latency.title = "decode time in this browser / input event to image on screen";
    } else {
      els.latency.textContent = frame.serverMs != null ? `· ${frame.serverMs.toFixed(1)} / ${ms} ms` : `· ${ms} ms (HTTP)`;
      els.latency.title = "server decode time / input event to image on screen";
    }
    els.download.disabled = false;
  }
}
