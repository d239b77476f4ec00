"""Loaders on small files generated here: PDF (incl. Chinese), DOCX, PPTX, HTML, text encodings."""

from __future__ import annotations

import pytest
from rag_files import HTML, make_docx, make_pdf, make_pptx, with_broken_xml

from hearth.errors import HearthError, InvalidInput, UnsupportedMedia
from hearth.rag.loaders import load_bytes


def test_pdf_pages_are_numbered_including_a_chinese_page() -> None:
    data = make_pdf(["The first page talks about apples."])
    doc = load_bytes(data, "a.pdf")
    assert doc.kind == "pdf" and doc.pages == 1
    assert doc.sections[0].page == 1 and "apples" in doc.sections[0].text

    zh = load_bytes(make_pdf(["封面", "臺北市是臺灣的首都。"], chinese=True), "zh.pdf")
    assert [s.page for s in zh.sections] == [1, 2]
    assert "臺北市是臺灣的首都" in zh.sections[1].text


def test_pdf_with_some_pages_without_text_warns() -> None:
    doc = load_bytes(make_pdf(["Page one has text.", ""]), "mixed.pdf")
    assert [s.page for s in doc.sections] == [1]
    assert doc.warnings and "1 of 2 pages" in doc.warnings[0]


def test_scanned_pdf_without_text_layer_is_reported() -> None:
    with pytest.raises(UnsupportedMedia, match="no text layer"):
        load_bytes(make_pdf(["", ""]), "scan.pdf")


def test_encrypted_pdf_is_reported() -> None:
    with pytest.raises(InvalidInput, match="encrypted"):
        load_bytes(make_pdf(["secret"], password="hunter2"), "locked.pdf")


def test_corrupt_pdf_is_reported() -> None:
    with pytest.raises(InvalidInput, match="not a readable PDF"):
        load_bytes(b"%PDF-1.7\n garbage garbage garbage", "broken.pdf")


def test_docx_headings_become_anchors() -> None:
    doc = load_bytes(make_docx(), "guide.docx")
    assert doc.kind == "docx"
    by_anchor = {s.anchor: s.text for s in doc.sections}
    assert "grey heron" in by_anchor["Field guide > Herons"]
    assert "reed warbler" in by_anchor["Field guide > Warblers"]
    assert "Herons" not in by_anchor["Field guide > Warblers"]


def test_pptx_slides_are_numbered() -> None:
    doc = load_bytes(make_pptx(), "plan.pptx")
    assert doc.pages == 2
    assert [(s.page, s.anchor) for s in doc.sections] == [
        (1, "Slide 1: Quarterly plan"),
        (2, "Slide 2: Budget"),
    ]
    assert "4,000 euros" in doc.sections[1].text


def test_html_keeps_main_text_and_title_without_boilerplate() -> None:
    doc = load_bytes(HTML.encode(), "page.html")
    text = "\n".join(s.text for s in doc.sections)
    assert doc.title == "Lighthouse keeping"
    assert "trims the lamp wick" in text and "Paraffin" in text
    assert "Cookie settings" not in text and "newsletter" not in text
    assert any(s.anchor and s.anchor.endswith("Supplies") for s in doc.sections)


def test_markdown_heading_anchors() -> None:
    md = "# Guide\n\nIntro.\n\n## Setup\n\nRun it.\n\n```\n# not a heading\n```\n"
    doc = load_bytes(md.encode(), "g.md")
    assert [s.anchor for s in doc.sections] == ["Guide", "Guide > Setup"]
    assert "# not a heading" in doc.sections[1].text


@pytest.mark.parametrize("encoding", ["big5", "gb18030", "utf-16", "utf-8"])
def test_text_in_common_encodings(encoding: str) -> None:
    text = (
        "臺灣的高山茶產於海拔一千公尺以上的茶園，" * 5
        + "\n"
        + "這是第二行文字，說明茶葉的製作過程。" * 3
    )
    if encoding == "gb18030":
        text = (
            text.replace("臺灣", "台湾")
            .replace("產", "产")
            .replace("這", "这")
            .replace("說明", "说明")
            .replace("葉", "叶")
            .replace("製", "制")
            .replace("過", "过")
            .replace("程", "程")
            .replace("園", "园")
            .replace("尺", "尺")
            .replace("於", "于")
        )
    doc = load_bytes(text.encode(encoding), "tea.txt")
    assert doc.sections[0].text.strip() == text.strip()


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        # These characters' UTF-16-LE bytes happen to be valid UTF-8 (with NULs): the trap.
        ("中山大水 The Zhongshan river report.\n上下不一 water levels differ.\n", "utf-16-le"),
        ("Meeting notes: the budget for 2025 is approved.\n", "utf-16-be"),
    ],
)
def test_utf16_without_bom(text: str, encoding: str) -> None:
    doc = load_bytes(text.encode(encoding), "notes.txt")
    assert doc.sections[0].text == text


@pytest.mark.parametrize(
    ("data", "name", "match"),
    [
        (b"", "empty.txt", "empty"),
        (b"   \n\n", "blank.md", "empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "photo.png", "unsupported file type"),
        (b"PK\x03\x04" + bytes(40), "report.docx", "DOCX"),
        (b"PK\x03\x04" + bytes(40), "deck.pptx", "PPTX"),
        (with_broken_xml(make_docx(), "word/document.xml"), "x.docx", "DOCX file, it is corrupt"),
        (
            with_broken_xml(make_pptx(), "ppt/slides/slide2.xml"),
            "y.pptx",
            "PPTX file, it is corrupt",
        ),
    ],
)
def test_bad_files_get_a_clear_message(data: bytes, name: str, match: str) -> None:
    with pytest.raises(HearthError, match=match) as info:
        load_bytes(data, name)
    assert name in info.value.message


def test_an_extensionless_download_declared_binary_is_not_read_as_text() -> None:
    program = b"MZ\x90\x00" * 50  # served as application/octet-stream from a URL without suffix
    with pytest.raises(UnsupportedMedia, match="unsupported file type 'application/octet-stream'"):
        load_bytes(program, "download", "application/octet-stream")
    readme = load_bytes(b"Plain notes without an extension.", "README", "application/octet-stream")
    assert "Plain notes" in readme.sections[0].text
