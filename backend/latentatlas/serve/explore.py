"""``latentatlas.explore``: a researcher's in-memory encoder (and decoder) in the full app, from a
notebook or a script, with nothing written to a models folder.

The model is probed and measured first (:func:`~latentatlas.evaluation.in_memory.in_memory_model`:
a bad encoder or decoder is a ValueError before anything is served), the port is bound (an
OSError naming the port when it is taken), then the app runs in uvicorn on a background thread
of this process, so the session's own modules serve the requests. What the server makes (metrics
runs) goes to a temporary folder, removed by :meth:`ExploreServer.close`.
"""

from __future__ import annotations

import errno
import logging
import math
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType

import torch
import uvicorn
from fastapi import FastAPI

from latentatlas.config import Settings
from latentatlas.data.spec import DatasetSpec
from latentatlas.evaluation.in_memory import in_memory_model
from latentatlas.export.onnx import PART_NAMES, OnnxCache, OnnxExport
from latentatlas.families.python_model import TensorFunction, function_name, slug
from latentatlas.serve.app import create_app
from latentatlas.serve.registry import ModelRegistry
from latentatlas.serve.services.core import ModelService
from latentatlas.store.folders import LoadedModel

log = logging.getLogger("latentatlas.serve")

HOST = "127.0.0.1"
"""The only interface served: the session's code runs every request, so only this machine may send them."""

PROCEDURAL_DATASETS = ("dsprites", "shapes3d")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10


def dataset_spec(dataset: str | Path | DatasetSpec | None, image_size: int) -> DatasetSpec:
    """``dataset`` as a spec: a procedural set's name at ``image_size``, a folder of images (RGB)
    at ``image_size``, or a :class:`DatasetSpec` as it is; None is dSprites."""
    if isinstance(dataset, DatasetSpec):
        return dataset
    if dataset is None or dataset in PROCEDURAL_DATASETS:
        return DatasetSpec(name=dataset or "dsprites", image_size=image_size)
    if not Path(dataset).is_dir():
        known = ", ".join(PROCEDURAL_DATASETS)
        raise ValueError(f"dataset {str(dataset)!r} is not one of {known} nor a folder of images")
    return DatasetSpec(name="folder", path=str(dataset), image_size=image_size)


def listening_socket(port: int) -> socket.socket:
    """A socket bound to ``HOST:port`` (0: a free port); an OSError naming the port when it is taken
    (or cannot be bound)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a closed server's port is free
    try:
        sock.bind((HOST, port))
    except OSError as error:
        sock.close()
        verdict = "is taken" if error.errno == errno.EADDRINUSE else "cannot be bound"
        raise OSError(
            error.errno,
            f"port {port} on {HOST} {verdict} ({error.strerror}): pass another port=, or port=0 for any free one",
        ) from None
    return sock


class InMemoryExports(OnnxCache):
    """The app's ONNX export cache, but for the in-memory model, whose graphs are not exported
    (an export rebuilds a model from its folder): the manifest says so, and the app decodes
    with the session's decoder on the server."""

    REASON = "the model is held in memory by a Python session (latentatlas.explore): its code decodes, on the server"

    def __init__(self, cache_dir: Path, loaded: LoadedModel) -> None:
        super().__init__(cache_dir)
        self.loaded = loaded

    def get(self, model_folder: Path) -> OnnxExport:
        if model_folder != self.loaded.folder:
            return super().get(model_folder)
        net = self.loaded.config.model.net
        return OnnxExport(
            digest="",
            opset=None,
            latent_dim=self.loaded.config.model.latent_dim,
            image_shape=[net.channels, net.image_size, net.image_size],
            unavailable=dict.fromkeys(PART_NAMES, self.REASON),
        )


def serve_in_memory(app: FastAPI, model_id: str, loaded: LoadedModel) -> None:
    """Add the in-memory model to ``app``'s registry at start-up, after the app's own start-up
    (its lifespan) has made the registry, and say why its graphs are not exported."""
    app.state.onnx = InMemoryExports(app.state.onnx.cache_dir, loaded)
    startup = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with startup(app):
            registry: ModelRegistry = app.state.registry
            registry.add(model_id, ModelService(loaded, loaded.model.device, model_id, registry.admission))
            yield

    app.router.lifespan_context = lifespan


def uvicorn_server(settings: Settings, model_id: str, loaded: LoadedModel) -> uvicorn.Server:
    """The app of ``settings`` serving the in-memory model too, in a uvicorn server configured as
    ``latentatlas serve`` configures its own (quiet: warnings only)."""
    app = create_app(settings)
    serve_in_memory(app, model_id, loaded)
    return uvicorn.Server(
        uvicorn.Config(
            app,
            ws_max_size=1 << 20,
            limit_concurrency=settings.max_connections,
            timeout_keep_alive=math.ceil(settings.keep_alive_seconds),
            timeout_graceful_shutdown=STOP_TIMEOUT_S,
            log_level="warning",
        )
    )


class ExploreServer:
    """The app serving an in-memory model on a background thread: ``url``, ``model_id``, ``close()``
    (stops the server, frees the port, removes the temporary folder); a context manager."""

    def __init__(
        self, server: uvicorn.Server, sock: socket.socket, workdir: tempfile.TemporaryDirectory, model_id: str
    ) -> None:
        self._server, self._socket, self._workdir = server, sock, workdir
        self.model_id = model_id
        self.port: int = sock.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}/"
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"latentatlas-{self.port}", daemon=True
        )

    def start(self) -> ExploreServer:
        """Start serving; returns once the server answers (a RuntimeError if it stopped instead)."""
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"the server on port {self.port} did not start (see the latentatlas.serve log)")
            time.sleep(0.01)
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self) -> None:
        """Serve until Ctrl-C (KeyboardInterrupt) or :meth:`close`, then close."""
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def close(self) -> None:
        """Stop the server (open connections get ``STOP_TIMEOUT_S`` to finish), free the port and
        remove the temporary folder. Closing twice does nothing."""
        self._server.should_exit = True
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(STOP_TIMEOUT_S)
        self._socket.close()
        self._workdir.cleanup()

    def __enter__(self) -> ExploreServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<latentatlas explore {self.model_id} at {self.url}{'' if self.running else ' (closed)'}>"


def explore(
    encoder: TensorFunction,
    decoder: TensorFunction | None = None,
    *,
    dataset: str | Path | DatasetSpec | None = None,
    port: int = 8000,
    block: bool = True,
    image_size: int = 64,
    name: str | None = None,
    models_dir: Path | None = None,
) -> ExploreServer | None:
    """Serve ``encoder`` (images (N, C, S, S) in [0, 1] -> latents (N, D)) and optionally
    ``decoder`` (latents -> images) in the full app at ``http://127.0.0.1:PORT/``.

    Both are tensor-in, tensor-out callables or ``torch.nn.Module``s, run in this process on their
    own device; modules are put in eval mode. ``dataset`` is ``"dsprites"`` (default),
    ``"shapes3d"`` (each at ``image_size`` pixels), a folder of images or a ``DatasetSpec``.
    ``name`` is the model's id (default: the encoder's name); ``models_dir`` also serves that
    folder's models (by default none are). ``block=True`` serves until Ctrl-C; ``block=False``
    returns an :class:`ExploreServer` (``.url``, ``.close()``, a context manager).

    Raises ValueError for a bad encoder, decoder or dataset (what is wrong, before serving) and
    OSError when the port is taken (``port=0`` picks a free one).
    """
    spec = dataset_spec(dataset, image_size)
    model_id = slug(name or function_name(encoder))
    if models_dir is not None and (Path(models_dir) / model_id).exists():
        raise ValueError(f"{models_dir} already has a model {model_id!r}: pass another name=")
    workdir = tempfile.TemporaryDirectory(prefix="latentatlas-explore-")
    root, sock = Path(workdir.name), None
    try:
        (root / model_id).mkdir()
        (root / "models").mkdir()  # the default models folder: served, empty
        loaded = in_memory_model(encoder, decoder, spec, root / model_id)
        sock = listening_socket(port)
        settings = Settings(
            host=HOST,
            port=sock.getsockname()[1],
            models_dir=Path(models_dir or root / "models"),
            onnx_cache_dir=root / "onnx",
            torch_threads=torch.get_num_threads(),
        )
        server = uvicorn_server(settings, model_id, loaded)
    except BaseException:
        if sock is not None:
            sock.close()
        workdir.cleanup()
        raise
    handle = ExploreServer(server, sock, workdir, model_id).start()
    log.info("exploring %s at %s", model_id, handle.url)
    if not block:
        return handle
    print(f"Latent Atlas: exploring {model_id} at {handle.url} (Ctrl-C stops)")
    handle.wait()
    return None
