"""Typed configs of the training objectives, and the registry that makes the spec accept them.

Each objective config has a ``type`` discriminator and declares, in one
place, what the rest of fusegen needs to know about it (the shape planner
asks these, never the name): the width of the latent or noise vector its
decoder takes, whether it generates through the planned head, whether it
trains with every condition dropped now and then, and whether it samples.

An objective's config joins ``OBJECTIVE_SLOT`` when the objective registers
(``fusegen.objectives.register_objective``); the spec then accepts its
``type`` like the built-in ones.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

from fusegen.spec.registry import ConfigSlot


class ObjectiveConfig(BaseModel):
    """Base of every objective's config: unknown keys are errors; capabilities default to a plain decoder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str

    #: Width of the latent or noise vector the decoder takes beside the conditions; 0 for none.
    latent_width: ClassVar[int] = 0
    #: Whether it generates through the head planned for the output (False: its own network).
    plans_head: ClassVar[bool] = True
    #: Whether training sometimes hides every condition, so inputs may be absent when sampling.
    drops_conditions: ClassVar[bool] = False
    #: Whether it samples many outputs per condition (so a spec without inputs makes sense).
    is_generative: ClassVar[bool] = True
    #: Whether it can condition a record on any subset of the record's own columns
    #: (``conditioning.any_column``): it trains with a masked copy of the record as a condition.
    conditions_on_record_columns: ClassVar[bool] = False


class RegressionObjective(ObjectiveConfig):
    """Deterministic: each part gets its loss (MSE, or cross-entropy for categories).

    It predicts one output per condition, the mean where several are valid;
    use a generative objective to sample many.
    """

    type: Literal["regression"] = "regression"
    numeric_loss: Literal["mse", "mae", "huber"] = "mse"

    is_generative: ClassVar[bool] = False


class CVAEObjective(ObjectiveConfig):
    """A conditional VAE: a posterior encoder sees the target and the fused conditions.

    Sampling draws latents from the normal prior (scaled by ``prior_scale``
    and the temperature) and decodes them with the conditions.
    """

    type: Literal["cvae"] = "cvae"
    latent_dim: PositiveInt = 16
    kl_weight: PositiveFloat = 1.0
    kl_warmup_epochs: int = Field(
        default=5,
        ge=0,
        description="Epochs over which the KL weight rises from 0; without it the posterior "
        "tends to collapse to the mean before the decoder learns to use the latent. The validation loss "
        "weighs the KL fully throughout, so early stopping compares every epoch on the same bound.",
    )
    numeric_loss: Literal["mse", "mae"] = "mse"
    numeric_scale: Literal["pooled", "shared", "per_column"] = Field(
        default="pooled",
        description="For a record output, the numeric likelihood's scale, set to the batch's error: "
        "'shared', one for all numeric columns; 'per_column', each column's own; 'pooled', halfway "
        "between the two for each column. A column that the rest of the row predicts closely (an "
        "arrival delay from a departure delay) is then priced nearer its own error, so samples keep "
        "the relation, while no column weighs more than twice its share (docs/objectives.md). A "
        "sequence's elements always share one scale.",
    )
    posterior_units: list[PositiveInt] = Field(default=[128], min_length=1)
    observation_noise: Literal["auto"] | bool = Field(
        default="auto",
        description="Add the likelihood's own noise to sampled numbers: Gaussian, at the scale of the "
        "training error (the sigma-VAE's noise), times the temperature. Without it a sample is the "
        "decoder's mean for its latent, and a forecast's intervals are too narrow. 'auto': on for a "
        "sequence output with inputs (a forecast), off for whole windows, images, vectors and records.",
    )
    noise_scale: Literal["per_step", "constant"] = Field(
        default="per_step",
        description="For a sequence output with observation noise, how the noise's scale varies: "
        "'per_step', each step's own, fitted after training on held-out errors from the step's position "
        "in the horizon, the model's centre there and its known-ahead values (a shop's closed hours get "
        "narrow intervals, its evenings wide ones; with under 20 held-out windows, only its growth over "
        "the steps ahead; on the training windows where none are held out; docs/objectives.md), its mean "
        "still calibrated to the 80% interval on held-out windows; 'constant', one scale for every step, "
        "as runs before 0.19.0 had.",
    )
    prior_scale: Literal["auto"] | PositiveFloat = Field(
        default="auto",
        description="Standard deviation of the latent draws when sampling (times the temperature). A "
        "record sample is the decoder's mean for its latent, with no observation noise, so its numbers "
        "come out narrower than the data's; slightly wider draws move along what the decoder learnt and "
        "widen them together, relations kept. 'auto': 1.1 for a record output (measured on ten tables, "
        "docs/objectives.md), 1 (the prior itself) otherwise.",
    )
    prior: Literal["standard", "conditional", "given_cells", "given_cells_fitted"] = Field(
        default="standard",
        description="The latent's prior: 'standard', the normal N(0, I) for every row; 'conditional', a "
        "normal whose mean and scale a network computes from the fused conditions (Sohn et al., 2015), "
        "so that what the latent learns about the conditions (an image's class shows in its shape) is "
        "drawn back for them when sampling. `fusegen init` writes it for a folder of images per class, "
        "whose samples follow their class only with it (docs/guide-images.md). 'given_cells' (records "
        "conditioned on any column): the conditional prior for a row given some of its cells, the "
        "standard normal for a row given none, so unconditional samples train and draw as with "
        "'standard' while the given cells steer the others (docs/guide-records.md). 'given_cells_fitted': "
        "the model trains exactly as under 'standard', and beside it a small network learns where the "
        "posterior puts the latent of a row given some of its cells; sampling draws such a row's latent "
        "there, so the given cells steer the rest as they did in training, and unconditional samples are "
        "those of 'standard' (docs/guide-records.md).",
    )
    given_cell_rounds: int = Field(
        default=10,
        ge=0,
        description="Records conditioned on any of their own cells (conditioning.any_column): rounds of "
        "pseudo-Gibbs sampling after the first draw of a row given some cells. Each round shows the drawn "
        "row, its given cells as given, to the posterior and draws its labels again from that latent; "
        "its numbers stay the first draw's. The given cells then steer the rest of the row through the "
        "latent too, not through the decoder alone: on openintro's epa2012, given a maker (mfr_name), "
        "one of its own divisions in 71% of rows against 37% with 0 rounds (docs/guide-records.md). "
        "Rows given no cell, unconditional sampling and rebalanced rows (whose augmentation lift the "
        "rounds lowered) are drawn once as before. 0: the first draw alone, as runs before 0.21.0 sampled.",
    )
    marginals: Literal["labels", "all", "none"] = Field(
        default="all",
        description="For a record output, match the sampled columns' distributions to the training data's, "
        "measured after training on as many unconditional draws: 'labels' shifts each categorical label's "
        "logit so that its share is the data's (missing flags of nullable numbers too); 'all' also maps "
        "each numeric column through the monotone map from its generated quantiles to the data's, which "
        "widens the decoder's too-narrow numbers and gives back their tails and point masses (higher "
        "quality on the tabular suite, ML efficacy about the same; docs/objectives.md); 'none' samples "
        "the decoder as it is. Runs written before 0.6.0 that did not set it keep 'labels'.",
    )

    label_pairs: Literal["calibrate", "off"] = Field(
        default="calibrate",
        description="For a record output with marginals 'labels' or 'all': 'calibrate' also matches how "
        "pairs of categorical columns go together (a label's share beside each label of a column drawn "
        "before it) to the training data's, fitted after training on the same draws, where the decoder "
        "clearly misses them (a G-test; the 16 clearest misses). A rare label's strong "
        "relation comes back (hmda: denied given mortgage insurance denied, 0.49-0.59 of samples -> "
        "0.72-0.88, 0.90 in the data); pairs of more than 2,500 label combinations are left as drawn. "
        "'off' leaves the pairs as the decoder draws them, as runs before 0.26.0 do (docs/objectives.md).",
    )

    conditions_on_record_columns: ClassVar[bool] = True

    @property
    def latent_width(self) -> int:
        return self.latent_dim


class CGANObjective(ObjectiveConfig):
    """A conditional GAN: WGAN-GP (default) or hinge loss, with a conditional critic.

    The critic sees the output and its own encoding of the conditions
    (concatenation); it takes ``critic_steps`` steps per generator step.
    """

    type: Literal["cgan"] = "cgan"
    noise_dim: PositiveInt = 32
    loss: Literal["wgan_gp", "hinge"] = "wgan_gp"
    gradient_penalty_weight: float = Field(default=10.0, ge=0.0)
    critic_steps: PositiveInt = 2
    critic_units: list[PositiveInt] = Field(default=[128, 128], min_length=1)
    critic_learning_rate: PositiveFloat | None = Field(
        default=None, description="Defaults to training.learning_rate."
    )

    @property
    def latent_width(self) -> int:
        return self.noise_dim


class DiffusionObjective(ObjectiveConfig):
    """A conditional denoising diffusion model (DDPM training, DDIM sampling).

    Classifier-free guidance: with probability ``condition_dropout`` a
    training example loses all its conditions, so the same network learns
    the unconditional model; sampling mixes the two with ``guidance_scale``
    (1 = plain conditional sampling).
    """

    type: Literal["diffusion"] = "diffusion"
    timesteps: PositiveInt = Field(default=1000, ge=2)
    sampling_steps: PositiveInt = Field(default=50, description="DDIM steps at sampling time.")
    schedule: Literal["cosine", "linear"] = "cosine"
    condition_dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    guidance_scale: float = Field(default=1.0, ge=0.0)
    prediction: Literal["auto", "v", "epsilon"] = Field(
        default="auto",
        description="What the denoiser predicts: 'v' (velocity; stable at high noise), 'epsilon' (the "
        "noise), or 'auto': v for sequences and images, epsilon for records and vectors (measured in "
        "docs/objectives.md).",
    )
    denoiser_width: PositiveInt = 128
    denoiser_depth: PositiveInt = Field(default=3, le=8)

    # It generates with its denoiser, which works at the output's own shape.
    plans_head: ClassVar[bool] = False

    @property
    def drops_conditions(self) -> bool:
        return self.condition_dropout > 0

    @model_validator(mode="after")
    def _steps_fit(self) -> DiffusionObjective:
        if self.sampling_steps > self.timesteps:
            raise ValueError(
                f"sampling_steps ({self.sampling_steps}) cannot exceed timesteps ({self.timesteps})"
            )
        return self


#: The objective configs the spec accepts; ``OBJECTIVE_SLOT.register`` adds one.
OBJECTIVE_SLOT = ConfigSlot(
    "objective",
    "type",
    [RegressionObjective, CVAEObjective, CGANObjective, DiffusionObjective],
    ObjectiveConfig,
)
