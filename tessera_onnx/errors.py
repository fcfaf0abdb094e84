"""Error types raised by tessera-onnx.

Every error the library raises on purpose is a :class:`TesseraError`, so callers can
catch one type. Messages say what went wrong *and* what to do about it.
"""

from __future__ import annotations

__all__ = [
    "TesseraError",
    "ModelNotFoundError",
    "RegistryError",
    "ArtifactError",
    "ChecksumError",
    "InvalidInputError",
    "InvalidArgumentError",
    "UnknownOptionError",
    "UnsupportedDimensionError",
    "InvalidImageError",
    "InvalidDocumentError",
    "HierarchyError",
    "UnknownNodeError",
    "ProviderUnavailableError",
    "UnsupportedBackendError",
    "MissingDependencyError",
    "DuplicateIdError",
    "UnknownIdError",
    "IndexStoreError",
    "ExportError",
    "ParityError",
    "OverloadedError",
    "QueueTimeoutError",
    "ShuttingDownError",
    "SlowClientError",
    "LimitExceededError",
    "TesseraWarning",
    "ProviderWarning",
    "TruncationWarning",
    "DimensionWarning",
]


class TesseraError(Exception):
    """Base class of every error raised by tessera-onnx."""


class RegistryError(TesseraError):
    """``models.json`` is malformed: a duplicate id, a missing field, an impossible value."""


class ModelNotFoundError(TesseraError, KeyError):
    """A model id is neither in the registry nor a local artifact."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ArtifactError(TesseraError):
    """An artifact directory is missing, incomplete, or its manifest is invalid."""


class ChecksumError(ArtifactError):
    """A file of an artifact does not match the sha256/size recorded in its manifest."""


class InvalidInputError(TesseraError, ValueError):
    """The caller passed input the model cannot take (wrong type, shape, value)."""


class InvalidArgumentError(InvalidInputError, TypeError):
    """A call does not match the signature: too many positional arguments, a missing one, or an
    argument of the wrong type. Also a ``TypeError``, as Python raises for such calls."""


class UnknownOptionError(InvalidArgumentError):
    """A keyword argument the called function or class does not take; the message lists those it does.

    The message names the public function, method or class (never a private helper).
    """


class UnsupportedDimensionError(InvalidInputError):
    """A requested output dimension (e.g. Matryoshka truncation) is not offered by the model."""


class InvalidImageError(InvalidInputError):
    """An image input cannot be used: missing file, not an image, truncated, too large, zero-size.

    ``index`` is the position of the offending input in the call (0 for a single image).
    """

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class InvalidDocumentError(InvalidImageError):
    """A document (PDF) cannot be rendered: corrupt, encrypted without the password, or without pages.

    ``index`` is the position of the document in the call's inputs.
    """


class HierarchyError(InvalidInputError):
    """A hierarchy (edge list) is unusable: it has a cycle, a self-loop, or no edges."""


class UnknownNodeError(InvalidInputError, KeyError):
    """A node name is not in the hierarchy an embedding was trained on."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ProviderUnavailableError(TesseraError):
    """A requested onnxruntime execution provider is not installed or cannot start."""


class UnsupportedBackendError(ProviderUnavailableError):
    """The chosen inference backend (e.g. OpenVINO) cannot run this artifact's graphs; the message says why."""


class MissingDependencyError(TesseraError, ImportError):
    """An optional dependency is needed for this feature; the message says what to install."""


class DuplicateIdError(InvalidInputError):
    """One batch given to an index names the same id twice (or ``add`` names an id already stored)."""


class UnknownIdError(InvalidInputError, KeyError):
    """An index operation names an id the index does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class IndexStoreError(ArtifactError):
    """A saved index file is missing, truncated, corrupted (checksum mismatch) or of an unknown version."""


class ExportError(TesseraError):
    """The export toolchain could not convert a model."""


class ParityError(ExportError):
    """The exported graph does not reproduce the torch model within tolerance."""


class OverloadedError(TesseraError):
    """The serving engine's queue for a model is full; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueueTimeoutError(OverloadedError):
    """A request waited longer than the server's queue timeout and was refused instead of run late."""


class ShuttingDownError(OverloadedError):
    """The server is shutting down: it finishes the requests it accepted and takes no new ones."""


class SlowClientError(TesseraError):
    """The client did not send its request body within the server's body timeout (HTTP 408)."""


class LimitExceededError(InvalidInputError):
    """A request is larger than a configured serving limit (inputs, tokens, body bytes)."""


class TesseraWarning(UserWarning):
    """Base class of the warnings tessera-onnx issues (filter them with ``warnings``)."""


class ProviderWarning(TesseraWarning):
    """A requested execution provider is missing or was dropped; the run falls back to another."""


class TruncationWarning(TesseraWarning):
    """Some texts were longer than the model's maximum length and were truncated."""


class DimensionWarning(TesseraWarning):
    """Vectors were truncated to a dimension the model was not trained for (not a Matryoshka size)."""
