#!/usr/bin/env bash
# Draws the loyalty template's Google Wallet artwork from its SVG sources: the square program
# logo (660×660, which Google shows in a circle) and the wide hero banner (1032×336).
# The PNGs are committed; run this only to change them (needs rsvg-convert, Debian's librsvg2-bin).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../PassTemplates/loyalty.pass/google"
mkdir -p "$out"
rsvg-convert -w 660 -h 660 "$here/artwork/lumen-google-logo.svg" -o "$out/logo.png"
rsvg-convert -w 1032 -h 336 "$here/artwork/lumen-google-hero.svg" -o "$out/hero.png"
