"""Strokes of clearly drawn digits, as polylines on the 280×280 pad, and ways to replay them.

Coordinates are CSS pixels from the pad's top-left corner.
"""

import base64
import io
import math
import time

from PIL import Image


def _ellipse(cx, cy, rx, ry, steps=40):
    # Start at the top and go round anticlockwise, like most people draw a 0; overlap a little to close it.
    return [
        (cx + rx * math.sin(-2 * math.pi * i / steps), cy - ry * math.cos(2 * math.pi * i / steps))
        for i in range(steps + 2)
    ]


DIGITS = {
    "7": [[(82, 68), (140, 66), (198, 66), (176, 110), (150, 162), (128, 218)]],
    "1": [[(146, 52), (142, 110), (138, 170), (134, 228)]],
    "0": [_ellipse(140, 140, 58, 84)],
}


def pad_origin(page):
    box = page.locator("#ink").bounding_box()
    return box["x"], box["y"]


def draw_with_mouse(page, strokes, steps=4):
    x0, y0 = pad_origin(page)
    for stroke in strokes:
        (sx, sy), rest = stroke[0], stroke[1:]
        page.mouse.move(x0 + sx, y0 + sy)
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(x0 + x, y0 + y, steps=steps)
        page.mouse.up()


def draw_with_touch(page, strokes, steps=4):
    """Real touch input through the DevTools protocol: Chromium turns it into pointer events of type "touch".

    Events carry timestamps 16 ms apart (a 60 Hz touchscreen) and the finger rests on the last point
    before lifting, like a person's; sent back to back without them, the stroke looks like a fling and
    Chromium swallows the next tap to stop it.
    """
    cdp = page.context.new_cdp_session(page)
    x0, y0 = pad_origin(page)
    events = []
    for stroke in strokes:
        points = [(x0 + x, y0 + y) for x, y in stroke]
        events.append(("touchStart", [_touch(*points[0])]))
        for (ax, ay), (bx, by) in zip(points, points[1:], strict=False):
            for i in range(1, steps + 1):
                t = i / steps
                events.append(("touchMove", [_touch(ax + (bx - ax) * t, ay + (by - ay) * t)]))
        for _ in range(8):
            events.append(("touchMove", [_touch(*points[-1])]))
        events.append(("touchEnd", []))
    # Timestamps end now, so a tap that follows comes after the stroke.
    start = time.time() - FRAME_SECONDS * len(events)
    try:
        for i, (kind, touch_points) in enumerate(events):
            cdp.send(
                "Input.dispatchTouchEvent",
                {"type": kind, "touchPoints": touch_points, "timestamp": start + i * FRAME_SECONDS},
            )
    finally:
        cdp.detach()


FRAME_SECONDS = 0.016


def _touch(x, y):
    return {"x": x, "y": y, "id": 1, "radiusX": 4, "radiusY": 4, "force": 0.5}


INK_PIXELS_JS = """() => {
  const c = document.getElementById('ink');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 128) n++;
  return n;
}"""


def ink_pixels(page):
    """How many backing-store pixels of the visible canvas hold ink."""
    return page.evaluate(INK_PIXELS_JS)


def decode_data_url(data_url):
    header, _, payload = data_url.partition(",")
    assert header == "data:image/png;base64", header
    return Image.open(io.BytesIO(base64.b64decode(payload)))


def draw_with_pen(page, strokes, steps=4):
    """A stylus through the DevTools protocol (mouse events with pointerType "pen")."""
    cdp = page.context.new_cdp_session(page)
    x0, y0 = pad_origin(page)

    def send(kind, x, y, **extra):
        cdp.send(
            "Input.dispatchMouseEvent",
            {"type": kind, "x": x0 + x, "y": y0 + y, "pointerType": "pen", "button": "left", **extra},
        )

    try:
        for stroke in strokes:
            send("mousePressed", *stroke[0], buttons=1, clickCount=1, force=0.5)
            for (ax, ay), (bx, by) in zip(stroke, stroke[1:], strict=False):
                for i in range(1, steps + 1):
                    t = i / steps
                    send("mouseMoved", ax + (bx - ax) * t, ay + (by - ay) * t, buttons=1, force=0.5)
            send("mouseReleased", *stroke[-1], buttons=0, clickCount=1)
    finally:
        cdp.detach()
