"""Procedural sample signals, so the demo and the tests need no downloads or committed files.

``sample_image`` imitates what makes photos hard and easy to code: smooth gradients
(sky), low-frequency texture (ground), hard curved edges (discs), high-frequency
text-like strokes and mild sensor noise. ``sample_audio`` is a chirp with harmonics,
tremolo and a little noise. Both are deterministic for a given size and seed.
"""

from __future__ import annotations

import numpy as np


def _smooth_noise(rng, h: int, w: int, cells: int) -> np.ndarray:
    """Value noise: a random ``cells`` x ``cells`` grid, smoothstep-interpolated to h x w."""
    grid = rng.standard_normal((cells + 1, cells + 1))
    yi, xi = np.linspace(0, cells, h), np.linspace(0, cells, w)
    y0, x0 = np.minimum(yi.astype(int), cells - 1), np.minimum(xi.astype(int), cells - 1)
    fy, fx = (yi - y0)[:, None], (xi - x0)[None, :]
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _fractal_noise(rng, h: int, w: int, octaves=(4, 8, 16, 32)) -> np.ndarray:
    return sum(_smooth_noise(rng, h, w, c) / (i + 1) for i, c in enumerate(octaves))


def sample_image(width: int = 512, height: int = 384, seed: int = 0) -> np.ndarray:
    """A deterministic photo-like RGB test image, ``(height, width, 3)`` uint8.

    Layout scales with the size, so a small crop-sized version (for fast tests) has
    the same content as the 512x384 demo image.
    """
    rng = np.random.default_rng(seed)
    h, w = int(height), int(width)
    y, x = np.mgrid[0:h, 0:w]
    u, v = (x + 0.5) / w, (y + 0.5) / h
    s = min(h, w)

    # sky: blue at the top, warm haze towards the horizon
    img = np.stack([0.30 + 0.55 * v, 0.50 + 0.35 * v, 0.92 - 0.25 * v], -1)
    # sun with a soft glow
    d_sun = np.hypot((u - 0.78) * w, (v - 0.22) * h) / s
    img += (np.exp(-(d_sun / 0.12) ** 2) * 0.35)[..., None] * np.array([1.0, 0.8, 0.4])
    img[d_sun < 0.06] = (1.0, 0.95, 0.8)

    # hills: a wavy ridge line, textured ground below it
    ridge = 0.58 + 0.06 * np.sin(2 * np.pi * (1.3 * u + 0.1)) + 0.03 * np.sin(2 * np.pi * 4.1 * u)
    ground = v > ridge
    tex = _fractal_noise(rng, h, w)
    shade = 0.75 + 0.25 * (v - ridge) / (1 - ridge + 1e-6)
    grass = np.stack([0.25 + 0.08 * tex, 0.45 + 0.10 * tex, 0.15 + 0.05 * tex], -1)
    img[ground] = (grass * shade[..., None])[ground]

    # shaded balls: hard circular edges plus smooth gradients inside
    for cx, cy, r, color in ((0.22, 0.70, 0.13, (0.85, 0.15, 0.12)),
                             (0.40, 0.80, 0.08, (0.95, 0.80, 0.10)),
                             (0.12, 0.88, 0.06, (0.20, 0.35, 0.90))):
        d = np.hypot((u - cx) * w, (v - cy) * h) / (r * s)
        inside = d < 1
        light = np.clip(1.1 - 0.8 * np.hypot((u - cx) * w + 0.35 * r * s,
                                             (v - cy) * h + 0.35 * r * s) / (r * s), 0.15, 1.0)
        img[inside] = (np.array(color) * light[..., None])[inside]

    # a sign with rows of text-like strokes (high-frequency detail)
    x0, x1, y0, y1 = int(0.55 * w), int(0.93 * w), int(0.50 * h), int(0.86 * h)
    img[y0:y1, x0:x1] = (0.93, 0.92, 0.88)
    img[y0:y1, x0:x0 + max(1, s // 128)] = img[y0:y1, x1 - max(1, s // 128):x1] = (0.2, 0.2, 0.2)
    row_h = max(3, h // 40)
    for top in range(y0 + row_h, y1 - 2 * row_h, 2 * row_h):
        col = x0 + row_h
        while col < x1 - 2 * row_h:
            word = int(rng.integers(2, 7)) * max(2, row_h // 2 + 1)
            end = min(col + word, x1 - row_h)
            strokes = (np.arange(col, end) % 3) != 2  # letters: strokes with thin gaps
            img[top:top + row_h, col:end][:, strokes] = (0.10, 0.10, 0.15)
            col = end + row_h
    # mild sensor noise
    img = img * 255 + rng.normal(0, 2.0, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def sample_audio(seconds: float = 2.0, sample_rate: int = 16000, channels: int = 1,
                 seed: int = 0) -> np.ndarray:
    """A deterministic test signal: exponential chirp with harmonics, tremolo and noise.

    Returns int16 PCM, ``(frames,)`` for mono and ``(frames, channels)`` otherwise;
    all harmonics stay below Nyquist for any sample rate.
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    duration = max(seconds, 1e-9)
    f0, f1 = 110.0, sample_rate / 10  # 4th harmonic of f1 stays under sample_rate / 2
    k = f1 / f0
    phase = 2 * np.pi * f0 * duration / np.log(k) * (k ** (t / duration) - 1)
    fade = np.clip(np.minimum(t, duration - t) / 0.01, 0, 1)
    env = (0.75 + 0.25 * np.sin(2 * np.pi * 3 * t)) * fade
    out = []
    for c in range(channels):
        tone = sum(np.sin(h * phase + 0.3 * c * h) / h for h in range(1, 5)) / 2.1
        out.append(0.6 * env * tone + 0.01 * rng.standard_normal(n))
    pcm = np.clip(np.rint(np.stack(out, -1) * 32767), -32768, 32767).astype(np.int16)
    return pcm[:, 0] if channels == 1 else pcm
