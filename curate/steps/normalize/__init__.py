"""`normalize.*`: rewrite records' text in place (mojibake, Unicode form, whitespace) without dropping any."""

from . import text  # noqa: F401  (importing a module registers its step)
