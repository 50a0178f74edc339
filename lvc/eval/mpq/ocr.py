"""OCR task (Tesseract through pytesseract) and the document images it is measured on.

``render_documents`` draws pages of text with the fonts that ship inside matplotlib
(DejaVu Sans/Serif/Mono in regular, bold and italic, STIX) at several sizes, and writes
the exact text beside each page (``page.png`` + ``page.txt``), so the task has labels
without any download and every user renders the same pages."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from ...errors import BadInputError
from ...formats.files import write_bytes_atomic
from .tasks import ImageTask, TextErrorRate, missing_module

SENTENCES = (  # Harvard sentences (IEEE 1969 recommended practice), public domain
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
)
FONTS = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf",
         "DejaVuSerif-Italic.ttf", "STIXGeneral.ttf", "DejaVuSans-Oblique.ttf",
         "DejaVuSerif-Bold.ttf")
SIZES = (14, 16, 18, 20, 24, 28)


def _font_path(name: str) -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name


def _wrap(words: list, font, width: int) -> list:
    lines, line = [], ""
    for w in words:
        trial = f"{line} {w}".strip()
        if line and font.getlength(trial) > width:
            lines.append(line)
            line = w
        else:
            line = trial
    return lines + ([line] if line else [])


def render_document(index: int, size: tuple = (640, 480)) -> tuple:
    """(H x W x 3 uint8 page, its text) for page ``index``: one font and size per page
    (cycling through ``FONTS`` x ``SIZES``), black on white, sentences drawn in a fixed
    pseudo-random order until the page is full."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = size
    font = ImageFont.truetype(str(_font_path(FONTS[index % len(FONTS)])),
                              SIZES[(index // len(FONTS) + index) % len(SIZES)])
    order = list(SENTENCES)
    random.Random(index).shuffle(order)
    margin = 24
    line_h = int(font.size * 1.5)
    lines = _wrap(" ".join(order).split(), font, width - 2 * margin)
    lines = lines[:max(1, (height - 2 * margin) // line_h)]
    page = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(page)
    for i, text in enumerate(lines):
        draw.text((margin, margin + i * line_h), text, font=font, fill="black")
    return np.asarray(page), "\n".join(lines)


def render_documents(out_dir, count: int = 8, size: tuple = (640, 480),
                     overwrite: bool = False) -> list:
    """Write ``doc-NN.png`` and ``doc-NN.txt`` for pages 0..count-1; returns the PNGs."""
    from PIL import Image
    import io

    if not 1 <= count <= 1000:
        raise BadInputError(f"document count must be 1..1000, got {count}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i in range(count):
        page, text = render_document(i, size)
        buf = io.BytesIO()
        Image.fromarray(page).save(buf, format="PNG")
        png = out / f"doc-{i:02d}.png"
        write_bytes_atomic(png, buf.getvalue(), overwrite=overwrite)
        write_bytes_atomic(out / f"doc-{i:02d}.txt", (text + "\n").encode(), overwrite=overwrite)
        written.append(png)
    return written


class OCR(TextErrorRate, ImageTask):
    """Tesseract (``pytesseract``, English, page segmentation mode 6: one uniform block
    of text) on document images; metric: character error rate of the normalised text
    (``lvc.eval.mpq_metrics.normalize_text``), pooled over the dataset. Labels: the text
    file next to each image (``page.png`` -> ``page.txt``), when there is one."""

    name = "ocr"
    metric = "cer"
    unit = "char"
    higher_is_better = False
    description = "Tesseract OCR on document images: character error rate"

    def unavailable(self) -> str | None:
        reason = missing_module("pytesseract")
        if reason:
            return reason
        import pytesseract

        try:
            pytesseract.get_tesseract_version()
        except Exception as exc:
            return f"the tesseract program is not installed (apt install tesseract-ocr): {exc}"
        return None

    def label(self, path: Path):
        text = path.with_suffix(".txt")
        return text.read_text(encoding="utf-8") if text.is_file() else None

    def predict(self, media) -> str:
        import pytesseract
        from PIL import Image

        return pytesseract.image_to_string(Image.fromarray(np.ascontiguousarray(media.data)),
                                           lang="eng", config="--psm 6")
