"""Progressive distillation (Salimans & Ho, ICLR 2022, arXiv 2202.00512, Algorithm 2), on EDM's
parametrisation x = y + sigma * n (no signal scaling: alpha = 1).

Algorithm (one round per halving; the student starts as the teacher and becomes the next teacher):

  teacher: deterministic DDIM with N steps on EDM's time steps sigma_0 = 80 > ... > sigma_N = 0
           (Karras et al. 2022 eq. 5, rho = 7); one DDIM step x' = D + (s'/s)(x - D)
  for each round (N -> N/2 student steps, until one step):
    repeat (this round's share of the image budget):
      y, labels ~ data;  i ~ U{0, ..., N/2 - 1};  s, s', s'' = sigma_{2i}, sigma_{2i+1}, sigma_{2i+2}
      x = y + s * n,  n ~ N(0, I)
      two teacher DDIM steps: x' = DDIM(x, s -> s'), x'' = DDIM(x', s' -> s'')
      target (Algorithm 2, alpha = 1): the x-prediction x~ with which one student DDIM step s -> s''
        lands on x'':   x~ = (x'' - (s''/s) x) / (1 - s''/s)         (x~ = x'' when s'' = 0)
      loss = w(s) * ||D_student(x; s) - x~||^2   (summed over pixels, mean over the batch)
    teacher <- student;  N <- N/2

Time steps: the student's grid is the teacher's grid taken every other point, so after the last
round the one-step student jumps sigma_0 = 80 -> 0: the generator is D_student(80 z; 80) (EDM
preconditioning), NFE = 1. Every round's grid is a subset of the first teacher's EDM grid.

Loss weighting w(s) (Salimans & Ho §4 give both; they behave alike): ``"snr_plus_one"`` (default)
= (s^2 + sd^2)/(s sd)^2, which is EDM's lambda(sigma) (arXiv 2206.00364, Table 1) and equals the
paper's "SNR + 1" weighting with SNR = sd^2/s^2 measured against the data scale, scaled by 1/sd^2;
``"truncated_snr"`` = max(sd^2/s^2, 1)/sd^2, the paper's "truncated SNR" on the same scale.
Why SNR = sd^2/s^2 and not the reference's 1/s^2: the reference code (google-research
``diffusion_distillation``) works in variance-preserving coordinates, where x = y + s n maps to
alpha^2 / sigma_vp^2 = 1/s^2, the SNR of data of unit scale. EDM's backbones are trained with
lambda(s) = 1/s^2 + 1/sd^2, i.e. SNR measured against the data's std sd = 0.5; weighting the
student with the same per-sigma balance as the teacher's own training keeps the student's loss on
the scale the network was pre-trained for. The two differ by where the weight levels off (s = sd
vs s = 1) and by a constant factor (Adam ignores it).

Labels: the real batch's labels (the paper distils on data; conditional nets see their labels).
The student trains with dropout off (eval mode), like every generator in the harness; each round
restarts Adam and, as in the paper, anneals the learning rate linearly to 0 within the round; the
gradient's global norm is clipped (``max_grad_norm``, both references: ``grad_clip=1.0``).
No EMA: the student itself is evaluated, as both references do (google-research
``diffusion_distillation/config/cifar_distill.py`` and ``imagenet64_distill.py``: ``ema_decay=0``;
openai/consistency_models_cifar10 ``configs/cifar10_ve_progressive_distillation.py``: ``ema_rate=0``),
so no weights of an earlier round's student leak into the one-step generator (``train_defaults``).
Per-dataset recipes (start steps, lr, batch, images per round) are the presets of harness/presets.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch

from baselines import METHODS
from baselines.base import MethodContext, StudentDistillation, draw_latents
from baselines.tunable import choice, log_uniform
from harness.config import one_of
from harness.errors import UsageError
from harness.optimizers import Adam, Optimizer
from harness.samplers import OneStepGenerator, ddim_step, karras_sigmas, supported_sigma_range

WEIGHTINGS = ("snr_plus_one", "truncated_snr")


@dataclass
class ProgressiveDistillationConfig:
    """Defaults: the CIFAR-10 reference of Salimans & Ho 2022 (google-research
    ``diffusion_distillation/config/cifar_distill.py``: an 8192-step teacher, Adam lr 5e-5 annealed
    linearly to 0 per round, gradient clipping at 1, truncated-SNR weighting, no EMA); time steps
    from EDM (eq. 5). Dataset presets (harness/presets) set each dataset's reference recipe."""

    start_steps: int = 8192  # first teacher's DDIM steps; a power of two (cifar_distill.py start_num_steps)
    lr: float = 5e-5
    beta1: float = 0.9
    beta2: float = 0.999
    anneal_lr: bool = True  # linear decay to 0 within each round (paper)
    max_grad_norm: float = 1.0  # clip the student's gradient norm; 0 = off (reference: grad_clip=1.0)
    loss_weighting: str = one_of("truncated_snr", WEIGHTINGS)  # or "snr_plus_one" (paper §4; references: snr_trunc)
    round_fractions: tuple[float, ...] = ()  # share of the image budget per round; () = equal split
    sigma_min: float = 0.002  # EDM (arXiv 2206.00364) eq. 5
    sigma_max: float = 80.0
    rho: float = 7.0


# `bench tune`'s search space (baselines/tunable.py): the lr, the first teacher's step count (how many
# halving rounds share the budget) and the two loss weightings of arXiv 2202.00512 §4.
SEARCH_SPACE = {
    "lr": log_uniform(1e-5, 2e-3, why="Adam lr, annealed per round (google-research cifar_distill.py: 5e-5)"),
    "start_steps": choice(4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192,
                          why="first teacher's DDIM steps = 2^rounds (google-research cifar_distill.py: 8192)"),
    "loss_weighting": choice(*WEIGHTINGS, why="SNR+1 vs truncated SNR (arXiv 2202.00512 §4)"),
}


# --- the algorithm's pieces as pure functions (tested in tests/methods) -----------------------------

def pd_schedule(start_steps: int, sigma_min: float, sigma_max: float, rho: float,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """The first teacher's grid sigma_0 > ... > sigma_{N-1} = sigma_min > sigma_N = 0 (float64)."""
    return karras_sigmas(start_steps, sigma_min, sigma_max, rho, device=device)


def teacher_two_ddim_steps(teacher: torch.nn.Module, x: torch.Tensor, sigma: torch.Tensor,
                           sigma_mid: torch.Tensor, sigma_next: torch.Tensor,
                           labels: torch.Tensor | None) -> torch.Tensor:
    """x'' after two deterministic DDIM steps sigma -> sigma_mid -> sigma_next (per-sample sigmas [B]), float64."""
    s, s_mid, s_next = (v.to(torch.float64).reshape(-1, 1, 1, 1) for v in (sigma, sigma_mid, sigma_next))
    x = x.to(torch.float64)
    x_mid = ddim_step(x, teacher(x, s, labels).to(torch.float64), s, s_mid)
    return ddim_step(x_mid, teacher(x_mid, s_mid, labels).to(torch.float64), s_mid, s_next)


def pd_target_from_two_steps(x: torch.Tensor, x_two_steps: torch.Tensor, sigma: torch.Tensor,
                             sigma_next: torch.Tensor) -> torch.Tensor:
    """Algorithm 2's x~ with alpha = 1: the x-prediction whose single DDIM step sigma -> sigma_next
    from x gives x_two_steps. Solves x'' = x~ + (s''/s)(x - x~) for x~."""
    ratio = (sigma_next.to(torch.float64) / sigma.to(torch.float64)).reshape(-1, 1, 1, 1)
    return (x_two_steps.to(torch.float64) - ratio * x.to(torch.float64)) / (1 - ratio)


@torch.no_grad()
def progressive_distillation_target(teacher: torch.nn.Module, x: torch.Tensor, sigma: torch.Tensor,
                                    sigma_mid: torch.Tensor, sigma_next: torch.Tensor,
                                    labels: torch.Tensor | None) -> torch.Tensor:
    """The student's regression target at (x, sigma): two teacher DDIM steps, then the closed form (float64)."""
    x_two = teacher_two_ddim_steps(teacher, x, sigma, sigma_mid, sigma_next, labels)
    return pd_target_from_two_steps(x, x_two, sigma, sigma_next)


def pd_loss_weight(sigma: torch.Tensor, sigma_data: float, kind: str) -> torch.Tensor:
    """w(sigma) for the x-space loss (module docstring)."""
    snr = sigma_data**2 / sigma**2
    if kind == "snr_plus_one":
        return (snr + 1) / sigma_data**2
    if kind == "truncated_snr":
        return snr.clamp(min=1.0) / sigma_data**2
    raise UsageError(f"progressive_distillation: loss_weighting must be one of {', '.join(WEIGHTINGS)}; got {kind!r}")


def round_boundaries(budget_images: int, rounds: int, fractions: tuple[float, ...]) -> list[float]:
    """End of each round in images seen (cumulative), from the budget and the per-round shares."""
    if not fractions:
        fractions = (1.0,) * rounds
    if len(fractions) != rounds or any(not (f > 0) for f in fractions):
        raise UsageError(f"progressive_distillation: round_fractions needs {rounds} positive values "
                         f"(one per halving), got {tuple(fractions)}")
    total = sum(fractions)
    ends, acc = [], 0.0
    for f in fractions:
        acc += f
        ends.append(budget_images * acc / total)
    return ends


class ProgressiveDistillation(StudentDistillation):
    """Algorithm 2 (module docstring): rounds of halving, each student becoming the next teacher."""

    name = "progressive_distillation"
    runs_backbone_wrapper = True  # samples the backbone's own D(x; sigma), any wrapper
    train_defaults = {"ema_beta": 0.0}  # no EMA (module docstring)
    introduced = {"max_grad_norm": 0.0}  # records made before clipping existed ran without it
    schedule_depends_on_budget = True  # the rounds' ends are shares of the budget (round_boundaries)
    Config = ProgressiveDistillationConfig

    def __init__(self, ctx: MethodContext, config: ProgressiveDistillationConfig):
        super().__init__(ctx, config)
        n = config.start_steps
        if isinstance(n, bool) or n < 2 or n & (n - 1):
            raise UsageError(f"progressive_distillation: start_steps must be a power of two >= 2, got {n}")
        if not config.max_grad_norm >= 0:
            raise UsageError(f"progressive_distillation: max_grad_norm must be >= 0 (0 = off), "
                             f"got {config.max_grad_norm}")
        pd_loss_weight(torch.ones(1), 0.5, config.loss_weighting)  # unknown weighting: fail now
        net = ctx.backbone.net
        sigma_min, sigma_max = supported_sigma_range(net, config.sigma_min, config.sigma_max)
        self.sigma_data = float(getattr(net, "sigma_data", 0.5))
        self.sigmas = pd_schedule(n, sigma_min, sigma_max, config.rho, device=ctx.device)
        self.num_rounds = int(math.log2(n))
        self.ends = round_boundaries(ctx.budget_images, self.num_rounds, tuple(config.round_fractions))

        # Round 0: the teacher is the backbone itself (frozen); the student starts as its copy.
        self.teacher = net
        self.student = copy.deepcopy(net).eval().requires_grad_(True).to(ctx.device)
        self._generator = OneStepGenerator(self.student, float(self.sigmas[0]))
        self.round = 0
        self.opt = self._new_optimizer()

    def _new_optimizer(self) -> Optimizer:
        c = self.config
        return Adam(self.student.parameters(), lr=c.lr, betas=(c.beta1, c.beta2), eps=1e-8)

    def student_steps(self, round_index: int) -> int:
        """Student sampling steps in round r: start_steps / 2^(r+1)."""
        return self.config.start_steps >> (round_index + 1)

    def round_at(self, images_seen: int) -> int:
        r = sum(1 for end in self.ends[:-1] if images_seen >= end)
        return min(r, self.num_rounds - 1)

    def _next_round(self) -> None:
        """Algorithm 2's outer loop: the student becomes the teacher; a fresh optimisation starts."""
        self.teacher = copy.deepcopy(self.student).eval().requires_grad_(False)
        self.round += 1
        self.opt = self._new_optimizer()

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"generator": self._generator, "teacher": self.teacher}

    def extra_state(self) -> dict[str, Any]:
        return {"round": self.round}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Past round 0 the teacher is a separate copy, whose weights the checkpoint then restores."""
        self.round = int(state.get("round", 0))
        if self.round > 0:
            self.teacher = copy.deepcopy(self.student).eval().requires_grad_(False)
            self.opt = self._new_optimizer()

    def record_info(self) -> dict[str, Any]:
        return {
            "start_steps": self.config.start_steps,
            "rounds": self.num_rounds,
            "student_steps_per_round": [self.student_steps(r) for r in range(self.num_rounds)],
            "round_end_kimg": [e / 1000 for e in self.ends],
            "teacher_sampler": "ddim (deterministic) on EDM time steps",
            "sigma_max": float(self.sigmas[0]), "sigma_min": float(self.sigmas[-2]), "rho": self.config.rho,
            "loss_weighting": self.config.loss_weighting, "max_grad_norm": self.config.max_grad_norm,
        }

    def train_step(self, real, labels, step, rng):
        images_before = step * self.ctx.batch_size
        while self.round < self.round_at(images_before):
            self._next_round()
        r = self.round
        if self.config.anneal_lr:
            start = self.ends[r - 1] if r > 0 else 0.0
            progress = (images_before - start) / max(self.ends[r] - start, 1.0)
            for group in self.opt.param_groups:
                group["lr"] = self.config.lr * max(0.0, 1.0 - progress)

        # A student step i per image and its sigmas on the nested grid (stride k = start_steps / student steps):
        # s = grid[k i], s' = grid[k i + k/2], s'' = grid[k (i + 1)].
        batch = real.shape[0]
        stride = self.config.start_steps // self.student_steps(r)
        i = torch.randint(0, self.student_steps(r), (batch,), generator=rng, device=rng.device).to(real.device)
        sigma, sigma_mid, sigma_next = (self.sigmas[stride * i], self.sigmas[stride * i + stride // 2],
                                        self.sigmas[stride * (i + 1)])
        noise = draw_latents(tuple(real.shape), rng, real.device)
        x = real + sigma.to(torch.float32).reshape(-1, 1, 1, 1) * noise

        target = progressive_distillation_target(self.teacher, x, sigma, sigma_mid, sigma_next, labels)
        denoised = self.student(x, sigma.to(torch.float32), labels)
        weight = pd_loss_weight(sigma.to(torch.float32), self.sigma_data, self.config.loss_weighting)
        weight = weight.reshape(-1, 1, 1, 1)
        loss = (weight * (denoised - target.to(torch.float32)).square()).sum(dim=[1, 2, 3]).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.student.parameters(), self.config.max_grad_norm)
        self.opt.step()
        return {"loss": loss.detach(), "round": torch.tensor(float(r))}


METHODS.add("progressive_distillation", ProgressiveDistillation)
