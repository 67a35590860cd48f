// The skip link, every page's first Tab: it moves focus past the header to the page's main
// controls without touching the URL's hash (which holds the view's state).

/** Make each `a.skip-link` focus its target (an element with tabindex="-1") instead of navigating. */
export function installSkipLinks(root = document) {
  for (const link of root.querySelectorAll("a.skip-link")) {
    link.addEventListener("click", (event) => {
      const target = document.getElementById(link.getAttribute("href").slice(1));
      if (!target) return;
      event.preventDefault();
      target.focus();
      target.scrollIntoView({ block: "start" });
    });
  }
}
