"""``tessera serve``: the HTTP embedding server (needs ``pip install 'tessera-onnx[serve]'``)."""

from __future__ import annotations

import os

import click

from . import main

__all__ = ["serve_command"]


def _model_config(spec: str, keep_alive: float | None, threads: int | None, device: str) -> object:
    from ..serving.pool import ModelConfig

    name, sep, path = spec.partition("=")
    if not sep:
        name, path = "", spec
    options = {"device": device}
    if threads is not None:
        options["threads"] = threads
    return ModelConfig(path, name=name or None, keep_alive=keep_alive, preload=True, options=options)


@main.command("serve")
@click.argument("artifacts", nargs=-1)
@click.option(
    "--config", "config_path", type=click.Path(exists=True, dir_okay=False), help="JSON/TOML settings file."
)
@click.option("--host", default=None, help="Interface to bind (default 127.0.0.1: this machine only).")
@click.option("--port", type=int, default=None, help="Port (default 8000).")
@click.option(
    "--api-key", default=None, help="Require 'Authorization: Bearer KEY' (default: $TESSERA_API_KEY)."
)
@click.option("--threads", type=int, default=None, help="onnxruntime threads per model (default: all cores).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N, coreml.")
@click.option("--keep-alive", type=float, default=None, help="Unload a model after this many idle seconds.")
@click.option(
    "--memory-budget-mb", type=float, default=None, help="Evict least recently used models above this."
)
@click.option(
    "--max-body-mb", type=float, default=None, help="Largest request body (default 4 MiB; 413 above)."
)
@click.option(
    "--max-inputs", type=int, default=None, help="Most inputs per request (default 2048; 413 above)."
)
@click.option(
    "--max-request-tokens", type=int, default=None, help="Most tokens per request (default 131072)."
)
@click.option("--batch-tokens", type=int, default=None, help="Padded tokens per batch (default 1024).")
@click.option(
    "--max-queue-tokens", type=int, default=None, help="Queued tokens per model before 429 (default 262144)."
)
@click.option(
    "--batch-window-ms",
    type=float,
    default=None,
    help="How long a batch waits for more requests (default 2).",
)
@click.option(
    "--batch-concurrency",
    type=int,
    default=None,
    help="Batches of one model running at once (default 1; e.g. 2 with --threads 1 on 2 cores).",
)
@click.option(
    "--max-in-flight",
    type=int,
    default=None,
    help="Requests served at once; more get 429 before their body is read (default 512; 0 = no limit).",
)
@click.option(
    "--max-in-flight-tokens",
    type=int,
    default=None,
    help="Tokens in flight, estimated as body bytes / 4, before 429 (default 1048576; 0 = no limit).",
)
@click.option(
    "--queue-timeout",
    "queue_timeout_s",
    type=float,
    default=None,
    help="Refuse (503) a request still waiting this many seconds after it arrived (default 0 = off).",
)
@click.option(
    "--max-per-client",
    type=int,
    default=None,
    help="Requests in flight from one client address before 429 (default 128; 0 = no limit).",
)
@click.option(
    "--header-timeout",
    "header_timeout_s",
    type=float,
    default=None,
    help="Close a connection whose request headers are incomplete after this many seconds (default 10).",
)
@click.option(
    "--keep-alive-timeout",
    "keep_alive_timeout_s",
    type=float,
    default=None,
    help="Close a connection idle this many seconds between requests (default 15; clients should "
    "expire idle connections sooner).",
)
@click.option(
    "--body-timeout",
    "body_timeout_s",
    type=float,
    default=None,
    help="408 for a request body still incomplete this many seconds after its headers (default 10).",
)
@click.option(
    "--shutdown-timeout",
    "shutdown_timeout_s",
    type=float,
    default=None,
    help="On SIGTERM, how long admitted requests may take to finish while new ones get 503 (default 30).",
)
@click.option("--log-level", default="info", show_default=True)
def serve_command(
    artifacts: tuple[str, ...],
    config_path: str | None,
    host: str | None,
    port: int | None,
    api_key: str | None,
    threads: int | None,
    device: str,
    keep_alive: float | None,
    memory_budget_mb: float | None,
    max_body_mb: float | None,
    max_inputs: int | None,
    max_request_tokens: int | None,
    batch_tokens: int | None,
    max_queue_tokens: int | None,
    batch_window_ms: float | None,
    batch_concurrency: int | None,
    max_in_flight: int | None,
    max_in_flight_tokens: int | None,
    queue_timeout_s: float | None,
    max_per_client: int | None,
    header_timeout_s: float | None,
    keep_alive_timeout_s: float | None,
    body_timeout_s: float | None,
    shutdown_timeout_s: float | None,
    log_level: str,
) -> None:
    """Serve ARTIFACTS (directories or ids, optionally NAME=PATH) over HTTP.

    OpenAI-compatible POST /v1/embeddings (texts; images for image-text models; time series,
    "modality": "series", for time-series models) and GET
    /v1/models; text-embeddings-inference routes /embed, /embed_sparse, /embed_all,
    /similarity, /rerank; /pages/embed, /pages/queries, /pages/search (ColPali family);
    /forecast; /health; /metrics. SIGTERM drains: admitted requests finish, new ones get 503.
    """
    from ..errors import TesseraError
    from ..serving.config import ServerSettings, load_settings, with_overrides

    try:
        settings = load_settings(config_path) if config_path else ServerSettings()
        extra = [_model_config(a, keep_alive, threads, device) for a in artifacts]
        settings = with_overrides(
            settings,
            models=[*settings.models, *extra],
            host=host,
            port=port,
            api_key=api_key or os.environ.get("TESSERA_API_KEY") or None,
            memory_budget_mb=memory_budget_mb,
            max_body_mb=max_body_mb,
            max_inputs=max_inputs,
            max_request_tokens=max_request_tokens,
            batch_tokens=batch_tokens,
            max_queue_tokens=max_queue_tokens,
            batch_window_ms=batch_window_ms,
            batch_concurrency=batch_concurrency,
            max_in_flight=max_in_flight,
            max_in_flight_tokens=max_in_flight_tokens,
            queue_timeout_s=queue_timeout_s,
            max_per_client=max_per_client,
            header_timeout_s=header_timeout_s,
            keep_alive_timeout_s=keep_alive_timeout_s,
            body_timeout_s=body_timeout_s,
            shutdown_timeout_s=shutdown_timeout_s,
        )
        if not settings.models:
            raise click.UsageError("nothing to serve: pass artifact directories or --config FILE")
        from ..serving.server import run_server

        run_server(settings, log_level=log_level)
    except TesseraError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command("bundle")
@click.argument("artifact", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out", required=True, type=click.Path(), help="New directory to build the bundle in.")
@click.option("--zip", "zip_path", type=click.Path(dir_okay=False), default=None, help="Also write this zip.")
@click.option(
    "--from-env",
    is_flag=True,
    help="Copy the installed numpy/onnxruntime/tokenizers/click instead of pip install --target (offline).",
)
@click.option("--no-strip", is_flag=True, help="Keep symbol tables in shared libraries.")
@click.option(
    "--pip-arg",
    "pip_args",
    multiple=True,
    help="Extra pip option, repeatable (e.g. --pip-arg=--platform --pip-arg=manylinux2014_x86_64).",
)
def bundle_command(
    artifact: str, out: str, zip_path: str | None, from_env: bool, no_strip: bool, pip_args: tuple[str, ...]
) -> None:
    """Build a serverless bundle of ARTIFACT (handler tessera_onnx.serving.lambda_handler.handler).

    Prints the unzipped size against Lambda's 262,144,000-byte limit; exits 1 when it does not fit.
    """
    from ..errors import TesseraError
    from ..serving.bundle import build_bundle

    try:
        report = build_bundle(
            artifact,
            out,
            from_environment=from_env,
            strip=not no_strip,
            zip_path=zip_path,
            pip_args=list(pip_args),
        )
    except TesseraError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(report.summary())
    if report.zip_path is not None:
        click.echo(f"zip: {report.zip_path} ({report.zip_path.stat().st_size:,} bytes)")
    if not report.fits_lambda:
        raise SystemExit(1)
