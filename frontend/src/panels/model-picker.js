// The model picker: the served models in groups decided by their declared capabilities
// (autoencoders and generators, quantised-latent models first; ordered flows; each ensemble's
// members), or as one list.

const option = (m) => new Option(`${m.id} — ${m.kind.toUpperCase()}, ${m.dataset}, ${m.latent_dim}d`, m.id);

/** The picker's groups, in order: [[label, models]]. */
export function groupModels(models) {
  const groups = new Map([["Autoencoders and generators", []], ["Ordered flows", []]]);
  const rank = (m) => (m.capabilities.codes ? 0 : 1);
  for (const m of [...models].sort((a, b) => rank(a) - rank(b))) {
    const label = m.ensemble ? `Ensemble ${m.ensemble}` : m.capabilities.ordered ? "Ordered flows" : "Autoencoders and generators";
    if (!groups.has(label)) groups.set(label, []);
    groups.get(label).push(m);
  }
  return [...groups].filter(([, group]) => group.length);
}

export class ModelPicker {
  /** @param {HTMLSelectElement} select  @param {(id: string) => void} onPick  @param {{grouped?: boolean}} options */
  constructor(select, onPick, { grouped = true } = {}) {
    this.select = select;
    this.grouped = grouped;
    select.addEventListener("change", () => onPick(select.value));
  }

  /** Fill the picker; false when there is no model. */
  fill(models) {
    const { select } = this;
    select.replaceChildren();
    select.disabled = !models.length;
    if (!models.length) {
      select.append(new Option("no models", ""));
      return false;
    }
    if (!this.grouped) {
      select.append(...models.map(option));
      return true;
    }
    for (const [label, group] of groupModels(models)) {
      const optgroup = document.createElement("optgroup");
      optgroup.label = label;
      optgroup.append(...group.map(option));
      select.append(optgroup);
    }
    return true;
  }

  /** The first model in the picker's order. */
  get first() {
    return this.select.options[0]?.value;
  }

  show(model) {
    this.select.value = model.id;
  }
}
