"""Decode the words of a vectors file as gensim does, and refuse what gensim would silently change.

gensim decodes each word (each text line) with ``bytes.decode(encoding,
unicode_errors)``. :class:`WordDecoder` does the same, so ``--encoding`` and
``--unicode-errors`` give gensim's ``encoding=`` / ``unicode_errors=`` reading,
but it

- refuses, under ``strict`` (the default), the first word that does not
  decode, with one line naming its row and the flags that would help;
- counts the words the error handler changed (``replaced`` under ``replace``,
  ``skipped`` under ``ignore``: their undecodable bytes were left out);
- refuses a file that starts with a byte-order mark the encoding would keep
  as part of the first word (gensim keeps it: ``'\\ufeffthe'``).

Only encodings that read ASCII bytes as ASCII are accepted: the formats are
split on space, newline and NUL bytes before anything is decoded.
"""

from __future__ import annotations

import codecs

from vecclf.training.errors import VectorFormatError

UNICODE_ERRORS = ("strict", "replace", "ignore")
_ASCII = bytes(range(128))
_WIDE_BOMS = {codecs.BOM_UTF32_LE: "UTF-32", codecs.BOM_UTF32_BE: "UTF-32", codecs.BOM_UTF16_LE: "UTF-16",
              codecs.BOM_UTF16_BE: "UTF-16"}


class WordDecoder:
    """Decode words with one encoding and error handler, counting the words it had to change.

    Raises:
        VectorFormatError: an unknown encoding or handler, or one that does not keep ASCII as ASCII.
    """

    def __init__(self, encoding: str = "utf-8", unicode_errors: str = "strict"):
        try:
            self.encoding = codecs.lookup(encoding).name
        except (LookupError, TypeError) as exc:
            raise VectorFormatError(f"--encoding {encoding!r}: unknown encoding") from exc
        if unicode_errors not in UNICODE_ERRORS:
            raise VectorFormatError(f"--unicode-errors must be one of {', '.join(UNICODE_ERRORS)}, not {unicode_errors!r}")
        try:
            keeps_ascii = _ASCII.decode(self.encoding) == _ASCII.decode("ascii")
        except (UnicodeDecodeError, ValueError, TypeError):
            keeps_ascii = False
        if not keeps_ascii:
            raise VectorFormatError(f"--encoding {encoding}: vector files are split on ASCII spaces and newlines, "
                                    "so their encoding must read ASCII bytes as ASCII (utf-8, latin-1, cp1250...)")
        self.unicode_errors = unicode_errors
        self.replaced = 0
        self.skipped = 0

    def check_start(self, head: bytes, where: str) -> None:
        """Refuse a file whose first bytes are a byte-order mark this encoding would keep."""
        for bom, name in _WIDE_BOMS.items():
            if head.startswith(bom):  # UTF-32 marks come first: they start like UTF-16's
                raise VectorFormatError(f"{where}: the file is {name} (byte-order mark); vector files must use an "
                                        "ASCII-compatible encoding: convert it to UTF-8")
        if head.startswith(codecs.BOM_UTF8) and self.encoding == "utf-8":
            raise VectorFormatError(f"{where}: starts with a UTF-8 byte-order mark that would become part of the "
                                    "first word; use --encoding utf-8-sig")

    def decode(self, raw: bytes, where: str) -> str:
        """Return ``raw`` decoded, or raise naming ``where`` under ``strict``."""
        try:
            return raw.decode(self.encoding)
        except UnicodeDecodeError as exc:
            if self.unicode_errors == "strict":
                bad = raw[max(0, exc.start - 12) : exc.end + 12]
                raise VectorFormatError(
                    f"{where}: {bad!r} is not valid {self.encoding} ({exc.reason}); name the file's encoding with "
                    "--encoding (e.g. cp1252), or keep such words with --unicode-errors replace|ignore"
                ) from exc
        if self.unicode_errors == "replace":
            self.replaced += 1
        else:
            self.skipped += 1
        return raw.decode(self.encoding, self.unicode_errors)
