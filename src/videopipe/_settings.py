"""Settings read from the environment (the variables of the worker's deployment table)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ._locations import is_url, local_path
from ._scratch import default_scratch_root
from ._secrets import passwords_in, redact, redact_url, register_secret

__all__ = ["Settings", "redact_url"]

_SECRET_OPTION = re.compile(r"key|secret|token|password|credential|sas|connection", re.IGNORECASE)
"""Storage options whose values are masked (`secret`, `token`, `account_key`, ...)."""

LogLevel = Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]


class Settings(BaseSettings):
    """videopipe's configuration, read from environment variables (and an optional `.env` file).

    Every field is read from the environment variable of the same name in upper
    case (`DATABASE_URL`, `OPENAI_API_KEY`, ...). Keyword arguments override the
    environment:

    ```python
    settings = Settings(data_dir="/srv/videos", vision_max_concurrent=8)
    ```

    Secrets never show: the API key is a `pydantic.SecretStr` (call
    `.get_secret_value()` where the real value is needed), and the database
    password, in any DSN form (`postgresql://user:pw@host/db`, `?password=`,
    `host=... password=...`), is masked in the `repr`, in `videopipe settings`
    and in videopipe's logs.

    Note:
        Added in 0.1.0.
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    database_url: str = Field(
        default="sqlite:///videopipe.db",
        description="Where the store lives: `sqlite:///path.db`, `postgresql://…` or `memory://`.",
    )
    openai_api_key: SecretStr | None = Field(
        default=None, description="API key for the OpenAI (or OpenAI-compatible) provider."
    )
    openai_base_url: str | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible server (vLLM, Ollama, LocalAI, ...).",
    )
    data_dir: Path | str = Field(
        default=Path("data"),
        description=(
            "Root of the file layout (`uploads/`, `processed/{id}/`, `subs/`, `frames/{id}/`): "
            "a local directory, or a bucket prefix (`s3://bucket/videopipe/`, `gs://…`, "
            "`az://…`) shared by workers on many machines. "
            "The reference container sets `DATA_DIR=/app/data`."
        ),
    )
    scratch_dir: Path = Field(
        default_factory=default_scratch_root,
        description=(
            "Local directory where stages keep the files their tools need on disk (downloads "
            "of media in a bucket, outputs before upload); each stage's files are removed when "
            "it ends, and what a killed process left is removed by the next one. Default: "
            "`videopipe-scratch` in the system's temporary directory."
        ),
    )
    scratch_max_mb: int = Field(
        default=10240,
        gt=0,
        description=(
            "Most scratch space, in MiB, one pipeline's downloads hold at once: a stage waits "
            "for room, and a single file larger than this fails with `ScratchFull`."
        ),
    )
    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Options for the object store's filesystem, as JSON (`fsspec` storage options, "
            'such as `{"endpoint_url": "http://minio:9000"}` for `s3fs`). Credentials are '
            "better left to the usual variables (`AWS_ACCESS_KEY_ID`, ...); values given here "
            "are masked like passwords."
        ),
    )
    presign_expiry_sec: int = Field(
        default=3600,
        gt=0,
        description=(
            "Seconds a presigned link to media in a private bucket (in reports and search "
            "hits) stays valid."
        ),
    )
    worker_poll_ms: int = Field(
        default=1500, gt=0, description="Idle polling interval of a worker, in milliseconds."
    )
    worker_max_attempts: int = Field(
        default=3, ge=1, description="Attempts per job before it goes to the dead-letter queue."
    )
    worker_max_rss_mb: int = Field(
        default=2048,
        gt=0,
        description=(
            "Memory ceiling of one worker process, in MiB of resident memory: above it the "
            "worker claims no new job (and exits when it runs none, for its supervisor to "
            "restart it), and normalize refuses an input whose frames alone would pass it "
            "(`InputTooLarge`). The default follows the seeds' rule of 2 GB a worker."
        ),
    )
    run_lease_sec: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Seconds a pipeline's hold on a running video lasts in the store unless renewed "
            "(every third of it): a second process given the same video waits for the run, "
            "and a killed process blocks the video no longer than this."
        ),
    )
    log_level: LogLevel = Field(default="INFO", description="Logging level.")
    worker_dev_http: bool = Field(
        default=False, description="Serve `/healthz`, `/jobs/peek`, `/stats` and `/metrics`."
    )
    worker_http_port: int = Field(
        default=8000, ge=0, le=65535, description="Port of the worker's HTTP endpoints."
    )
    vision_max_concurrent: int = Field(
        default=5,
        ge=1,
        description=(
            "Most vision calls in flight at once, across the event loop's videos; the "
            "adaptive limit lowers it while the provider answers 429, then grows back to it."
        ),
    )
    transcribe_max_concurrent: int = Field(
        default=16,
        ge=1,
        description=(
            "Most transcription requests in flight at once, across the event loop's videos "
            "(the cap of the adaptive limit)."
        ),
    )
    embed_max_concurrent: int = Field(
        default=32,
        ge=1,
        description=(
            "Most embedding requests in flight at once, across the event loop's videos "
            "(the cap of the adaptive limit)."
        ),
    )
    provider_retry_budget_sec: float = Field(
        default=300.0,
        gt=0,
        description=(
            'Seconds one provider request may spend waiting on "slow down" answers (HTTP 429, '
            "or 503 with Retry-After) before its stage fails with `RateLimited`."
        ),
    )
    provider_rpm: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Requests per minute allowed to each model of the provider, across every worker "
            "sharing the store (`DATABASE_URL`); off by default. Per model: `PROVIDER_MODEL_RPM`."
        ),
    )
    provider_tpm: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Tokens per minute allowed to each model of the provider (vision and embeddings), "
            "across every worker sharing the store; off by default. Per model: "
            "`PROVIDER_MODEL_TPM`."
        ),
    )
    provider_account_rpm: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Requests per minute allowed to the provider account (the API key) as a whole, "
            "every model together, across every worker sharing the store; off by default. "
            "Applies on top of the per-model limits."
        ),
    )
    provider_account_tpm: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Tokens per minute allowed to the provider account as a whole, every model "
            "together; off by default. Applies on top of the per-model limits."
        ),
    )
    provider_model_rpm: dict[str, float] = Field(
        default_factory=dict,
        description=(
            'Requests per minute by model, as JSON (`{"gpt-4o": 500, "whisper-1": 50}`); '
            "overrides `PROVIDER_RPM` for those models."
        ),
    )
    provider_model_tpm: dict[str, float] = Field(
        default_factory=dict,
        description=(
            'Tokens per minute by model, as JSON (`{"gpt-4o": 30000}`); overrides '
            "`PROVIDER_TPM` for those models."
        ),
    )
    provider_rate_window_sec: float = Field(
        default=60.0,
        gt=0,
        description=(
            "The window the RPM and TPM limits count over, in seconds: 60 for per-minute "
            "limits (shorter only to test them quickly)."
        ),
    )
    max_input_duration_sec: float = Field(
        default=4 * 3600,
        gt=0,
        description=(
            "Longest input, in seconds of probed timestamps, the pipeline accepts; a longer "
            "(or lying: two frames ten hours apart) file fails with `InputTooLarge`."
        ),
    )
    max_decoded_frames: int = Field(
        default=500_000,
        gt=0,
        description=(
            "Most frames one input may make the pipeline decode or write (its duration at the "
            "normalized frame rate, checked before normalizing, and counted during detection)."
        ),
    )
    max_input_pixels: int = Field(
        default=7680 * 4320,
        gt=0,
        description="Largest frame (width x height) of an input: 8K UHD by default.",
    )
    max_output_bytes: int = Field(
        default=8 * 1024**3,
        gt=0,
        description="Largest normalized file one input may produce; FFmpeg stops at it.",
    )
    stage_timeout_sec: float = Field(
        default=2 * 3600,
        gt=0,
        description=(
            "Wall-clock limit of one stage on one video; past it the stage is cancelled and "
            "fails with `StageTimeout`."
        ),
    )
    scene_min_len_sec: float = Field(
        default=0.5,
        gt=0,
        description=(
            "Shortest scene, in seconds: no two scene boundaries are closer. PySceneDetect's "
            "`min_scene_len` counts frames (15 by default, 0.5 s at 30 fps); this is the same "
            "limit at the normalized frame rate."
        ),
    )
    provider: str = Field(
        default="auto",
        validation_alias=AliasChoices("VIDEOPIPE_PROVIDER", "provider"),
        pattern=r"^[a-z][a-z0-9_.-]*$",
        description=(
            "The AI provider: `openai`, `local`, `none` (skip the AI stages), `auto` "
            "(OpenAI with a key or base URL, else the local models when the `local` extra "
            "is installed, else none), or the name of a registered provider "
            "(`videopipe.providers.register_provider`, or the `videopipe.providers` entry "
            "point group)."
        ),
    )
    whisper_model: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("VIDEOPIPE_WHISPER_MODEL", "whisper_model"),
        description="A faster-whisper model directory for the local provider (default: tiny.en).",
    )
    ffmpeg: str | None = Field(
        default=None,
        validation_alias=AliasChoices("VIDEOPIPE_FFMPEG", "ffmpeg"),
        description="FFmpeg binary; by default `ffmpeg` on PATH, then imageio-ffmpeg's.",
    )

    @field_validator("data_dir", mode="before")
    @classmethod
    def _data_dir(cls, value: object) -> object:
        # A bucket URL stays a string (a `Path` would fold `s3://` into `s3:/`); anything
        # else is a local directory, a `file://` URL included.
        if isinstance(value, str):
            return value if is_url(value) else local_path(value)
        return value

    @field_validator("provider_model_rpm", "provider_model_tpm")
    @classmethod
    def _positive_limits(cls, value: dict[str, float]) -> dict[str, float]:
        for model, limit in value.items():
            if not limit > 0:
                raise ValueError(f"the limit of {model!r} must be positive, not {limit!r}")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _register_secrets(self) -> Self:
        # So that logs and messages mask these values wherever they show up, whatever their shape.
        if self.openai_api_key is not None:
            register_secret(self.openai_api_key.get_secret_value())
        for url in (self.database_url, self.openai_base_url or ""):
            for password in passwords_in(url):
                register_secret(password)
        for key, value in self.storage_options.items():
            if isinstance(value, str) and _SECRET_OPTION.search(key):
                register_secret(value)
        return self

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if isinstance(value, dict):
                value = {k: redact(v) if isinstance(v, str) else v for k, v in value.items()}
            yield name, redact(value) if isinstance(value, str) else value

    @property
    def log_level_number(self) -> int:
        """The numeric `logging` level of `log_level`."""
        return logging.getLevelNamesMapping()[self.log_level]
