"""Images for the API tests, built with Pillow: canvas drawings and every kind of bad file."""

import base64
import io
import struct
import zlib

from PIL import Image, ImageDraw


def canvas(strokes=(((140, 50), (140, 230)),), size=280, width=18, mode="RGB", background="white", ink="black"):
    """A drawing as the page makes it: thick dark strokes on a big light canvas."""
    img = Image.new(mode, (size, size), background)
    draw = ImageDraw.Draw(img)
    for stroke in strokes:
        draw.line(stroke, fill=ink, width=width, joint="curve")
    return img


SEVEN = (((80, 60), (200, 60), (120, 230)),)
ONE = (((140, 50), (140, 230)),)


def encode(img, fmt="PNG", **options):
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def png(strokes=ONE, **kwargs):
    return encode(canvas(strokes, **kwargs))


def data_url(data, mime="image/png"):
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def b64(data):
    return base64.b64encode(data).decode()


def png_header_only(width, height, bit_depth=8, colour_type=0):
    """A PNG whose header claims width×height with almost no pixel data (a decompression-bomb shape)."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><path d="M1 1L9 9"/></svg>'
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
