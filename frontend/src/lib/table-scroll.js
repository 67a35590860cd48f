// A table wider than its scrolling box (`.table-wrap`): each time the table is redrawn, its
// current column (`th.current`) is scrolled into view, and a cue under the box says that there is
// more to either side (hidden when the table fits).

/** Follow `wrap` (the scrolling box of one table); returns the cue element. */
export function followCurrentColumn(wrap) {
  const cue = Object.assign(document.createElement("p"), { className: "hint muted table-cue", hidden: true });
  wrap.after(cue);
  const update = () => {
    const table = wrap.querySelector("table");
    const overflow = Boolean(table) && wrap.scrollWidth > wrap.clientWidth + 1;
    cue.hidden = !overflow;
    if (!overflow) return;
    const current = table.querySelector("th.current");
    if (current) {
      const rowHead = table.querySelector("th")?.offsetWidth ?? 0; // the sticky score column
      const left = current.offsetLeft - rowHead;
      const right = current.offsetLeft + current.offsetWidth - wrap.clientWidth;
      if (wrap.scrollLeft > left || wrap.scrollLeft < right) wrap.scrollLeft = Math.max(0, left - 8);
    }
    const columns = table.querySelectorAll("thead th").length - 1;
    cue.textContent = `${columns} models: the table is wider than its box, scroll it sideways` +
      (current ? ` (the current model, ${current.textContent}, is in view).` : ".");
  };
  new MutationObserver(update).observe(wrap, { childList: true, subtree: true });
  new ResizeObserver(update).observe(wrap);
  return cue;
}
