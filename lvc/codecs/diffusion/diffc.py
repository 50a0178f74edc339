"""DiffC (Theis et al. 2022) with a conditional prior: send a noisy image x_{t*} by
reverse-channel coding, then denoise it with DDIM (eta = 0, the probability flow).

Schedule: the cosine schedule of Nichol & Dhariwal over ``T = 1000`` steps, used on a
short decreasing list of timesteps (``timesteps``). Between two of them, ``t > s``,
the forward process gives the Gaussian posterior

    q(x_s | x_t, x_0) = N(a x_0 + b x_t, v I),
    a = sqrt(abar_s) (1 - abar_t / abar_s) / (1 - abar_t),
    b = sqrt(abar_t / abar_s) (1 - abar_s) / (1 - abar_t),
    v = (1 - abar_t / abar_s) (1 - abar_s) / (1 - abar_t),

and the receiver's prior is the same Gaussian with ``x_0`` replaced by the model's
estimate ``x0_hat(x_t, t)`` (the model is conditioned on the explicit reconstruction,
which is why it needs fewer bits). So ``m = a (x_0 - x0_hat) / sqrt(v)`` and a step
costs ``|m|^2 / (2 ln 2)`` bits (``rcc``). The first state ``x_{t_0}`` is drawn from
shared randomness, so it costs nothing.

Denoisers are callables ``x0_fn(x_t, t) -> x0_hat`` on float64 arrays of the image's
shape (``lvc.codecs.diffusion.model`` wraps the network; tests use closed forms).
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import BadInputError
from ...progress import track
from . import rcc

T = 1000


def abar(t) -> np.ndarray:
    """Cosine-schedule cumulative signal fraction at integer timesteps (abar(0) ~ 1)."""
    s = 0.008
    f = np.cos((np.asarray(t, np.float64) / T + s) / (1 + s) * math.pi / 2) ** 2
    f0 = math.cos(s / (1 + s) * math.pi / 2) ** 2
    return np.clip(f / f0, 1e-5, 1.0)


def timesteps(n: int) -> list:
    """``n`` decreasing timesteps from T - 1 towards 0 (uniform), ending at 0."""
    if n < 2:
        raise BadInputError("need at least 2 timesteps")
    return [int(round(v)) for v in np.linspace(T - 1, 0, n)]


def posterior(t: int, s: int) -> tuple:
    """(a, b, std) of q(x_s | x_t, x_0) = N(a x_0 + b x_t, std^2)."""
    at, as_ = float(abar(t)), float(abar(s))
    ratio = at / as_
    a = math.sqrt(as_) * (1 - ratio) / (1 - at)
    b = math.sqrt(ratio) * (1 - as_) / (1 - at)
    var = (1 - ratio) * (1 - as_) / (1 - at)
    return a, b, math.sqrt(var)


def start_state(stream: bytes, shape: tuple) -> np.ndarray:
    """x_{t_0} ~ N(0, I) from shared randomness (step id -1)."""
    n = int(np.prod(shape))
    return rcc.candidates(stream, (-1, 0), 0, 1, n)[0].reshape(shape)


def _x0(x0_fn, x: np.ndarray, t: int) -> np.ndarray:
    return np.clip(np.asarray(x0_fn(x, t), np.float64), -1.0, 1.0)


def encode(x0: np.ndarray, x0_fn, stream: bytes, steps: list, stop: int,
           target_bits: float = 10.0) -> tuple:
    """Send ``x0`` (float64 in [-1, 1]) down to timestep index ``stop`` of ``steps``:
    (step codes, x at steps[stop] as the receiver will have it, KL bits per step)."""
    x0 = np.asarray(x0, np.float64)
    x = start_state(stream, x0.shape)
    codes, kls = [], []
    for i in track(range(stop), "diffusion: coding steps"):
        t, s = steps[i], steps[i + 1]
        a, b, std = posterior(t, s)
        x_hat = _x0(x0_fn, x, t)
        m = (a * (x0 - x_hat) / std).ravel()
        code, z = rcc.encode_step(m, stream, i, target_bits)
        codes.append(code)
        kls.append(rcc.kl_bits(m))
        x = a * x_hat + b * x + std * z.reshape(x.shape)
    return codes, x, kls


def decode(codes: list, x0_fn, stream: bytes, steps: list, shape: tuple) -> np.ndarray:
    """The receiver's x at ``steps[len(codes)]``."""
    x = start_state(stream, shape)
    for i, code in track(enumerate(codes), "diffusion: decoding steps", len(codes)):
        t, s = steps[i], steps[i + 1]
        a, b, std = posterior(t, s)
        x_hat = _x0(x0_fn, x, t)
        z = rcc.decode_step(code, stream, i, x.size)
        x = a * x_hat + b * x + std * z.reshape(x.shape)
    return x


def ddim(x: np.ndarray, x0_fn, steps: list, start: int) -> np.ndarray:
    """Denoise x at ``steps[start]`` to an image with deterministic DDIM (eta = 0)."""
    x0_hat = x
    for i in track(range(start, len(steps) - 1), "diffusion: denoising"):
        t, s = steps[i], steps[i + 1]
        at, as_ = float(abar(t)), float(abar(s))
        x0_hat = _x0(x0_fn, x, t)
        eps = (x - math.sqrt(at) * x0_hat) / math.sqrt(1 - at)
        x = math.sqrt(as_) * x0_hat + math.sqrt(1 - as_) * eps
    return x0_hat if start < len(steps) - 1 else x
