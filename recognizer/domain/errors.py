"""The domain's own errors. Each door turns them into its protocol's answer (``api/predicting.py`` for HTTP)."""


class DomainError(Exception):
    """Base: a stable machine-readable ``code`` and a message for people."""

    code = "error"

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ImageRejected(DomainError):
    """An image the models cannot be asked about: not an image, unsupported, too large, nothing drawn.

    ``index`` is the item's place in a batch (None for a single image)."""

    code = "invalid_image"

    def __init__(self, message, code=None, index=None):
        super().__init__(message, code)
        self.index = index


class IdempotencyConflict(DomainError):
    """The Idempotency-Key was already used for different drawings, or by another drawer."""

    code = "idempotency_key_reused"


class ModelsUnavailable(DomainError):
    """The models could not be loaded (missing or mismatched files)."""

    code = "models_unavailable"


class DatabaseUnavailable(DomainError):
    """The database cannot be reached; nothing was stored."""

    code = "database_unavailable"
