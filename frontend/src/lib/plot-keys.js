// Keyboard use of a figure's cells or points: the figure is one Tab stop; the arrow keys move a
// cursor over a rows x cols grid (a heatmap's cells; a curve's points are one row), each move is
// read out under the figure (a polite live region), and Enter or Space picks the cell, as a click does.

/**
 * @param {HTMLElement} el  the figure
 * @param {object} grid  size(): [rows, cols] now; describe(row, col): its readout; pick(row, col)
 * @returns {{reset: () => void}}  reset(): the cursor back to the first cell (new data)
 */
export function keyboardCells(el, { size, describe, pick }) {
  const readout = Object.assign(document.createElement("p"), { className: "hint muted plot-readout" });
  readout.setAttribute("aria-live", "polite");
  readout.id = `${el.id}-readout`;
  el.after(readout);
  el.tabIndex = 0;
  el.setAttribute("aria-describedby", readout.id);
  let cursor = null;
  const show = () => {
    const [rows, cols] = size();
    if (!rows || !cols) return (readout.textContent = "");
    const clamp = (v, n) => Math.min(n - 1, Math.max(0, v ?? 0));
    cursor = { row: clamp(cursor?.row, rows), col: clamp(cursor?.col, cols) };
    readout.textContent = `${describe(cursor.row, cursor.col)} · arrows move, Enter picks`;
  };
  el.addEventListener("focus", show);
  el.addEventListener("blur", () => (readout.textContent = ""));
  el.addEventListener("keydown", (event) => {
    const move = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] }[event.key];
    if (move && cursor) {
      cursor = { row: cursor.row + move[0], col: cursor.col + move[1] };
      show();
    } else if ((event.key === "Enter" || event.key === " ") && cursor) {
      pick(cursor.row, cursor.col);
    } else {
      return;
    }
    event.preventDefault();
  });
  return { reset: () => (cursor = null) };
}
