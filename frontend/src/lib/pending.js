// The pending work of a panel that follows the current latent: `timer`, its debounced request
// (0 when none is waiting), `loading`, how many of its requests are in flight, and `abort`, the
// AbortController of the latest one.

/** Whether `view` has a request waiting or in flight. */
export const hasPending = (view) => Boolean(view.timer) || view.loading > 0;

/** Drops `view`'s waiting request and aborts the one in flight (a new model is shown). */
export function cancelPending(view) {
  view.abort?.abort();
  clearTimeout(view.timer);
  view.timer = 0;
}
