"""One ensemble the server holds (``<models_dir>/ensembles/NAME/``, see
``latentatlas.store.ensembles``) behind an ``EnsembleService`` that reads its manifest and cached
``analysis.json`` and shapes them for the API (the registry of them all:
:mod:`latentatlas.serve.ensemble_registry`).

Every finished member of a trained ensemble is also served as an ordinary model, with id
``NAME.MEMBER``; an ensemble of imported runs (``ensemble import``) has no models to serve, as its
:class:`~latentatlas.store.ensembles.EnsembleDesign` declares (``members_decode``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
from safetensors.numpy import load_file

from latentatlas.errors import InputError, UnsupportedError
from latentatlas.evaluation.hotspot_factors import best_factor, hotspot_factor_means
from latentatlas.evaluation.nmi_clip import ClippedNMI, clip_nmi
from latentatlas.serve.schemas import (
    EnsembleAnalysisSummary,
    EnsembleChannel,
    EnsembleDetail,
    EnsembleHotspot,
    EnsembleHotspots,
    EnsembleInfo,
    EnsembleMember,
    EnsembleSimilarity,
    NMIClipping,
    UntrainedNull,
)
from latentatlas.store.ensembles import ANALYSIS_FILE, EnsembleError, ensemble_design, read_manifest
from latentatlas.store.folders import run_path

log = logging.getLogger("latentatlas.serve")

ENSEMBLES_FOLDER = "ensembles"
ENSEMBLE_JOB_PREFIX = "ensembles/"  # job keys: model ids are folder names, never holding "/"


class NotAnalysedError(UnsupportedError):
    """The ensemble has no (readable) analysis yet (409)."""


def member_model_id(ensemble: str, member: str) -> str:
    """``betavae-dsprites.beta4-seed2``: one path segment, usable in /api/models/{id}."""
    return f"{ensemble}.{member}"


def _finite(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def _matrix(values) -> list[list[float | None]]:
    """A JSON or array matrix with NaN / inf as None."""
    return [[_finite(v) for v in row] for row in np.asarray(values, dtype=object).tolist()]


def _clipped(values, pairwise: bool) -> ClippedNMI:
    """An analysis' NMI matrix (None: NaN) clipped to [0, 1] (:func:`~latentatlas.evaluation.nmi_clip.clip_nmi`)."""
    return clip_nmi(np.array([[np.nan if v is None else v for v in row] for row in values], dtype=np.float64), pairwise)


def _clipping(clipped: ClippedNMI) -> NMIClipping:
    return NMIClipping(
        below_zero=clipped.below_zero,
        min_estimate=clipped.min_estimate,
        above_one=clipped.above_one,
        max_estimate=clipped.max_estimate,
    )


class EnsembleService:
    """One ensemble folder: its manifest, its cached analysis, an analysis job's work."""

    def __init__(self, folder: Path, serve_member: Callable[[str, str, Path], bool] | None = None) -> None:
        self.folder = folder
        self._serve_member = serve_member  # (model id, member name, folder) -> served?
        self.id = folder.name
        self.manifest = read_manifest(folder)
        self.design = ensemble_design(self.manifest)
        self.model_ids: dict[str, str] = {}  # member name -> served model id
        self._offered: set[str] = set()  # members already offered to the model registry
        self._offering = threading.Lock()
        self._analysis: dict | None = None
        self._analysis_read = False  # analysis.json is read on first use (large: not at start-up)
        self.analysis_error: str | None = None
        self._lock = threading.Lock()
        self._hotspots: tuple[dict, EnsembleHotspots] | None = None  # (the analysis, its hotspots)

    # -- loading -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the manifest (training may still be running) and serve members that
        finished since: they become models ``NAME.MEMBER`` without a restart."""
        try:
            manifest = read_manifest(self.folder)  # written atomically by the trainer
            self.design, self.manifest = ensemble_design(manifest), manifest
        except (OSError, KeyError, ValueError, EnsembleError) as error:
            log.warning("ensemble %s: keeping the last manifest (%s)", self.id, error)
            return
        if self._serve_member is None or not self.design.members_decode:
            return
        with self._offering:  # one refresh at a time offers a member; a reader sees it offered only once tried
            for name, folder in self.finished_members():
                if name not in self._offered:
                    if self._serve_member(member_model_id(self.id, name), name, folder):
                        self.model_ids[name] = member_model_id(self.id, name)
                    self._offered.add(name)  # tried once: a member that fails to load is reported, not retried

    def finished_members(self) -> list[tuple[str, Path]]:
        """(name, folder) of the members marked done whose folder holds the design's member files
        (trained: weights and a card; imported: the probe encodings)."""
        out = []
        for entry in self.manifest["members"]:
            folder = self.folder / entry["name"]
            if entry.get("status") == "done" and all((folder / f).is_file() for f in self.design.member_files):
                out.append((entry["name"], folder))
        return out

    @property
    def analysis(self) -> dict | None:
        """The cached analysis, read on first use; None when there is none or it is unreadable
        (then ``analysis_error`` says why)."""
        if not self._analysis_read:
            self._load_analysis()
        return self._analysis

    @analysis.setter
    def analysis(self, value: dict | None) -> None:
        self._analysis, self._analysis_read = value, True

    def _load_analysis(self) -> None:
        path = self.folder / ANALYSIS_FILE
        if not path.is_file():
            self.analysis, self.analysis_error = None, None
            return
        try:
            analysis = json.loads(path.read_text())
            self.analysis, self.analysis_error = self._check_analysis(analysis), None
        except Exception as error:
            self.analysis, self.analysis_error = None, f"{type(error).__name__}: {error}"
            log.warning("ensemble %s: ignoring %s (%s)", self.id, ANALYSIS_FILE, self.analysis_error)

    def _check_analysis(self, analysis: dict, folder: Path | None = None) -> dict:
        """The analysis with its M x M matrices in memory (from the analysis.safetensors in
        ``folder``, default the ensemble's, when large)."""
        arrays = analysis.get("arrays")
        if arrays:
            tensors = load_file(str((folder or self.folder) / arrays["file"]))
            for name in arrays["names"]:
                analysis[name] = tensors[name].tolist()
        channels = len(analysis["channels"])
        for name in ("info_bits", "active", "nmi", "vi"):
            if len(analysis[name]) != channels:
                raise ValueError(f"{name} has {len(analysis[name])} rows for {channels} channels")
        if any(len(row) != channels for row in analysis["nmi"]):
            raise ValueError("nmi is not square")
        if len(analysis["hotspots"]["labels"]) != channels:
            raise ValueError("hotspot labels do not cover every channel")
        return analysis

    # -- description -----------------------------------------------------------------------
    def _status(self, entry: dict) -> tuple[str, str | None]:
        """A member's (status, error): the manifest's, but a member marked done whose folder is
        incomplete or did not load is ``failed`` (it is not served)."""
        status, error = str(entry.get("status", "pending")), entry.get("error")
        if status == "done" and entry["name"] not in self.model_ids:
            finished = any(name == entry["name"] for name, _ in self.finished_members())
            if not finished:
                return "failed", f"marked done, but its folder lacks {' or '.join(self.design.member_files)}"
            if entry["name"] in self._offered:
                return "failed", "marked done, but its folder does not load as a model (GET /readyz says why)"
        return status, error

    def info(self) -> EnsembleInfo:
        counts: dict[str, int] = {}
        for entry in self.manifest["members"]:
            status = self._status(entry)[0]
            counts[status] = counts.get(status, 0) + 1
        analysis = self.analysis
        design = self.design  # trained or imported: read alike
        return EnsembleInfo(
            id=self.id,
            kind=design.kind,
            source=design.source,
            dataset=design.dataset,
            latent_dim=max(design.latent_dims.values(), default=0),
            betas=list(design.betas),
            seeds=design.runs_per_configuration,
            members_decode=design.members_decode,
            members_note=design.members_note,
            member_count=len(self.manifest["members"]),
            status_counts=counts,
            analysed=analysis is not None,
            analysed_at=analysis.get("created") if analysis is not None else None,
        )

    def detail(self) -> EnsembleDetail:
        self.refresh()
        analysis = self.analysis
        per_member: dict[str, tuple[list[float | None], list[bool]]] = {}
        if analysis is not None:
            for channel, info, active in zip(analysis["channels"], analysis["info_bits"], analysis["active"]):
                bits, flags = per_member.setdefault(channel["member"], ([], []))
                bits.append(_finite(info))
                flags.append(bool(active))
        members = []
        for entry in self.manifest["members"]:
            member_bits, member_flags = per_member.get(entry["name"]) or (None, None)
            status, error = self._status(entry)
            members.append(
                EnsembleMember(
                    name=entry["name"],
                    beta=entry.get("beta"),  # None: an imported run
                    seed=entry.get("seed"),
                    latent_dim=self.design.latent_dims.get(entry["name"]),
                    status=status,
                    model_id=self.model_ids.get(entry["name"]),
                    error=error,
                    info_bits=member_bits,
                    active=member_flags,
                )
            )
        return EnsembleDetail(
            **self.info().model_dump(),
            members=members,
            probe_size=analysis.get("probe_size") if analysis else None,
            factor_names=analysis.get("factor_names", []) if analysis else [],
            skipped_members=analysis.get("skipped_members", []) if analysis else [],
            spaces=analysis.get("spaces") if analysis else None,
            fusion=analysis.get("fusion") if analysis else None,
        )

    def _require_analysis(self) -> dict:
        analysis = self.analysis
        if analysis is None:
            why = f" (its {ANALYSIS_FILE} is unreadable: {self.analysis_error})" if self.analysis_error else ""
            raise NotAnalysedError(
                f"ensemble {self.id} has not been analysed yet{why}: POST /api/ensembles/{self.id}/analyze, "
                "then poll GET /api/jobs/{job_id} until it is done"
            )
        return analysis

    def _channels(self, analysis: dict) -> list[EnsembleChannel]:
        return [
            EnsembleChannel(
                index=int(c["index"]),
                member=c["member"],
                dim=int(c["dim"]),
                beta=c.get("beta"),
                seed=c.get("seed"),
                info_bits=_finite(info),
                active=bool(active),
            )
            for c, info, active in zip(analysis["channels"], analysis["info_bits"], analysis["active"])
        ]

    def similarity(self) -> EnsembleSimilarity:
        analysis = self._require_analysis()
        hotspots = analysis["hotspots"]
        nmi = _clipped(analysis["nmi"], pairwise=True)
        nmi_factor = _clipped(analysis["nmi_factor"], pairwise=False) if analysis.get("nmi_factor") else None
        return EnsembleSimilarity(
            ensemble=self.id,
            channels=self._channels(analysis),
            nmi=_matrix(nmi.values),
            nmi_clipping=_clipping(nmi),
            vi=_matrix(analysis["vi"]),
            distance=hotspots["distance"],
            min_samples=int(hotspots["min_samples"]),
            clustered=[int(c) for c in hotspots["channels"]],
            ordering=[int(c) for c in hotspots["ordering"]],
            reachability=[_finite(r) for r in hotspots["reachability"]],
            labels=[int(label) for label in hotspots["labels"]],
            factor_names=list(analysis.get("factor_names") or []),
            nmi_factor=_matrix(nmi_factor.values) if nmi_factor else None,
            nmi_factor_clipping=_clipping(nmi_factor) if nmi_factor else None,
        )

    def hotspots(self) -> EnsembleHotspots:
        """Each hotspot's channels and the factor they follow (mean channel-factor NMI,
        :mod:`latentatlas.evaluation.hotspot_factors`); derived once per analysis."""
        analysis = self._require_analysis()
        cached = self._hotspots
        if cached is not None and cached[0] is analysis:
            return cached[1]
        factor_names = list(analysis.get("factor_names") or [])
        nmi_factor = analysis.get("nmi_factor")
        factor_matrix = _clipped(nmi_factor, pairwise=False).values if nmi_factor else None
        channels = analysis["channels"]
        out = []
        for cluster in analysis["hotspots"]["clusters"]:
            members = [int(c) for c in cluster["channels"]]
            factor_nmi: dict[str, float | None] = {}
            best = None
            if factor_matrix is not None and factor_matrix.shape[1] == len(factor_names) and members:
                means = hotspot_factor_means(factor_matrix, members)
                factor_nmi = {name: _finite(m) for name, m in zip(factor_names, means)}
                best = best_factor(means, factor_names)
            out.append(
                EnsembleHotspot(
                    label=int(cluster["label"]),
                    channels=members,
                    members=[channels[c]["member"] for c in members],
                    betas=[channels[c].get("beta") for c in members],
                    dims=[int(channels[c]["dim"]) for c in members],
                    mean_info_bits=float(cluster["mean_info_bits"]),
                    best_factor=best[0] if best else None,
                    best_factor_nmi=best[1] if best else None,
                    factor_nmi=factor_nmi,
                    cohesion=cluster.get("cohesion"),
                    beats_untrained_null=cluster.get("beats_untrained_null"),
                )
            )
        null = analysis.get("untrained_null") or {"nulls": {}}
        hotspots = EnsembleHotspots(
            ensemble=self.id,
            distance=analysis["hotspots"]["distance"],
            min_samples=int(analysis["hotspots"]["min_samples"]),
            factor_names=factor_names,
            hotspots=out,
            untrained_null_rule=null.get("rule"),
            untrained_nulls=[
                UntrainedNull(
                    name=name,
                    description=entry["description"],
                    cross_member_nmi_p95=entry["cross_member_nmi_p95"],
                    active_channels=int(entry["active_channels"]),
                    hotspots=len(entry["hotspots"]),
                )
                for name, entry in null["nulls"].items()
            ],
        )
        self._hotspots = (analysis, hotspots)
        return hotspots

    # -- analysis job ------------------------------------------------------------------------
    def analyze_work(
        self, distance: Literal["nmi", "vi"], min_samples: int | None, state_dir: Path | None = None
    ) -> Callable[[Callable[[float, str], None]], EnsembleAnalysisSummary]:
        """The work of an analysis job: checked now (InputError), run later in the job's thread.

        It re-reads the manifest (members may have finished since start-up), runs
        ``analyze_ensemble`` into ``runs/analysis-<time>/`` beside the shipped analysis.json
        (never over it; in ``state_dir`` when the folder is read-only) and serves the new analysis from then on.
        """
        if not self.finished_members():
            raise InputError(f"ensemble {self.id} has no finished member to analyse")

        def work(progress: Callable[[float, str], None]) -> EnsembleAnalysisSummary:
            from latentatlas.evaluation.ensemble import analyze_ensemble  # torch: not at start-up

            with self._lock:
                run = run_path(self.folder, "analysis", state_dir=state_dir)
                analysis = analyze_ensemble(
                    self.folder,
                    distance=distance,
                    min_samples=min_samples,
                    progress=False,
                    on_progress=progress,
                    dest=run,
                )
                self.analysis, self.analysis_error = self._check_analysis(analysis, run), None
                log.info("ensemble %s: analysis run written to %s", self.id, run)
                self.refresh()  # the statuses the analysis saw; serve members that finished since start-up
            return EnsembleAnalysisSummary(
                ensemble=self.id,
                members=len(analysis["members"]),
                channels=len(analysis["channels"]),
                active=int(sum(bool(a) for a in analysis["active"])),
                hotspots=len(analysis["hotspots"]["clusters"]),
                skipped=len(analysis["skipped_members"]),
                seconds=analysis.get("seconds"),
            )

        return work
