"""QR codes for tickets: the visitor scans the printed ticket to follow it on their phone."""

from __future__ import annotations

import io

import segno


def qr_svg(url: str) -> str:
    """An SVG document (text) with a QR code of ``url``.

    Error correction level M survives a smudged thermal print; a 4-module quiet zone is what the QR
    standard requires for phones to find the code. The SVG has a viewBox and no fixed size, so the
    page's CSS decides how large it prints (it must stay crisp on 58 mm paper).
    """
    qr = segno.make_qr(url, error="m", boost_error=False)
    out = io.BytesIO()
    qr.save(
        out,
        kind="svg",
        scale=1,
        border=4,
        xmldecl=False,
        svgns=True,
        omitsize=True,
        title="QR",
        dark="#000",
        light="#fff",
    )
    # Crisp module edges: an anti-aliased seam between modules prints as a gap on thermal paper.
    return out.getvalue().decode("utf-8").replace("<svg ", '<svg shape-rendering="crispEdges" ', 1)
