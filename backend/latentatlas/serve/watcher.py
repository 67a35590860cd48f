"""Model folders added to, changed in or removed from the models directory while the server runs:
watched with ``watchfiles`` (inotify where available), each burst of changes answered by one
rescan (in a worker thread), so models appear and disappear without a restart. While a folder is
still being written the watcher looks again every RECHECK_MS even without new events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import anyio
from watchfiles import awatch

log = logging.getLogger("latentatlas.serve")

DEBOUNCE_MS = 400
RECHECK_MS = 2000


async def _watch(
    models_dir: Path, rescan: Callable[[], bool], waiting: Callable[[], bool], stop: asyncio.Event
) -> None:
    async for changes in awatch(
        models_dir, stop_event=stop, debounce=DEBOUNCE_MS, rust_timeout=RECHECK_MS, yield_on_timeout=True
    ):
        if not changes and not waiting():
            continue
        try:
            if await anyio.to_thread.run_sync(rescan):
                log.info("the models folder changed (%d file events): models rescanned", len(changes))
        except Exception:
            log.exception("rescanning the models folder failed")


@asynccontextmanager
async def watching(models_dir: Path, rescan: Callable[[], bool], waiting: Callable[[], bool]) -> AsyncIterator[None]:
    """Call ``rescan`` after every burst of changes under ``models_dir`` (and every RECHECK_MS while
    ``waiting()``) until the context exits; nothing when the folder does not exist."""
    if not models_dir.is_dir():
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(_watch(models_dir, rescan, waiting, stop))
    log.info("watching %s for model folders added or removed", models_dir)
    try:
        yield
    finally:
        stop.set()
        with suppress(asyncio.CancelledError):
            try:
                await asyncio.wait_for(task, timeout=RECHECK_MS / 1000 + 2)
            except TimeoutError:
                log.warning("the models-folder watcher did not stop in time: cancelled")
