#!/usr/bin/env python3
"""Draws the artwork of the shipped templates at Apple's recommended sizes (@1x, @2x, @3x).

The PNGs are committed; run this only to change them (needs Pillow and DejaVu fonts):
    pip install pillow && python3 scripts/make-artwork.py
"""
import os
from PIL import Image, ImageDraw, ImageFont, ImageFilter

ROOT = os.path.join(os.path.dirname(__file__), "..", "PassTemplates")
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
LIGHT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-ExtraLight.ttf"


def save(img, folder, name, scale):
    suffix = "" if scale == 1 else f"@{scale}x"
    img.save(os.path.join(folder, f"{name}{suffix}.png"), optimize=True)


def supersample(w, h, draw_fn, mode="RGBA"):
    # Draw at 4x and scale down for smooth edges.
    big = Image.new(mode, (w * 4, h * 4), (0, 0, 0, 0))
    draw_fn(big, 4)
    return big.resize((w, h), Image.LANCZOS)


def lumen(folder):
    """Lumen Clinic: an aesthetic clinic's loyalty card (storeCard)."""
    plum, rose, cream = (46, 26, 71), (236, 160, 190), (255, 244, 236)

    def icon(img, k):
        d = ImageDraw.Draw(img)
        w, h = img.size
        d.rounded_rectangle([0, 0, w - 1, h - 1], radius=w // 5, fill=plum + (255,))
        r = w * 0.30
        d.ellipse([w / 2 - r, h / 2 - r, w / 2 + r, h / 2 + r], outline=rose + (255,), width=max(1, int(w * 0.07)))
        r2 = w * 0.11
        d.ellipse([w / 2 - r2, h / 2 - r2, w / 2 + r2, h / 2 + r2], fill=cream + (255,))

    def logo(img, k):
        d = ImageDraw.Draw(img)
        w, h = img.size
        r = h * 0.36
        cx, cy = h * 0.5, h * 0.5
        d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=rose + (255,), width=max(1, int(h * 0.08)))
        r2 = h * 0.13
        d.ellipse([cx - r2, cy - r2, cx + r2, cy + r2], fill=cream + (255,))
        font = ImageFont.truetype(BOLD, int(h * 0.42))
        d.text((h * 1.05, h * 0.5), "LUMEN", font=font, fill=cream + (255,), anchor="lm")

    def strip(img, k):
        w, h = img.size
        px = img.load()
        for y in range(h):
            for x in range(0, w):
                t = x / w
                u = y / h
                r = int(plum[0] * (1 - t) + 120 * t)
                g = int(plum[1] * (1 - t) + 52 * t + 20 * u)
                b = int(plum[2] * (1 - t) + 110 * t)
                px[x, y] = (r, g, b, 255)
        glow = Image.new("RGBA", img.size, (0, 0, 0, 0))
        d = ImageDraw.Draw(glow)
        for i, (fx, fy, fr) in enumerate([(0.78, 0.35, 0.55), (0.92, 0.9, 0.35), (0.6, 1.0, 0.25)]):
            r = fr * h
            d.ellipse([fx * w - r, fy * h - r, fx * w + r, fy * h + r], fill=rose + (70 - i * 15,))
        glow = glow.filter(ImageFilter.GaussianBlur(h * 0.08))
        img.alpha_composite(glow)

    for s in (1, 2, 3):
        save(supersample(29 * s, 29 * s, icon), folder, "icon", s)
        save(supersample(160 * s, 50 * s, logo), folder, "logo", s)
        img = Image.new("RGBA", (375 * s, 144 * s))
        strip(img, s)
        save(img, folder, "strip", s)


def harbour(folder):
    """Harbour Café: a café's membership card (generic)."""
    teal, sand, white = (24, 72, 64), (233, 196, 140), (250, 248, 242)

    def cup(d, cx, cy, size, colour, width):
        w = size
        d.rounded_rectangle([cx - w * 0.32, cy - w * 0.18, cx + w * 0.22, cy + w * 0.3], radius=w * 0.1, outline=colour, width=width)
        d.arc([cx + w * 0.1, cy - w * 0.08, cx + w * 0.42, cy + w * 0.2], start=-90, end=90, fill=colour, width=width)
        for dx in (-0.15, 0.02):
            d.arc([cx + w * dx - w * 0.06, cy - w * 0.46, cx + w * dx + w * 0.06, cy - w * 0.24], start=90, end=270, fill=colour, width=max(1, width // 2))

    def icon(img, k):
        d = ImageDraw.Draw(img)
        w, h = img.size
        d.rounded_rectangle([0, 0, w - 1, h - 1], radius=w // 5, fill=teal + (255,))
        cup(d, w * 0.47, h * 0.55, w * 0.8, sand + (255,), max(1, int(w * 0.07)))

    def logo(img, k):
        d = ImageDraw.Draw(img)
        w, h = img.size
        cup(d, h * 0.5, h * 0.56, h * 0.85, sand + (255,), max(1, int(h * 0.07)))
        font = ImageFont.truetype(BOLD, int(h * 0.36))
        d.text((h * 1.05, h * 0.52), "HARBOUR", font=font, fill=white + (255,), anchor="lm")

    def thumbnail(img, k):
        d = ImageDraw.Draw(img)
        w, h = img.size
        d.ellipse([0, 0, w - 1, h - 1], fill=sand + (255,))
        d.ellipse([w * 0.08, h * 0.08, w * 0.92, h * 0.92], outline=teal + (255,), width=max(1, int(w * 0.03)))
        font = ImageFont.truetype(BOLD, int(h * 0.30))
        d.text((w / 2, h * 0.47), "HC", font=font, fill=teal + (255,), anchor="mm")
        small = ImageFont.truetype(BOLD, int(h * 0.09))
        d.text((w / 2, h * 0.72), "MEMBER", font=small, fill=teal + (255,), anchor="mm")

    for s in (1, 2, 3):
        save(supersample(29 * s, 29 * s, icon), folder, "icon", s)
        save(supersample(160 * s, 50 * s, logo), folder, "logo", s)
        save(supersample(90 * s, 90 * s, thumbnail), folder, "thumbnail", s)


if __name__ == "__main__":
    lumen(os.path.join(ROOT, "loyalty.pass"))
    harbour(os.path.join(ROOT, "membership.pass"))
