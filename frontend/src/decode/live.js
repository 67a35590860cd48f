// Live decoding over the model's WebSocket, without flooding the server:
// at most one message in flight, and while one is, newer latents coalesce into a
// single pending one (latest wins). If the socket is down, the same pump decodes
// over HTTP (POST /decode) and keeps trying to reconnect in the background.

import { api, liveUrl } from "../lib/api.js";

const REPLY_TIMEOUT_MS = 5000;
const MAX_BACKOFF_MS = 8000;

export class LiveDecoder {
  /**
   * @param {object} handlers
   * @param {(frame: {image: string, seq: number, serverMs: number|null, t0: number, sentAt: number, via: string}) => void} handlers.onFrame
   * @param {(message: string) => void} handlers.onError
   * @param {(state: "connecting"|"live"|"http"|"closed") => void} handlers.onState
   */
  constructor({ onFrame, onError, onState }) {
    this.onFrame = onFrame;
    this.onError = onError;
    this.onState = onState;
    this.modelId = null;
    this.ws = null;
    this.seq = 0;
    this.lastShownSeq = -1;
    this.pending = null; // {latent, t0}
    this.inFlight = null; // {seq, t0, sentAt, timer}
    this.backoff = 500;
    this.reconnectTimer = null;
    this.state = "closed";
    this.objectUrl = null;
  }

  open(modelId) {
    this.close();
    this.modelId = modelId;
    this.backoff = 500;
    this._connect();
  }

  close() {
    this.modelId = null;
    clearTimeout(this.reconnectTimer);
    this._clearInFlight();
    this.pending = null;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onopen = ws.onclose = ws.onerror = ws.onmessage = null;
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000, "model changed");
    }
    this._setState("closed");
  }

  /** Ask for a decode of `latent`; t0 is when the user's change happened (performance.now()). */
  request(latent, t0 = performance.now()) {
    if (!this.modelId) return;
    // Keep the earliest unserved input time: the frame answers that input too.
    this.pending = { latent: Array.from(latent), t0: this.pending ? Math.min(this.pending.t0, t0) : t0 };
    this._pump();
  }

  get busy() {
    return Boolean(this.inFlight || this.pending);
  }

  _setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.onState?.(state);
  }

  _connect() {
    const modelId = this.modelId;
    if (!modelId) return;
    this._setState(this.state === "http" ? "http" : "connecting");
    let ws;
    try {
      ws = new WebSocket(liveUrl(modelId));
    } catch {
      this._scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.backoff = 500;
      this._setState("live");
      this._pump();
    };
    ws.onmessage = (event) => this._onMessage(event);
    ws.onerror = () => {
      /* onclose follows and handles it; the browser already logged the failure */
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      // A message sent on this socket will never be answered: free the slot.
      if (this.inFlight?.via === "ws") this._clearInFlight();
      this._setState("http");
      this._scheduleReconnect();
      this._pump();
    };
  }

  _scheduleReconnect() {
    clearTimeout(this.reconnectTimer);
    if (!this.modelId) return;
    this.reconnectTimer = setTimeout(() => this._connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
  }

  _clearInFlight() {
    if (this.inFlight) clearTimeout(this.inFlight.timer);
    this.inFlight = null;
  }

  _pump() {
    if (this.inFlight || !this.pending || !this.modelId) return;
    const ws = this.ws;
    // First connection: wait for it (onopen pumps). Reconnecting after a drop: use HTTP meanwhile.
    if (ws && ws.readyState === WebSocket.CONNECTING && this.state === "connecting") return;
    const { latent, t0 } = this.pending;
    this.pending = null;
    const seq = ++this.seq;
    const sentAt = performance.now();
    if (ws && ws.readyState === WebSocket.OPEN) {
      const timer = setTimeout(() => {
        // No reply: give up on this one so the pump cannot stall.
        if (this.inFlight?.seq === seq) {
          this.inFlight = null;
          this._pump();
        }
      }, REPLY_TIMEOUT_MS);
      this.inFlight = { seq, t0, sentAt, timer, via: "ws" };
      ws.send(JSON.stringify({ latent, seq }));
      return;
    }
    this._decodeHttp(seq, latent, t0, sentAt);
  }

  async _decodeHttp(seq, latent, t0, sentAt) {
    const modelId = this.modelId;
    this.inFlight = { seq, t0, sentAt, timer: null, via: "http" };
    try {
      const blob = await api.decode(modelId, latent);
      if (modelId !== this.modelId) return;
      if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
      this.objectUrl = URL.createObjectURL(blob);
      this._show({ image: this.objectUrl, seq, serverMs: null, t0, sentAt, via: "http" });
    } catch (error) {
      if (modelId === this.modelId) this.onError?.(error.message);
    } finally {
      if (this.inFlight?.seq === seq) this.inFlight = null;
      if (modelId === this.modelId) this._pump();
    }
  }

  _onMessage(event) {
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch {
      this.onError?.("the live decoder sent an unreadable message");
      return;
    }
    const flight = this.inFlight;
    if (flight && (msg.seq === flight.seq || msg.seq == null)) this._clearInFlight();
    if (msg.error) {
      this.onError?.(`live decode: ${msg.error}`);
    } else if (typeof msg.image === "string" && typeof msg.seq === "number") {
      const t0 = flight && msg.seq === flight.seq ? flight.t0 : performance.now();
      const sentAt = flight && msg.seq === flight.seq ? flight.sentAt : performance.now();
      this._show({ image: msg.image, seq: msg.seq, serverMs: typeof msg.ms === "number" ? msg.ms : null, t0, sentAt, via: "ws" });
    }
    this._pump();
  }

  _show(frame) {
    if (frame.seq <= this.lastShownSeq) return; // an older answer arriving late
    this.lastShownSeq = frame.seq;
    this.onFrame?.(frame);
  }
}
