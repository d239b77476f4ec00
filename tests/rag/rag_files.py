"""Small documents for the rag tests, generated on the fly."""

from __future__ import annotations

import io
from pathlib import Path

DRCD = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "drcd" / "DRCD_dev.json"


def make_pdf(pages: list[str], *, chinese: bool = False, password: str | None = None) -> bytes:
    """A PDF with one text page per entry ("" gives a page with a drawing but no text)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, encrypt=password)
    if chinese:
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    for text in pages:
        if text:
            c.setFont("STSong-Light" if chinese else "Helvetica", 12)
            y = 800
            for line in text.split("\n"):
                c.drawString(50, y, line)
                y -= 16
        else:
            c.rect(100, 100, 300, 300, fill=1)  # a "scan": no text layer
        c.showPage()
    c.save()
    return buf.getvalue()


def make_docx() -> bytes:
    import docx

    d = docx.Document()
    d.add_heading("Field guide", level=1)
    d.add_paragraph("This guide covers birds of the northern marshes.")
    d.add_heading("Herons", level=2)
    d.add_paragraph("The grey heron nests in tall reed beds and eats fish.")
    d.add_heading("Warblers", level=2)
    d.add_paragraph("The reed warbler sings at dawn from April to July.")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def make_pptx() -> bytes:
    from pptx import Presentation

    deck = Presentation()
    for title, body in [
        ("Quarterly plan", "Hire two engineers."),
        ("Budget", "The travel budget is 4,000 euros."),
    ]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    buf = io.BytesIO()
    deck.save(buf)
    return buf.getvalue()


HTML = """<!doctype html><html><head><title>Lighthouse keeping</title></head><body>
<nav><a href="/">Home</a> | <a href="/about">About us</a> | Subscribe to our newsletter</nav>
<article><h1>Lighthouse keeping</h1>
<p>The keeper of the Skerry lighthouse trims the lamp wick every evening before sunset,
and records the weather in the log book at midnight.</p>
<h2>Supplies</h2>
<p>Paraffin for the lamp arrives by boat every second Tuesday, weather permitting.</p>
</article>
<footer>Copyright 2024 Example Corp. All rights reserved. Cookie settings.</footer>
</body></html>"""


def with_broken_xml(data: bytes, member: str) -> bytes:
    """A copy of a DOCX/PPTX zip whose `member` XML is cut off (a valid zip, corrupt XML)."""
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for item in src.namelist():
            dst.writestr(item, b"<w:document><unclosed" if item == member else src.read(item))
    return out.getvalue()
