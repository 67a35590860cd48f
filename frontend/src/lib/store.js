// One small store per page that the panels subscribe to, and the panel contract.
//
// A panel is an object with any of these methods (each receives the new value and the store's
// whole state):
//   show(model, state)        the selected model changed (ModelDetail); a panel that does not apply hides
//   setBase(base, state)      the reset target changed: the encoded image's {latent, scale} (or the
//                             prior centre's, scale null); null when there is none
//   setSource(source, state)  the image changed: {type: "sample", index, caption} | {type: "file", file,
//                             caption}, after its encoding became the base
//   setLatent(latent, state)  the current latent changed (state.t0: the input event's time)
//   setFactors(names, state)  each dim's name (null where unnamed) changed
//   linkState()               its part of the view's link (lib/urlstate.js keys), {} when none
//   busy                      (a getter) true while it has work in flight: the page is idle when none is

const METHODS = { model: "show", base: "setBase", source: "setSource", latent: "setLatent", factors: "setFactors" };

export class Store {
  constructor(state) {
    this.state = state;
    this.listeners = new Map(); // key -> [fn(value, state)]
  }

  /** Merge `patch` into the state, then tell every listener of each key in it (in subscription order). */
  set(patch) {
    Object.assign(this.state, patch);
    for (const key of Object.keys(patch)) for (const fn of this.listeners.get(key) ?? []) fn(this.state[key], this.state);
  }

  /** Call `fn(value, state)` whenever `key` is set. */
  on(key, fn) {
    if (!this.listeners.has(key)) this.listeners.set(key, []);
    this.listeners.get(key).push(fn);
  }

  /** Subscribe `panels` (in order) by the contract above. */
  connect(panels) {
    for (const [key, method] of Object.entries(METHODS)) {
      this.on(key, (value, state) => panels.forEach((panel) => panel[method]?.(value, state)));
    }
    return panels;
  }
}

/** The link state of `panels`, merged. */
export const linkState = (panels) => Object.assign({}, ...panels.map((panel) => panel.linkState?.() ?? {}));

/** Whether any of `panels` has work in flight. */
export const anyBusy = (panels) => panels.some((panel) => panel.busy);
