"""A neonize worker process with engine options: ``run_neonize_worker.py '{"connect_timeout": 3}'``.

Reads the same environment as ``waorch worker`` (``SESSION_ID``, ``WEBHOOK_URL``, ``WEBHOOK_KEY``,
``AUTH_DIR``, ``PROXY_URL``, ...) and runs the real engine with the real emitter; only the command
endpoint and pings are left out. It exists because the worker's settings do not carry engine
options, and a test cannot wait out the default connect bound.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys

from waorch.config import load_worker_settings
from waorch.worker.emitter import Emitter
from waorch.worker.engine import EngineConfig
from waorch.worker.main import EXIT_CODES, prepare_auth_dir


async def run(options: dict[str, object]) -> int:
    """Run the engine until it ends; the worker's exit code for its reason."""
    settings = load_worker_settings(os.environ)
    prepare_auth_dir(settings)
    from waorch.worker.neonize_engine import NeonizeEngine

    engine = NeonizeEngine(EngineConfig(
        session_id=settings.session_id, auth_dir=settings.auth_dir,
        proxy_url=settings.proxy_url.url if settings.proxy_url else None, options=options,
    ))
    emitter = Emitter(settings.webhook_url, settings.webhook_key, settings.session_id, settings.generation)
    await emitter.start()
    try:
        reason = await engine.run(emitter)
    finally:
        await emitter.close()
    return EXIT_CODES.get(reason, 1)


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(asyncio.run(run(json.loads(sys.argv[1]))))
