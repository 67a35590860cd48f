// The page's status line and error banner (#status, #error, #error-text, #error-dismiss), as
// both pages use them: errors show in the banner and the status line; aborted requests are
// not errors.

import { $ } from "./dom.js";

export const banner = {
  setStatus(text) {
    $("status").textContent = text;
  },

  /** A status update nobody asked for (the decoder's path changed): a shown error's line stays. */
  setBackgroundStatus(text) {
    if ($("error").hidden) banner.setStatus(text);
  },

  showError(message) {
    $("error-text").textContent = message;
    $("error").hidden = false;
    banner.setStatus(`Error: ${message}`);
  },

  clearError() {
    $("error").hidden = true;
    $("error-text").textContent = "";
  },

  /** Show an error (with what was being done), unless it is an aborted request. */
  reportError(error, context) {
    if (error?.name === "AbortError") return;
    const message = error?.message || String(error);
    banner.showError(context ? `${context}: ${message}` : message);
  },
};
