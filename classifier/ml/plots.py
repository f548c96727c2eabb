"""Pictures of evaluation results, drawn with Pillow (no plotting library)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont


def confusion_matrix_png(matrix: Sequence[Sequence[int]], class_names: Sequence[str], cell: int = 44) -> bytes:
    """A heat map of a confusion matrix (rows true, columns predicted) as PNG bytes.
    Each cell shows its count; colour is the share of its row."""
    n = len(class_names)
    font = ImageFont.load_default()
    label_w, top = 110, 110
    image = Image.new("RGB", (label_w + n * cell + 10, top + n * cell + 30), "white")
    draw = ImageDraw.Draw(image)
    for i, row in enumerate(matrix):
        total = max(1, sum(row))
        for j, count in enumerate(row):
            share = count / total
            if i == j:
                colour = (int(255 - 200 * share), int(255 - 90 * share), int(255 - 200 * share))  # green diagonal
            else:
                colour = (255, int(255 - 220 * min(1.0, share * 4)), int(255 - 220 * min(1.0, share * 4)))  # red errors
            x0, y0 = label_w + j * cell, top + i * cell
            draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=colour, outline=(220, 220, 220))
            text = str(count)
            width = draw.textlength(text, font=font)
            draw.text((x0 + (cell - width) / 2, y0 + cell / 2 - 6), text, fill="black", font=font)
    for k, name in enumerate(class_names):
        short = name[:16]
        draw.text((4, top + k * cell + cell / 2 - 6), short, fill="black", font=font)
        label = Image.new("RGBA", (top - 10, 14), (255, 255, 255, 0))
        ImageDraw.Draw(label).text((0, 0), short, fill="black", font=font)
        rotated = label.rotate(90, expand=True)
        image.paste(rotated, (label_w + k * cell + cell // 2 - 7, 4), rotated)
    draw.text((label_w, top + n * cell + 8), "rows: true class · columns: predicted", fill=(90, 90, 90), font=font)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
