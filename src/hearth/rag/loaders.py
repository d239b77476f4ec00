"""Document loaders: bytes of a file -> sections of text with page / slide / heading anchors.

PDF (pypdfium2, page numbers), DOCX (python-docx, headings as anchors), PPTX (python-pptx,
slide numbers), HTML (trafilatura main text and title), Markdown (heading anchors) and
plain text in any common encoding (charset-normalizer: UTF-8/16 with or without a BOM, Big5,
GB18030, ...).

Every failure is a `HearthError` whose message names the file and says what to do:
`UnsupportedMedia` for a type hearth cannot read or a file without text (a scanned PDF),
`InvalidInput` for an empty, corrupt or encrypted file.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePath

from hearth.errors import HearthError, InvalidInput, UnsupportedMedia
from hearth.rag.chunking import Section

__all__ = ["SUPPORTED", "LoadedDocument", "load_bytes"]

SUPPORTED = "PDF, DOCX, PPTX, HTML, Markdown and plain text"

_TEXT_SUFFIXES = {
    ".txt",
    ".text",
    ".csv",
    ".tsv",
    ".json",
    ".jsonl",
    ".xml",
    ".yaml",
    ".yml",
    ".toml",
    ".ini",
    ".cfg",
    ".log",
    ".rst",
    ".py",
    ".js",
    ".ts",
    ".java",
    ".c",
    ".h",
    ".cpp",
    ".go",
    ".rs",
    ".sh",
    ".sql",
    ".srt",
    ".vtt",
    ".tex",
    ".org",
    "",
}
_MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdown", ".mkd"}
_HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
_BINARY_SUFFIXES = {
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".webp",
    ".bmp",
    ".tif",
    ".tiff",
    ".mp3",
    ".wav",
    ".m4a",
    ".mp4",
    ".mkv",
    ".mov",
    ".zip",
    ".gz",
    ".tar",
    ".7z",
    ".rar",
    ".exe",
    ".bin",
    ".so",
    ".dll",
    ".gguf",
    ".doc",
    ".ppt",
    ".xls",
    ".xlsx",
    ".odt",
    ".epub",
}


@dataclass
class LoadedDocument:
    kind: str  # "pdf" | "docx" | "pptx" | "html" | "markdown" | "text"
    sections: list[Section]
    title: str | None = None
    pages: int | None = None  # pages of a PDF, slides of a PPTX
    warnings: list[str] = field(default_factory=list)


def load_bytes(data: bytes, name: str, content_type: str | None = None) -> LoadedDocument:
    """Read the document `name` (a file name or URL, used for the type and messages)."""
    if not data.strip():
        raise InvalidInput(f"{name}: the file is empty; nothing to add")
    kind = _kind(data, name, content_type)
    loader = {
        "pdf": _load_pdf,
        "docx": _load_docx,
        "pptx": _load_pptx,
        "html": _load_html,
        "markdown": _load_markdown,
        "text": _load_text,
    }[kind]
    try:
        doc = loader(data, name)
    except HearthError:
        raise
    except Exception as exc:  # a parser deep inside a library (lxml, zipfile, ...) gave up
        raise InvalidInput(
            f"{name}: not a readable {_LABELS[kind]} file, it is corrupt ({_reason(exc)}); "
            "open it and save it again (or export it anew), then add it again"
        ) from exc
    if not any(s.text.strip() for s in doc.sections):
        raise InvalidInput(f"{name}: no text found in the {kind.upper()} file; nothing to add")
    return doc


_LABELS = {
    "pdf": "PDF",
    "docx": "DOCX",
    "pptx": "PPTX",
    "html": "HTML",
    "markdown": "Markdown",
    "text": "text",
}


def _reason(exc: Exception) -> str:
    """A library's exception as a short single line for a per-file message."""
    text = " ".join(str(exc).split())
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _kind(data: bytes, name: str, content_type: str | None) -> str:
    suffix = PurePath(name.split("?", 1)[0]).suffix.lower()
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if data.startswith(b"%PDF") or suffix == ".pdf" or ctype == "application/pdf":
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        try:
            names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
        except zipfile.BadZipFile:
            names = set()
        if "word/document.xml" in names or suffix == ".docx":
            return "docx"
        if "ppt/presentation.xml" in names or suffix == ".pptx":
            return "pptx"
        raise UnsupportedMedia(
            f"{name}: unsupported file type (a ZIP archive); hearth reads {SUPPORTED}"
        )
    if suffix in {".docx", ".pptx"}:
        return suffix[1:]
    if suffix in _HTML_SUFFIXES or ctype in {"text/html", "application/xhtml+xml"}:
        return "html"
    if suffix in _MARKDOWN_SUFFIXES or ctype == "text/markdown":
        return "markdown"
    if suffix in _BINARY_SUFFIXES:
        raise UnsupportedMedia(
            f"{name}: unsupported file type {suffix!r}; hearth reads {SUPPORTED}"
        )
    head = data[:2048].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "html"
    if ctype.startswith("text/") or not ctype:
        return "text"
    if suffix in _TEXT_SUFFIXES and (suffix or b"\x00" not in data[:8192]):
        # No extension and a declared binary type (application/octet-stream): text only
        # if it has no NUL bytes, or an executable would be "read" as Chinese characters.
        return "text"
    raise UnsupportedMedia(
        f"{name}: unsupported file type {ctype or suffix!r}; hearth reads {SUPPORTED}"
    )


# PDF ---------------------------------------------------------------------------------


def _load_pdf(data: bytes, name: str) -> LoadedDocument:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        text = str(exc).lower()
        if "password" in text:
            raise InvalidInput(
                f"{name}: the PDF is encrypted (password-protected); remove the password and add it again"
            ) from exc
        raise InvalidInput(f"{name}: not a readable PDF (corrupt or truncated: {exc})") from exc
    try:
        sections: list[Section] = []
        pages = len(pdf)
        for index in range(pages):
            page = pdf[index]
            textpage = page.get_textpage()
            try:
                text = textpage.get_text_bounded()
            finally:
                textpage.close()
                page.close()
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            if text.strip():
                sections.append(Section(text=_dehyphenate(text), page=index + 1))
        title = None
        try:
            title = (pdf.get_metadata_value("Title") or "").strip() or None
        except Exception:  # metadata is optional and sometimes malformed
            title = None
    finally:
        pdf.close()
    if pages == 0:
        raise InvalidInput(f"{name}: the PDF has no pages; nothing to add")
    if not sections:
        raise UnsupportedMedia(
            f"{name}: the PDF has no text layer (a scanned document?); run OCR on it "
            "(e.g. `ocrmypdf in.pdf out.pdf`) and add the result"
        )
    doc = LoadedDocument(kind="pdf", sections=sections, title=title, pages=pages)
    empty = pages - len(sections)
    if empty:
        doc.warnings.append(f"{name}: {empty} of {pages} pages have no text layer and were skipped")
    return doc


def _dehyphenate(text: str) -> str:
    # "exam-\nple" -> "example" (Latin line-end hyphenation in PDFs)
    return re.sub(r"(?<=[a-z])-\n(?=[a-z])", "", text)


# DOCX --------------------------------------------------------------------------------


def _load_docx(data: bytes, name: str) -> LoadedDocument:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InvalidInput(
            f"{name}: not a readable DOCX file (corrupt or password-protected); "
            "open it, save it again without a password, then add it again"
        ) from exc
    sections: list[Section] = []
    path: list[tuple[int, str]] = []  # (level, heading)
    lines: list[str] = []

    def flush() -> None:
        text = "\n".join(lines).strip()
        if text:
            sections.append(Section(text=text, anchor=" > ".join(h for _, h in path) or None))
        lines.clear()

    title = (document.core_properties.title or "").strip() or None
    for block in _docx_blocks(document):
        if isinstance(block, tuple):  # heading
            level, heading = block
            flush()
            path[:] = [p for p in path if p[0] < level] + [(level, heading)]
            if title is None and level == 0:
                title = heading
            lines.append(heading)
        elif block.strip():
            lines.append(block)
    flush()
    return LoadedDocument(kind="docx", sections=sections, title=title)


def _docx_blocks(document: object) -> list[str | tuple[int, str]]:
    """Paragraphs and table rows in document order; headings as (level, text)."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    blocks: list[str | tuple[int, str]] = []
    for item in document.iter_inner_content():  # type: ignore[attr-defined]
        if isinstance(item, Paragraph):
            text = item.text.strip()
            style = (item.style.name if item.style is not None else "") or ""
            match = re.match(r"(?i)heading\s*(\d)", style)
            if text and (match or style.lower() == "title"):
                blocks.append((int(match.group(1)) if match else 0, text))
            else:
                blocks.append(text)
        elif isinstance(item, Table):
            for row in item.rows:
                cells = [c.text.strip() for c in row.cells]
                unique = [c for i, c in enumerate(cells) if c and c not in cells[:i]]
                if unique:
                    blocks.append(" | ".join(unique))
    return blocks


# PPTX --------------------------------------------------------------------------------


def _load_pptx(data: bytes, name: str) -> LoadedDocument:
    from pptx import Presentation
    from pptx.exc import PackageNotFoundError

    try:
        deck = Presentation(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InvalidInput(
            f"{name}: not a readable PPTX file (corrupt or password-protected); "
            "open it, save it again without a password, then add it again"
        ) from exc
    sections: list[Section] = []
    count = 0
    for number, slide in enumerate(deck.slides, start=1):
        count = number
        title = ""
        if slide.shapes.title is not None and slide.shapes.title.has_text_frame:
            title = slide.shapes.title.text_frame.text.strip()
        lines: list[str] = []
        for shape in slide.shapes:
            if shape.has_text_frame:
                text = shape.text_frame.text.strip()
                if text:
                    lines.append(text)
            elif getattr(shape, "has_table", False) and shape.has_table:
                for row in shape.table.rows:
                    cells = [c.text.strip() for c in row.cells if c.text.strip()]
                    if cells:
                        lines.append(" | ".join(cells))
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            if notes is not None and notes.text.strip():
                lines.append(notes.text.strip())
        text = "\n".join(lines).strip()
        if text:
            anchor = f"Slide {number}" + (f": {title}" if title else "")
            sections.append(Section(text=text, page=number, anchor=anchor))
    doc_title = (deck.core_properties.title or "").strip() or None
    return LoadedDocument(kind="pptx", sections=sections, title=doc_title, pages=count)


# HTML / Markdown / text --------------------------------------------------------------


def _load_html(data: bytes, name: str) -> LoadedDocument:
    import trafilatura

    html = _decode(data, name)
    markdown = trafilatura.extract(
        html,
        output_format="markdown",
        include_comments=False,
        include_tables=True,
        favor_recall=True,
    )
    title = None
    metadata = trafilatura.extract_metadata(html)
    if metadata is not None and metadata.title:
        title = metadata.title.strip()
    if not markdown or not markdown.strip():
        raise InvalidInput(f"{name}: no main text found in the HTML page; nothing to add")
    sections = _markdown_sections(markdown)
    return LoadedDocument(kind="html", sections=sections, title=title)


def _load_markdown(data: bytes, name: str) -> LoadedDocument:
    text = _decode(data, name)
    sections = _markdown_sections(text)
    title = next((s.anchor.split(" > ")[0] for s in sections if s.anchor), None)
    return LoadedDocument(kind="markdown", sections=sections, title=title)


def _load_text(data: bytes, name: str) -> LoadedDocument:
    text = _decode(data, name)
    return LoadedDocument(kind="text", sections=[Section(text=text)])


_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def _markdown_sections(text: str) -> list[Section]:
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    lines: list[str] = []
    fenced = False

    def flush() -> None:
        body = "\n".join(lines).strip()
        heading_only = bool(path) and body == path[-1][1]
        if body and not heading_only:
            sections.append(Section(text=body, anchor=" > ".join(h for _, h in path) or None))
        lines.clear()

    for line in text.replace("\r\n", "\n").split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match:
            flush()
            level, heading = len(match.group(1)), match.group(2).strip()
            path[:] = [p for p in path if p[0] < level] + [(level, heading)]
            lines.append(heading)
        else:
            lines.append(line)
    flush()
    return sections


def _decode(data: bytes, name: str) -> str:
    """Decode text in any common encoding (BOMs, UTF-8, UTF-16, Big5, GB18030, ...)."""
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    if b"\x00" not in data:  # NUL bytes are valid UTF-8, but no UTF-8 text has them
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    else:
        text = _utf16_without_bom(data)
        if text is not None:
            return text
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise UnsupportedMedia(
            f"{name}: not text in any known encoding (a binary file?); hearth reads {SUPPORTED}"
        )
    return str(best)


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text without a BOM, told by where its NUL bytes are: ASCII characters (Latin
    text, digits, spaces, newlines, even in mostly Chinese text) are `xx 00` in UTF-16-LE
    and `00 xx` in UTF-16-BE. None when the data does not look like UTF-16 text."""
    if len(data) % 2:
        return None
    sample = data[:65536]
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    if max(even, odd) < 0.9 * (even + odd):
        return None
    codec = "utf-16-le" if odd > even else "utf-16-be"
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        return None
    control = sum(1 for ch in text[:32768] if ch < " " and ch not in "\t\n\r\f")
    return text if control <= len(text[:32768]) // 100 else None
