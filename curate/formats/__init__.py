"""Format adapters (readers) and writers. Importing this package registers every format."""

from . import chat, flat, nested  # noqa: F401  (registration side effects)
from .base import FORMATS, FieldError, Format
from .detect import detect_format
from .writers import WRITERS

__all__ = ["FORMATS", "FieldError", "Format", "detect_format", "WRITERS"]
