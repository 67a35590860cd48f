// "Use via API": the exact requests behind what the page shows, as curl and Python (requests),
// ready to copy: decode the current latent, encode the current image (its dataset index, or the
// uploaded file by name), or describe the model.

import { modelPath } from "../lib/api.js";

/** A shell word in single quotes. */
const shell = (text) => `'${String(text).replaceAll("'", `'"'"'`)}'`;
/** A Python string literal. */
const py = (text) => JSON.stringify(String(text));
/** A latent as JSON, each value to 6 significant digits. */
const latentJson = (latent) => `[${latent.map((v) => Number(v.toPrecision(6))).join(", ")}]`;

const lines = (...parts) => parts.join("\n");
const JSON_HEADER = "  -H 'Content-Type: application/json' \\";

/** {curl, python} for `what` ("decode", "encode", "describe") of `model` at `origin`. */
export function snippets(what, { model, latent, source }, origin) {
  const url = `${origin}${modelPath(model.id)}`;
  if (what === "decode") {
    const values = latentJson(latent ?? []);
    return {
      curl: lines(`curl -X POST ${shell(`${url}/decode`)} \\`, JSON_HEADER, `  -d ${shell(`{"latent": ${values}}`)} \\`,
        "  -o decode.png"),
      python: lines("import requests", "", `latent = ${values}`,
        `response = requests.post(${py(`${url}/decode`)}, json={"latent": latent})`, "response.raise_for_status()",
        'with open("decode.png", "wb") as f:', "    f.write(response.content)"),
    };
  }
  const printLatent = lines("response.raise_for_status()", 'print(response.json()["latent"])');
  if (what === "encode" && source?.type === "file") {
    const name = source.file?.name || "image.png";
    return {
      curl: lines(`curl -X POST ${shell(`${url}/encode`)} \\`, `  -F ${shell(`image=@${name}`)}`),
      python: lines("import requests", "", `with open(${py(name)}, "rb") as f:`,
        `    response = requests.post(${py(`${url}/encode`)}, files={"image": f})`, printLatent),
    };
  }
  if (what === "encode") {
    const index = source?.index ?? 0;
    const note = source ? [] : ["# no image on screen (the prior centre): dataset image 0 as an example"];
    return {
      curl: lines(...note, `curl -X POST ${shell(`${url}/encode`)} \\`, JSON_HEADER,
        `  -d ${shell(`{"dataset_index": ${index}}`)}`),
      python: lines(...note, "import requests", "",
        `response = requests.post(${py(`${url}/encode`)}, json={"dataset_index": ${index}})`, printLatent),
    };
  }
  return {
    curl: `curl ${shell(url)}`,
    python: lines("import requests", "", `model = requests.get(${py(url)}).json()`,
      'print(model["latent_dim"], model["capabilities"])'),
  };
}

export class ApiPanel {
  /** @param {object} els  what (select), curl, python (pre), copyCurl, copyPython (buttons), status */
  constructor(els) {
    this.els = els;
    this.state = null;
    els.what.addEventListener("change", () => this.render());
    for (const [button, pre] of [[els.copyCurl, els.curl], [els.copyPython, els.python]]) {
      button.addEventListener("click", () => this.copy(pre));
    }
  }

  show(model, state) {
    this.state = state;
    this.els.what.querySelector('option[value="decode"]').disabled = !model.capabilities.decode;
    this.els.what.querySelector('option[value="encode"]').disabled = !model.capabilities.encode;
    if (this.els.what.selectedOptions[0]?.disabled) this.els.what.value = "describe";
    this.render();
  }

  setLatent(_, state) {
    this.state = state;
    if (this.els.what.value === "decode") this.render();
  }

  setSource(_, state) {
    this.state = state;
    if (this.els.what.value === "encode") this.render();
  }

  render() {
    if (!this.state?.model) return;
    const { curl, python } = snippets(this.els.what.value, this.state, location.origin);
    this.els.curl.textContent = curl;
    this.els.python.textContent = python;
    this.els.status.textContent = "";
  }

  async copy(pre) {
    try {
      await navigator.clipboard.writeText(pre.textContent);
      this.els.status.textContent = "Copied.";
    } catch {
      getSelection().selectAllChildren(pre); // no clipboard here (an insecure origin): selected, to copy by hand
      this.els.status.textContent = "Selected: press Ctrl/⌘+C to copy.";
    }
  }
}
