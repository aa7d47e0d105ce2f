#!/usr/bin/env python3
"""Reference numbers for the engine's schedulers, worked out independently of the C# code.

Each scheduler below is re-derived from the rules diffusers publishes for its class: the keyword arguments of the
class's ``__init__`` and their defaults (what ``from_config`` reads from ``scheduler_config.json``; keys the class has
no argument for are ignored), ``set_timesteps`` and ``step``. The bookkeeping follows diffusers' own (counters, lists
of past outputs, timestep values passed back in), not the engine's, so that a shared misreading is unlikely.

Standard library only, float64 throughout. Where diffusers itself rounds to float32 (the timesteps of
EulerDiscreteScheduler and EulerAncestralDiscreteScheduler before sigmas are interpolated), that rounding is part of
the rule and is reproduced with ``f32``. Inputs (samples, model outputs) are exactly representable in float32, so the
engine, which steps in float32, starts from the same numbers.

Run ``python3 scheduler_reference.py`` from any directory; it rewrites ``../../Data/scheduler-reference.json``.
"""

import json
import math
import os
import struct

# ---------------------------------------------------------------------------------------------------------------
# Small numerics: float32 rounding, numpy's linspace / arange / interp, torch.quantile (linear).
# ---------------------------------------------------------------------------------------------------------------


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def linspace(start, stop, num):
    """numpy.linspace with endpoint: i * step + start, the last value exactly stop."""
    if num == 1:
        return [float(start)]
    step = (stop - start) / (num - 1)
    values = [i * step + start for i in range(num)]
    values[-1] = float(stop)
    return values


def arange_down(start, step, count):
    """numpy.arange(start, 0, -step), taken as exactly `count` values (see the note on trailing spacing)."""
    return [start + i * (-step) for i in range(count)]


def interp(x, table):
    """numpy.interp(x, arange(len(table)), table): linear, clamped at both ends."""
    if x <= 0:
        return table[0]
    if x >= len(table) - 1:
        return table[-1]
    j = int(math.floor(x))
    return table[j] + (x - j) * (table[j + 1] - table[j])


def quantile(values, q):
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(math.floor(position))
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


# Note on "trailing" spacing: diffusers writes it as np.arange(N, 0, -N / n). numpy sizes a float arange as
# ceil((stop - start) / step), which for a few step counts (61 of 1000, for instance) is n + 1 and appends a
# timestep of -1. That is an artefact of floating point, not the rule; the engine takes n timesteps, and so does
# this reference (no case below uses such a count).


# ---------------------------------------------------------------------------------------------------------------
# The engine's noise generator (documented in NoiseGenerator.cs): SplitMix64-seeded xoshiro256**, Box-Muller.
# ---------------------------------------------------------------------------------------------------------------

MASK = (1 << 64) - 1


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


class Noise:
    def __init__(self, seed):
        x = seed & MASK
        self.state = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & MASK
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
            self.state.append(z ^ (z >> 31))
        self.spare = None

    def next_u64(self):
        s0, s1, s2, s3 = self.state
        result = (_rotl((s1 * 5) & MASK, 7) * 9) & MASK
        t = (s1 << 17) & MASK
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = _rotl(s3, 45)
        self.state = [s0, s1, s2, s3]
        return result

    def unit(self):
        return ((self.next_u64() >> 11) + 1) * (1.0 / (1 << 53))

    def normal(self):
        if self.spare is not None:
            value, self.spare = self.spare, None
            return value
        u1 = self.unit()
        u2 = self.unit()
        radius = math.sqrt(-2.0 * math.log(u1))
        angle = 2.0 * math.pi * u2
        self.spare = radius * math.sin(angle)
        return radius * math.cos(angle)

    def tensor(self, length):
        # The engine draws float32 normals, one per element, in order.
        return [f32(self.normal()) for _ in range(length)]


# ---------------------------------------------------------------------------------------------------------------
# from_config: each class's __init__ keyword arguments with their defaults. A key the class does not take is ignored;
# a JSON null counts as absent.
# ---------------------------------------------------------------------------------------------------------------

COMMON = {
    "num_train_timesteps": 1000,
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "trained_betas": None,
}

CLASS_ARGUMENTS = {
    "DDIMScheduler": dict(COMMON, clip_sample=True, set_alpha_to_one=True, steps_offset=0, prediction_type="epsilon",
                          thresholding=False, dynamic_thresholding_ratio=0.995, clip_sample_range=1.0,
                          sample_max_value=1.0, timestep_spacing="leading", rescale_betas_zero_snr=False),
    "PNDMScheduler": dict(COMMON, skip_prk_steps=False, set_alpha_to_one=False, prediction_type="epsilon",
                          timestep_spacing="leading", steps_offset=0),
    "LMSDiscreteScheduler": dict(COMMON, use_karras_sigmas=False, use_exponential_sigmas=False, use_beta_sigmas=False,
                                 prediction_type="epsilon", timestep_spacing="linspace", steps_offset=0),
    "EulerDiscreteScheduler": dict(COMMON, prediction_type="epsilon", interpolation_type="linear",
                                   use_karras_sigmas=False, use_exponential_sigmas=False, use_beta_sigmas=False,
                                   sigma_min=None, sigma_max=None, timestep_spacing="linspace",
                                   timestep_type="discrete", steps_offset=0, rescale_betas_zero_snr=False,
                                   final_sigmas_type="zero"),
    "EulerAncestralDiscreteScheduler": dict(COMMON, prediction_type="epsilon", timestep_spacing="linspace",
                                            steps_offset=0, rescale_betas_zero_snr=False),
    "DPMSolverMultistepScheduler": dict(COMMON, solver_order=2, prediction_type="epsilon", thresholding=False,
                                        dynamic_thresholding_ratio=0.995, sample_max_value=1.0,
                                        algorithm_type="dpmsolver++", solver_type="midpoint", lower_order_final=True,
                                        euler_at_final=False, use_karras_sigmas=False, use_exponential_sigmas=False,
                                        use_beta_sigmas=False, use_lu_lambdas=False, use_flow_sigmas=False,
                                        flow_shift=1.0, final_sigmas_type="zero", lambda_min_clipped=-math.inf,
                                        variance_type=None, timestep_spacing="linspace", steps_offset=0,
                                        rescale_betas_zero_snr=False),
    "LCMScheduler": dict(COMMON, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         original_inference_steps=50, clip_sample=False, clip_sample_range=1.0, set_alpha_to_one=True,
                         steps_offset=0, prediction_type="epsilon", thresholding=False,
                         dynamic_thresholding_ratio=0.995, sample_max_value=1.0, timestep_spacing="leading",
                         timestep_scaling=10.0, rescale_betas_zero_snr=False),
}


def from_config(class_name, config, **overrides):
    arguments = dict(CLASS_ARGUMENTS[class_name])
    for key in arguments:
        if key in config and config[key] is not None:
            arguments[key] = config[key]
    for key, value in overrides.items():
        if key in arguments:
            arguments[key] = value
    return arguments


# ---------------------------------------------------------------------------------------------------------------
# Training schedule: betas, zero-terminal-SNR rescaling, cumulative alpha products.
# ---------------------------------------------------------------------------------------------------------------


def betas_of(a):
    n = a["num_train_timesteps"]
    if a["trained_betas"] is not None:
        return [float(b) for b in a["trained_betas"]]
    if a["beta_schedule"] == "linear":
        return linspace(a["beta_start"], a["beta_end"], n)
    if a["beta_schedule"] == "scaled_linear":
        return [r * r for r in linspace(a["beta_start"] ** 0.5, a["beta_end"] ** 0.5, n)]
    if a["beta_schedule"] == "squaredcos_cap_v2":
        def alpha_bar(t):
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
        return [min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), 0.999) for i in range(n)]
    raise ValueError(a["beta_schedule"])


def cumprod_alphas(betas):
    out, product = [], 1.0
    for beta in betas:
        product *= 1.0 - beta
        out.append(product)
    return out


def rescale_zero_terminal_snr(betas):
    """Lin et al. 2023, algorithm 1, as diffusers applies it to betas."""
    roots = [math.sqrt(a) for a in cumprod_alphas(betas)]
    first, last = roots[0], roots[-1]
    roots = [(r - last) * (first / (first - last)) for r in roots]
    bars = [r * r for r in roots]
    alphas = [bars[0]] + [bars[i] / bars[i - 1] for i in range(1, len(bars))]
    return [1.0 - a for a in alphas]


def alphas_cumprod_of(a, sigma_space):
    betas = betas_of(a)
    rescale = a.get("rescale_betas_zero_snr", False)
    if rescale:
        betas = rescale_zero_terminal_snr(betas)
    acp = cumprod_alphas(betas)
    if rescale and sigma_space:
        acp[-1] = 2.0 ** -24  # the sigma-space classes keep the terminal sigma finite
    return acp


def sigmas_of(acp):
    return [math.sqrt((1 - a) / a) for a in acp]


def sigma_to_t(sigma, log_sigmas):
    log_sigma = math.log(max(sigma, 1e-10))
    low = 0
    for i, value in enumerate(log_sigmas):
        if log_sigma - value >= 0:
            low = i
    low = min(low, len(log_sigmas) - 2)
    high = low + 1
    w = (log_sigmas[low] - log_sigma) / (log_sigmas[low] - log_sigmas[high])
    w = min(max(w, 0.0), 1.0)
    return (1 - w) * low + w * high


def karras(sigma_min, sigma_max, n, rho=7.0):
    ramp = linspace(0, 1, n)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return [(hi + r * (lo - hi)) ** rho for r in ramp]


def exponential(sigma_min, sigma_max, n):
    return [math.exp(v) for v in linspace(math.log(sigma_max), math.log(sigma_min), n)]


def x0_and_eps(prediction, alpha_bar, sample, output):
    """Variance-preserving parameterisations: the clean sample and the noise, from what the model predicts."""
    a, b = math.sqrt(alpha_bar), math.sqrt(1 - alpha_bar)
    if prediction == "epsilon":
        return [(x - b * m) / a for x, m in zip(sample, output)], list(output)
    if prediction == "sample":
        return list(output), [(x - a * m) / b for x, m in zip(sample, output)]
    if prediction == "v_prediction":
        return [a * x - b * m for x, m in zip(sample, output)], [a * m + b * x for x, m in zip(sample, output)]
    raise ValueError(prediction)


def threshold(x0, ratio, max_value):
    """Imagen's dynamic thresholding, diffusers' _threshold_sample, for one image."""
    s = quantile([abs(v) for v in x0], ratio)
    s = min(max(s, 1.0), max_value)
    return [min(max(v, -s), s) / s for v in x0]


# ---------------------------------------------------------------------------------------------------------------
# The schedulers. Each exposes timesteps, sigmas (or None), init_noise_sigma, scale(i), step(i, output, sample,
# noise) and add_noise(i, original, noise).
# ---------------------------------------------------------------------------------------------------------------


class Ddim:
    def __init__(self, config, n):
        a = self.a = from_config("DDIMScheduler", config)
        self.acp = alphas_cumprod_of(a, sigma_space=False)
        self.final = 1.0 if a["set_alpha_to_one"] else self.acp[0]
        big_n = a["num_train_timesteps"]
        self.n = n
        spacing = a["timestep_spacing"]
        if spacing == "linspace":
            ts = [round(v) for v in linspace(0, big_n - 1, n)][::-1]
        elif spacing == "leading":
            ts = [round(i * (big_n // n)) + a["steps_offset"] for i in range(n)][::-1]
        else:
            ts = [round(v) - 1 for v in arange_down(big_n, big_n / n, n)]
        self.timesteps = [float(t) for t in ts]
        self.sigmas = None
        self.init_noise_sigma = 1.0

    def scale(self, i):
        return 1.0

    def step(self, i, output, sample, noise):
        a = self.a
        t = int(self.timesteps[i])
        previous = t - a["num_train_timesteps"] // self.n
        acp_t = self.acp[t]
        acp_prev = self.acp[previous] if previous >= 0 else self.final
        x0, eps = x0_and_eps(a["prediction_type"], acp_t, sample, output)
        if a["thresholding"]:
            x0 = threshold(x0, a["dynamic_thresholding_ratio"], a["sample_max_value"])
        elif a["clip_sample"]:
            r = a["clip_sample_range"]
            x0 = [min(max(v, -r), r) for v in x0]
        return [math.sqrt(acp_prev) * x + math.sqrt(1 - acp_prev) * e for x, e in zip(x0, eps)]

    def add_noise(self, i, original, noise):
        acp_t = self.acp[int(self.timesteps[i])]
        return [math.sqrt(acp_t) * x + math.sqrt(1 - acp_t) * z for x, z in zip(original, noise)]


class Pndm:
    """PNDMScheduler: Runge-Kutta warm-up (unless skip_prk_steps), then PLMS; no rescale_betas_zero_snr."""

    def __init__(self, config, n):
        a = self.a = from_config("PNDMScheduler", config)
        self.acp = alphas_cumprod_of(a, sigma_space=False)
        self.final = 1.0 if a["set_alpha_to_one"] else self.acp[0]
        big_n = a["num_train_timesteps"]
        self.n = n
        spacing = a["timestep_spacing"]
        if spacing == "linspace":
            ts = [round(v) for v in linspace(0, big_n - 1, n)]
        elif spacing == "leading":
            ts = [round(i * (big_n // n)) + a["steps_offset"] for i in range(n)]
        else:
            ts = [round(v) - 1 for v in arange_down(big_n, big_n / n, n)][::-1]
        # ts is ascending here, as diffusers' _timesteps.
        if a["skip_prk_steps"]:
            self.prk = []
            plms = (ts[:-1] + ts[-2:-1] + ts[-1:])[::-1]
        else:
            half = big_n // n // 2
            last_four = ts[-4:]
            if len(last_four) != 4:
                raise ValueError("PRK needs four timesteps")
            pairs = []
            for t in last_four:
                pairs += [t, t + half]
            pairs = pairs[:-1]
            doubled = [v for v in pairs for _ in range(2)][1:-1]
            self.prk = doubled[::-1]
            plms = ts[:-3][::-1]
        self.timesteps = [float(t) for t in self.prk + plms]
        self.sigmas = None
        self.init_noise_sigma = 1.0
        self.counter = 0
        self.ets = []
        self.cur_model_output = None
        self.cur_sample = None

    def scale(self, i):
        return 1.0

    def _previous_sample(self, sample, t, previous, output):
        a_t = self.acp[t]
        a_prev = self.acp[previous] if previous >= 0 else self.final
        b_t, b_prev = 1 - a_t, 1 - a_prev
        if self.a["prediction_type"] == "v_prediction":
            output = [math.sqrt(a_t) * m + math.sqrt(b_t) * x for m, x in zip(output, sample)]
        elif self.a["prediction_type"] != "epsilon":
            raise ValueError("PNDM takes epsilon or v_prediction")
        coefficient = (a_prev / a_t) ** 0.5
        denominator = a_t * b_prev ** 0.5 + (a_t * b_t * a_prev) ** 0.5
        return [coefficient * x - (a_prev - a_t) * m / denominator for x, m in zip(sample, output)]

    def step(self, i, output, sample, noise):
        timestep = int(self.timesteps[i])
        if self.counter < len(self.prk) and not self.a["skip_prk_steps"]:
            return self._step_prk(output, timestep, sample)
        return self._step_plms(output, timestep, sample)

    def _step_prk(self, output, timestep, sample):
        big_n = self.a["num_train_timesteps"]
        difference = 0 if self.counter % 2 else big_n // self.n // 2
        previous = timestep - difference
        base = self.prk[self.counter // 4 * 4]
        phase = self.counter % 4
        if phase == 0:
            self.cur_model_output = [m / 6 for m in output]
            self.ets.append(list(output))
            self.cur_sample = list(sample)
        elif phase in (1, 2):
            self.cur_model_output = [c + m / 3 for c, m in zip(self.cur_model_output, output)]
        else:
            output = [c + m / 6 for c, m in zip(self.cur_model_output, output)]
            self.cur_model_output = None
        start = self.cur_sample if self.cur_sample is not None else sample
        result = self._previous_sample(start, base, previous, output)
        self.counter += 1
        return result

    def _step_plms(self, output, timestep, sample):
        ratio = self.a["num_train_timesteps"] // self.n
        previous = timestep - ratio
        if self.counter != 1:
            self.ets = self.ets[-3:]
            self.ets.append(list(output))
        else:
            previous = timestep
            timestep = timestep + ratio
        e = self.ets
        if len(e) == 1 and self.counter == 0:
            combined = list(output)
            self.cur_sample = list(sample)
        elif len(e) == 1 and self.counter == 1:
            combined = [(m + p) / 2 for m, p in zip(output, e[-1])]
            sample = self.cur_sample
            self.cur_sample = None
        elif len(e) == 2:
            combined = [(3 * p1 - p2) / 2 for p1, p2 in zip(e[-1], e[-2])]
        elif len(e) == 3:
            combined = [(23 * p1 - 16 * p2 + 5 * p3) / 12 for p1, p2, p3 in zip(e[-1], e[-2], e[-3])]
        else:
            combined = [(55 * p1 - 59 * p2 + 37 * p3 - 9 * p4) / 24
                        for p1, p2, p3, p4 in zip(e[-1], e[-2], e[-3], e[-4])]
        result = self._previous_sample(sample, timestep, previous, combined)
        self.counter += 1
        return result

    def add_noise(self, i, original, noise):
        acp_t = self.acp[int(self.timesteps[i])]
        return [math.sqrt(acp_t) * x + math.sqrt(1 - acp_t) * z for x, z in zip(original, noise)]


def spaced_float_timesteps(a, n, as_float32):
    big_n = a["num_train_timesteps"]
    spacing = a["timestep_spacing"]
    if spacing == "linspace":
        ts = linspace(0, big_n - 1, n)[::-1]
    elif spacing == "leading":
        ts = [float(round(i * (big_n // n))) for i in range(n)][::-1]
        ts = [t + a["steps_offset"] for t in ts]
    else:
        ts = [float(round(v)) - 1 for v in arange_down(big_n, big_n / n, n)]
    return [f32(t) for t in ts] if as_float32 else ts


class SigmaSpace:
    """EulerDiscreteScheduler, EulerAncestralDiscreteScheduler and LMSDiscreteScheduler share their schedule."""

    def __init__(self, class_name, config, n, karras_requested):
        overrides = {"use_karras_sigmas": True, "use_exponential_sigmas": False} if karras_requested else {}
        a = self.a = from_config(class_name, config, **overrides)
        self.class_name = class_name
        sigma_space_rescale = class_name != "LMSDiscreteScheduler"
        self.acp = alphas_cumprod_of(a, sigma_space=sigma_space_rescale)
        train = sigmas_of(self.acp)
        log_sigmas = [math.log(s) for s in train]
        # Euler and Euler a keep their spaced timesteps in float32 and interpolate there; LMS in float64.
        ts = spaced_float_timesteps(a, n, as_float32=class_name != "LMSDiscreteScheduler")
        if a.get("interpolation_type", "linear") == "log_linear":
            sigmas = [math.exp(v) for v in linspace(math.log(train[-1]), math.log(train[0]), n + 1)]
        else:
            sigmas = [interp(t, train) for t in ts]
        # Only Euler reads sigma_min / sigma_max; the others take the range of their spaced sigmas.
        sigma_min = a.get("sigma_min") if a.get("sigma_min") is not None else sigmas[-1]
        sigma_max = a.get("sigma_max") if a.get("sigma_max") is not None else sigmas[0]
        if karras_requested or a.get("use_karras_sigmas", False):
            sigmas = karras(sigma_min, sigma_max, n)
            ts = [sigma_to_t(s, log_sigmas) for s in sigmas]
        elif a.get("use_exponential_sigmas", False):
            sigmas = exponential(sigma_min, sigma_max, n)
            ts = [sigma_to_t(s, log_sigmas) for s in sigmas]
        final = train[0] if a.get("final_sigmas_type", "zero") == "sigma_min" else 0.0
        self.sigmas = sigmas + [final]
        if a.get("timestep_type", "discrete") == "continuous" and a["prediction_type"] == "v_prediction":
            ts = [0.25 * math.log(s) for s in self.sigmas[:-1]]
        self.timesteps = [f32(t) for t in ts]
        top = max(self.sigmas)
        self.init_noise_sigma = top if a["timestep_spacing"] in ("linspace", "trailing") else math.sqrt(top * top + 1)
        self.derivatives = []

    def scale(self, i):
        sigma = self.sigmas[i]
        return 1 / math.sqrt(sigma * sigma + 1)

    def _x0(self, sigma, output, sample):
        p = self.a["prediction_type"]
        if p == "epsilon":
            return [x - sigma * m for x, m in zip(sample, output)]
        if p == "v_prediction":
            return [m * (-sigma / math.sqrt(sigma * sigma + 1)) + x / (sigma * sigma + 1)
                    for x, m in zip(sample, output)]
        return list(output)

    def step(self, i, output, sample, noise):
        sigma, following = self.sigmas[i], self.sigmas[i + 1]
        x0 = self._x0(sigma, output, sample)
        derivative = [(x - y) / sigma for x, y in zip(sample, x0)]
        if self.class_name == "EulerDiscreteScheduler":
            return [x + d * (following - sigma) for x, d in zip(sample, derivative)]
        if self.class_name == "EulerAncestralDiscreteScheduler":
            up = math.sqrt(following ** 2 * (sigma ** 2 - following ** 2) / sigma ** 2)
            down = math.sqrt(following ** 2 - up ** 2)
            z = noise.tensor(len(sample))
            return [x + d * (down - sigma) + w * up for x, d, w in zip(sample, derivative, z)]
        # LMS, order 4: Lagrange basis polynomials integrated exactly.
        order = min(i + 1, 4)
        self.derivatives.append(derivative)
        if len(self.derivatives) > order:
            self.derivatives.pop(0)
        coefficients = [self._lms_coefficient(order, i, j) for j in range(order)]
        result = list(sample)
        for c, d in zip(coefficients, reversed(self.derivatives)):
            result = [r + c * v for r, v in zip(result, d)]
        return result

    def _lms_coefficient(self, order, t, current):
        s = self.sigmas
        polynomial = [1.0]  # ascending powers of tau
        for k in range(order):
            if k == current:
                continue
            denominator = s[t - current] - s[t - k]
            node = s[t - k]
            product = [0.0] * (len(polynomial) + 1)
            for power, c in enumerate(polynomial):
                product[power + 1] += c / denominator
                product[power] -= node * c / denominator
            polynomial = product
        lower, upper = s[t], s[t + 1]
        return sum(c * (upper ** (p + 1) - lower ** (p + 1)) / (p + 1) for p, c in enumerate(polynomial))

    def add_noise(self, i, original, noise):
        return [x + self.sigmas[i] * z for x, z in zip(original, noise)]


class DpmPlusPlus2M:
    """DPMSolverMultistepScheduler as DPM++ 2M: algorithm_type dpmsolver++ and solver_order 2 are the sampler's."""

    def __init__(self, config, n, karras_requested):
        overrides = {"algorithm_type": "dpmsolver++", "solver_order": 2}
        if karras_requested:
            overrides.update(use_karras_sigmas=True, use_exponential_sigmas=False, use_lu_lambdas=False)
        a = self.a = from_config("DPMSolverMultistepScheduler", config, **overrides)
        acp = self.acp = alphas_cumprod_of(a, sigma_space=True)
        big_n = a["num_train_timesteps"]
        lambdas = [math.log(math.sqrt(x)) - math.log(math.sqrt(1 - x)) for x in acp]
        clipped = sum(1 for value in reversed(lambdas) if value < a["lambda_min_clipped"])
        last = big_n - clipped
        spacing = a["timestep_spacing"]
        if spacing == "linspace":
            ts = [round(v) for v in linspace(0, last - 1, n + 1)][::-1][:-1]
        elif spacing == "leading":
            ratio = last // (n + 1)
            ts = [round(i * ratio) + a["steps_offset"] for i in range(n + 1)][::-1][:-1]
        else:
            ratio = big_n / n
            # How many of last, last - ratio, ... lie above 0 (n when nothing is clipped).
            count = n if last == big_n else math.ceil(last / ratio - 1e-9)
            ts = [round(v) - 1 for v in arange_down(last, ratio, count)]
        train = sigmas_of(acp)
        log_sigmas = [math.log(s) for s in train]
        cosine = a["beta_schedule"] == "squaredcos_cap_v2" and a["trained_betas"] is None
        # The whole training range, whatever the spacing (and sigma_min / sigma_max are Euler's keys, not this class's).
        sigma_min, sigma_max = train[0], train[-1]
        if a["use_karras_sigmas"]:
            sigmas = karras(sigma_min, sigma_max, n)
            fractional = [sigma_to_t(s, log_sigmas) for s in sigmas]
            ts = fractional if cosine else [round(t) for t in fractional]
        elif a["use_lu_lambdas"]:
            sigmas = [math.exp(v) for v in linspace(log_sigmas[-1], log_sigmas[0], n)]
            fractional = [sigma_to_t(s, log_sigmas) for s in sigmas]
            ts = fractional if cosine else [round(t) for t in fractional]
        elif a["use_exponential_sigmas"]:
            sigmas = exponential(sigma_min, sigma_max, n)
            ts = [sigma_to_t(s, log_sigmas) for s in sigmas]
        else:
            sigmas = [interp(t, train) for t in ts]
        # The timesteps become int64: what was not rounded is truncated.
        self.timesteps = [float(math.trunc(t)) for t in ts]
        final = train[0] if a["final_sigmas_type"] == "sigma_min" else 0.0
        self.sigmas = sigmas + [final]
        self.init_noise_sigma = 1.0
        self.outputs = [None, None]
        self.lower_order_nums = 0

    def scale(self, i):
        return 1.0

    @staticmethod
    def _alpha_sigma(sigma):
        alpha = 1 / math.sqrt(sigma * sigma + 1)
        return alpha, sigma * alpha

    @staticmethod
    def _lambda(alpha, sigma):
        return math.log(alpha) - (math.log(sigma) if sigma > 0 else -math.inf)

    def step(self, i, output, sample, noise):
        a = self.a
        count = len(self.timesteps)
        lower_order_final = i == count - 1 and (
            a["euler_at_final"] or (a["lower_order_final"] and count < 15) or a["final_sigmas_type"] == "zero")
        alpha_s, sigma_s = self._alpha_sigma(self.sigmas[i])
        p = a["prediction_type"]
        if p == "epsilon":
            x0 = [(x - sigma_s * m) / alpha_s for x, m in zip(sample, output)]
        elif p == "v_prediction":
            x0 = [alpha_s * x - sigma_s * m for x, m in zip(sample, output)]
        else:
            x0 = list(output)
        if a["thresholding"]:
            x0 = threshold(x0, a["dynamic_thresholding_ratio"], a["sample_max_value"])
        self.outputs = [self.outputs[1], x0]
        alpha_t, sigma_t = self._alpha_sigma(self.sigmas[i + 1])
        lambda_t = self._lambda(alpha_t, sigma_t)
        lambda_s0 = self._lambda(alpha_s, sigma_s)
        h = lambda_t - lambda_s0
        phi = math.exp(-h) - 1.0
        if self.lower_order_nums < 1 or lower_order_final:
            result = [(sigma_t / sigma_s) * x - alpha_t * phi * d for x, d in zip(sample, x0)]
        else:
            alpha_s1, sigma_s1 = self._alpha_sigma(self.sigmas[i - 1])
            h0 = lambda_s0 - self._lambda(alpha_s1, sigma_s1)
            r0 = h0 / h
            m0, m1 = self.outputs[1], self.outputs[0]
            d1 = [(u - v) / r0 for u, v in zip(m0, m1)]
            if a["solver_type"] == "midpoint":
                result = [(sigma_t / sigma_s) * x - alpha_t * phi * u - 0.5 * alpha_t * phi * w
                          for x, u, w in zip(sample, m0, d1)]
            else:
                result = [(sigma_t / sigma_s) * x - alpha_t * phi * u + alpha_t * (phi / h + 1.0) * w
                          for x, u, w in zip(sample, m0, d1)]
        if self.lower_order_nums < 2:
            self.lower_order_nums += 1
        return result

    def add_noise(self, i, original, noise):
        alpha, sigma = self._alpha_sigma(self.sigmas[i])
        return [alpha * x + sigma * z for x, z in zip(original, noise)]


class Lcm:
    def __init__(self, config, n):
        a = self.a = from_config("LCMScheduler", config)
        self.acp = alphas_cumprod_of(a, sigma_space=False)
        self.final = 1.0 if a["set_alpha_to_one"] else self.acp[0]
        original = a["original_inference_steps"]
        k = a["num_train_timesteps"] // original
        origin = [j * k - 1 for j in range(1, original + 1)][::-1]
        indices = [int(math.floor(v)) for v in [j * (len(origin) / n) for j in range(n)]]
        self.timesteps = [float(origin[j]) for j in indices]
        self.sigmas = None
        self.init_noise_sigma = 1.0

    def scale(self, i):
        return 1.0

    def step(self, i, output, sample, noise):
        a = self.a
        t = int(self.timesteps[i])
        previous = int(self.timesteps[i + 1]) if i + 1 < len(self.timesteps) else t
        acp_t = self.acp[t]
        acp_prev = self.acp[previous] if previous >= 0 else self.final
        scaled = t * a["timestep_scaling"]
        c_skip = 0.25 / (scaled ** 2 + 0.25)
        c_out = scaled / math.sqrt(scaled ** 2 + 0.25)
        x0, _ = x0_and_eps(a["prediction_type"], acp_t, sample, output)
        if a["thresholding"]:
            x0 = threshold(x0, a["dynamic_thresholding_ratio"], a["sample_max_value"])
        elif a["clip_sample"]:
            r = a["clip_sample_range"]
            x0 = [min(max(v, -r), r) for v in x0]
        denoised = [c_out * y + c_skip * x for y, x in zip(x0, sample)]
        if i == len(self.timesteps) - 1:
            return denoised
        z = noise.tensor(len(sample))
        return [math.sqrt(acp_prev) * d + math.sqrt(1 - acp_prev) * w for d, w in zip(denoised, z)]

    def add_noise(self, i, original, noise):
        acp_t = self.acp[int(self.timesteps[i])]
        return [math.sqrt(acp_t) * x + math.sqrt(1 - acp_t) * z for x, z in zip(original, noise)]


def make(name, config, n):
    karras_requested = name.endswith("_karras")
    base = name[: -len("_karras")] if karras_requested else name
    if base == "ddim":
        return Ddim(config, n)
    if base == "pndm":
        return Pndm(config, n)
    if base == "lcm":
        return Lcm(config, n)
    if base == "dpmpp_2m":
        return DpmPlusPlus2M(config, n, karras_requested)
    class_name = {"euler": "EulerDiscreteScheduler", "euler_a": "EulerAncestralDiscreteScheduler",
                  "lms": "LMSDiscreteScheduler"}[base]
    return SigmaSpace(class_name, config, n, karras_requested)


# ---------------------------------------------------------------------------------------------------------------
# The configurations and the runs.
# ---------------------------------------------------------------------------------------------------------------

# Verbatim scheduler_config.json files (SD 1.5: runwayml/stable-diffusion-v1-5; SD 2.1: stabilityai/stable-diffusion-2-1).
SD15 = """{
  "_class_name": "PNDMScheduler",
  "_diffusers_version": "0.6.0",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "num_train_timesteps": 1000,
  "set_alpha_to_one": false,
  "skip_prk_steps": true,
  "steps_offset": 1,
  "trained_betas": null,
  "clip_sample": false
}"""

SD21 = """{
  "_class_name": "DDIMScheduler",
  "_diffusers_version": "0.8.0",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "clip_sample": false,
  "num_train_timesteps": 1000,
  "prediction_type": "v_prediction",
  "set_alpha_to_one": false,
  "skip_prk_steps": true,
  "steps_offset": 1,
  "trained_betas": null
}"""

ZERO_SNR = """{
  "_class_name": "DDIMScheduler",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "clip_sample": false,
  "num_train_timesteps": 1000,
  "prediction_type": "v_prediction",
  "rescale_betas_zero_snr": true,
  "set_alpha_to_one": false,
  "steps_offset": 1,
  "timestep_spacing": "trailing"
}"""

COSINE = """{
  "_class_name": "DPMSolverMultistepScheduler",
  "beta_schedule": "squaredcos_cap_v2",
  "num_train_timesteps": 1000,
  "prediction_type": "epsilon"
}"""

DEFAULTS_ONLY = "{}"


def trained_betas_config():
    # 100 training steps with hand-made betas rising from 0.001 to 0.15; the class defaults otherwise.
    betas = [round(0.001 + 0.149 * (i / 99) ** 1.5, 6) for i in range(100)]
    return json.dumps({"_class_name": "EulerDiscreteScheduler", "num_train_timesteps": 100,
                       "beta_schedule": "scaled_linear", "trained_betas": betas}, indent=2)


# Keys beyond the common ones, to show each is read by its class and ignored by the others.
EULER_OPTIONS = """{
  "_class_name": "EulerDiscreteScheduler",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "interpolation_type": "log_linear",
  "final_sigmas_type": "sigma_min",
  "timestep_spacing": "leading",
  "steps_offset": 1,
  "rescale_betas_zero_snr": false,
  "solver_type": "heun",
  "lambda_min_clipped": -5.1
}"""

EULER_CONTINUOUS = """{
  "_class_name": "EulerDiscreteScheduler",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "prediction_type": "v_prediction",
  "timestep_type": "continuous",
  "use_karras_sigmas": true,
  "sigma_min": 0.002,
  "sigma_max": 700.0,
  "timestep_spacing": "leading",
  "steps_offset": 1
}"""

EXPONENTIAL = """{
  "_class_name": "LMSDiscreteScheduler",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "use_exponential_sigmas": true,
  "sigma_max": 10.0
}"""

DPM_CLIPPED = """{
  "_class_name": "DPMSolverMultistepScheduler",
  "beta_schedule": "squaredcos_cap_v2",
  "lambda_min_clipped": -5.1,
  "solver_type": "heun",
  "final_sigmas_type": "sigma_min",
  "lower_order_final": true,
  "timestep_spacing": "trailing",
  "interpolation_type": "log_linear"
}"""

DPM_OPTIONS = """{
  "_class_name": "DPMSolverMultistepScheduler",
  "_diffusers_version": "0.27.0",
  "algorithm_type": "sde-dpmsolver++",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "dynamic_thresholding_ratio": 0.9,
  "euler_at_final": true,
  "lambda_min_clipped": -Infinity,
  "lower_order_final": false,
  "sample_max_value": 1.5,
  "solver_order": 3,
  "thresholding": true,
  "use_lu_lambdas": true,
  "variance_type": null,
  "timestep_spacing": "leading",
  "steps_offset": 1
}"""

THRESHOLDING = """{
  "_class_name": "DDIMScheduler",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "clip_sample": true,
  "thresholding": true,
  "dynamic_thresholding_ratio": 0.8,
  "sample_max_value": 2.5,
  "set_alpha_to_one": false,
  "steps_offset": 1
}"""

ALL = ["euler", "euler_karras", "euler_a", "euler_a_karras", "ddim", "pndm", "lms", "lms_karras", "dpmpp_2m",
       "dpmpp_2m_karras", "lcm"]

CASES = [
    ("sd15", SD15, ALL, [7, 10]),
    ("sd21", SD21, ALL, [7, 10]),
    ("zero_snr_trailing_v", ZERO_SNR, ALL, [7]),
    ("cosine", COSINE, ALL, [7]),
    ("class_defaults", DEFAULTS_ONLY, ALL, [4, 7]),
    ("trained_betas", trained_betas_config(), ALL, [7]),
    ("euler_options", EULER_OPTIONS, ["euler", "euler_karras", "euler_a", "lms", "dpmpp_2m"], [7]),
    ("euler_continuous", EULER_CONTINUOUS, ["euler", "euler_a", "lms_karras"], [7]),
    ("exponential", EXPONENTIAL, ["lms", "lms_karras", "euler", "dpmpp_2m"], [7]),
    ("dpm_clipped", DPM_CLIPPED, ["dpmpp_2m", "dpmpp_2m_karras", "euler"], [7, 16]),
    ("dpm_options", DPM_OPTIONS, ["dpmpp_2m", "dpmpp_2m_karras"], [7, 16]),
    ("thresholding", THRESHOLDING, ["ddim", "lcm", "dpmpp_2m"], [7]),
]

BASE_SAMPLE = [0.9, -1.3, 0.4, 2.1, -0.6, 0.15]


def model_output(step, length, salt):
    return [f32(1.1 * math.sin(1.3 * j + 0.7 * step + salt)) for j in range(length)]


def run(case, config_text, name, n, salt):
    config = json.loads(config_text)
    s = make(name, config, n)
    length = len(BASE_SAMPLE)
    sample = [f32(v * s.init_noise_sigma) for v in BASE_SAMPLE]
    seed = 1000 + salt
    noise = Noise(seed)
    outputs, samples = [], []
    current = list(sample)
    for i in range(len(s.timesteps)):
        out = model_output(i, length, salt * 0.1)
        current = s.step(i, out, current, noise)
        if not all(math.isfinite(v) for v in current):
            raise ValueError(f"{case}/{name}/{n}: step {i} is not finite")
        outputs.append(out)
        samples.append(current)
    index = len(s.timesteps) // 2
    fresh = make(name, config, n)
    original = [f32(0.5 * v) for v in BASE_SAMPLE]
    added = [f32(v) for v in model_output(99, length, 0.3)]
    return {
        "config": case,
        "scheduler": name,
        "steps": n,
        "timesteps": s.timesteps,
        "sigmas": s.sigmas,
        "init_noise_sigma": s.init_noise_sigma,
        "input_scales": [s.scale(i) for i in range(len(s.timesteps))],
        "sample": sample,
        "noise_seed": seed,
        "model_outputs": outputs,
        "samples": samples,
        "add_noise": {"index": index, "original": original, "noise": added,
                      "expected": fresh.add_noise(index, original, added)},
    }


def main():
    runs = []
    salt = 0
    for case, text, names, step_counts in CASES:
        for name in names:
            for n in step_counts:
                salt += 1
                runs.append(run(case, text, name, n, salt))
    document = {
        "about": "Written by tests/OrleansDiffusion.Engine.Tests/Schedulers/Reference/scheduler_reference.py; "
                 "do not edit by hand.",
        "configs": {case: text for case, text, _, _ in CASES},
        "runs": runs,
    }
    here = os.path.dirname(os.path.abspath(__file__))
    target = os.path.join(here, "..", "..", "Data", "scheduler-reference.json")
    with open(target, "w", encoding="utf-8", newline="\n") as handle:
        json.dump(document, handle, allow_nan=False, separators=(",", ":"))
        handle.write("\n")
    print(f"{len(runs)} runs -> {os.path.normpath(target)}")


if __name__ == "__main__":
    main()
