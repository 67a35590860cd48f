"""The zoo beside a model's metrics: for its dataset, the chosen score of each variant with its
95 % interval, every seed, the shuffled-rows null and the ceiling; and the claims' verdicts
(difference and equivalence) and which variants clear their own null.
The table is the real one when the server has a zoo; here a fixed one, so the drawing is checked
exactly."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

TABLE = {
    "available": True,
    "zoo": "zoo",
    "estimator": "InfoMEC: continuous k-NN estimator on every latent",
    "protocol": {},
    "test": "Welch, Holm",
    "budget": {"steps": 1200, "batch_size": 64, "fraction_of_paper": 0.0026},
    "datasets": {
        "dsprites": {
            "variants": {
                "ae": {
                    "scores": {
                        "infomec.infom": {
                            "n": 3,
                            "mean": 0.40,
                            "sd": 0.02,
                            "ci95": [0.35, 0.45],
                            "values": [0.38, 0.40, 0.42],
                        }
                    },
                    "null_mean": {"infomec.infom": 0.55},
                },
                "qlae": {
                    "scores": {
                        "infomec.infom": {
                            "n": 3,
                            "mean": 0.46,
                            "sd": 0.05,
                            "ci95": [0.33, 0.59],
                            "values": [0.41, 0.46, 0.51],
                        }
                    },
                    "null_mean": {"infomec.infom": 0.56},
                },
            },
            "ceiling": {"infomec.infom": 1.0},
        }
    },
    "claims": [
        {
            "dataset": "dsprites",
            "better": "qlae",
            "than": "ae",
            "metric": "infomec.infom",
            "source": "Hsu et al. 2023",
            "diff": 0.06,
            "ci95": [-0.07, 0.19],
            "t": 1.9,
            "df": 2.6,
            "p": 0.16,
            "p_holm": 0.64,
            "verdict": "not established",
            "needs_t": False,
        }
    ],
    "equivalence_tests": [
        {
            "dataset": "dsprites",
            "better": "qlae",
            "than": "ae",
            "metric": "infomec.infom",
            "bound": 0.05,
            "p": 0.4,
            "p_holm": 1.0,
            "verdict": "not established",
            "needs_t": False,
        }
    ],
    "null_tests": [
        {"dataset": "dsprites", "variant": v, "metric": "infomec.infom", "verdict": verdict, "needs_t": needs_t}
        for v, verdict, needs_t in (("ae", "not established", False), ("qlae", "clears its null", True))
    ],
}


def test_zoo_panel_draws_intervals_seeds_null_ceiling_and_claims(app):
    page = app.page
    page.route("**/api/zoo", lambda route: route.fulfill(json=TABLE))
    page.goto(f"{app.base_url}/#model=vae-dsprites")
    page.wait_for_function(
        "() => { const h = window.__latentAtlas; return h && h.modelId === 'vae-dsprites' && h.frames > 0 && h.idle; }"
    )
    page.wait_for_function("() => !document.querySelector('#zoo-section').hidden")
    assert page.input_value("#zoo-metric") == "infomec.infom"
    plot = page.evaluate("""() => { const gd = document.querySelector('#zoo-plot');
        return { x: gd.data[0].x, y: gd.data[0].y, up: gd.data[0].error_y.array, down: gd.data[0].error_y.arrayminus,
                 seeds: gd.data[1].y.length, nulls: gd.data[2].y, ceiling: gd.layout.shapes[0].y0 }; }""")
    assert plot["x"] == ["ae", "qlae"] and plot["y"] == [0.40, 0.46]
    assert plot["up"] == pytest.approx([0.05, 0.13]) and plot["down"] == pytest.approx([0.05, 0.13])
    assert plot["seeds"] == 6 and plot["nulls"] == [0.55, 0.56] and plot["ceiling"] == 1.0
    claim = page.text_content("#zoo-claims li")
    assert "qlae > ae on InfoM" in claim and "Holm 0.640" in claim and "not established" in claim
    assert "within ±0.05: TOST p 0.400" in claim
    nulls = page.text_content("#zoo-claims li.nulls")
    assert "Clears its own null" in nulls and "qlae (needs t) of 2 variants" in nulls
    assert "0.26 % of the paper's samples" in page.text_content("#zoo-note")
    # a dataset the zoo does not cover: no section
    page.select_option("#model-select", "eoflow-shapes3d")
    page.wait_for_function("() => window.__latentAtlas.modelId === 'eoflow-shapes3d'")
    page.wait_for_function("() => document.querySelector('#zoo-section').hidden")
