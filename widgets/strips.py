"""Building Line-API strips that cost few bytes on the wire.

Textual writes every segment of a repainted line as its own escape sequence (the full colour
pair, the text, then a reset), so a line of five segments costs about 190 bytes of escapes before
its text. :func:`fit_strip` pads a line to its width by extending the last segment with spaces
when blank cells of that segment look the same as the widget's own blank cells (same background,
no underline, strike, overline or reverse), instead of adding one more segment for the padding.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip


def blanks_look_alike(a: Style | None, b: Style | None) -> bool:
    """True when a space drawn in style ``a`` is indistinguishable from one in style ``b``."""
    if a is None or b is None:
        return a is b
    for style in (a, b):
        if style.reverse or style.underline or style.underline2 or style.strike or (
            style.overline
        ) or style.meta:
            return False
    return a.bgcolor == b.bgcolor


def fit_strip(segments: Sequence[Segment], width: int, pad_style: Style) -> Strip:
    """A strip of exactly ``width`` cells: cropped, or padded with blanks in ``pad_style``.

    The padding joins the last segment when its blanks look like ``pad_style``'s (one segment
    fewer to send); otherwise it is a segment of its own, as ``Strip.crop_extend`` would add.
    """
    length = sum(cell_len(segment.text) for segment in segments)
    if 0 < length < width:
        last = segments[-1]
        if not last.control and blanks_look_alike(last.style, pad_style):
            out = list(segments)
            out[-1] = Segment(last.text + " " * (width - length), last.style)
            return Strip(out, width)
    return Strip(segments, length).crop_extend(0, width, pad_style)
