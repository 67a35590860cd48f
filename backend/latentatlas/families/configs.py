"""What each model family declares without building a network: its options (one pydantic
config per family, stored as ``config.json``'s ``model``), its capabilities and the files it is
stored in. Nothing here imports torch: indexing a models folder, listing the families and the CLI's
options read only this module; a family's network (:mod:`latentatlas.families.base` and the family
modules) is imported when a model is built.

A config class declares, besides its options:

- ``capabilities``: what the family's models can do (the server, evaluation and the app read these,
  never the family's name); :meth:`FamilyConfig.declared_capabilities` where they depend on the config,
- ``stored_files``: the files beside ``config.json`` that hold the model,
- ``codebook_weights``: the weights file's tensor of codebooks (families with ``codes``), read by
  the server's index without building the model,
- ``truncation_fill``: what top-C truncation sets the dropped latents to (``ordered`` families).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from latentatlas.nets.config import NetConfig

WEIGHTS_FILE = "weights.safetensors"
"""Where a trained model's weights sit in its folder (beside ``config.json`` and ``card.json``)."""

ENCODER_FILE, DECODER_FILE = "encoder.onnx", "decoder.onnx"
"""An imported ONNX model's graphs (``latentatlas import onnx``)."""


class TrainConfig(BaseModel):
    """The generic run: how long, how big a batch, the base optimiser settings every trainer
    reads (a family's own optimiser options live in its config), seeding and the device."""

    steps: int = Field(20_000, ge=1, description="training steps")
    max_minutes: float | None = Field(
        None, gt=0, description="stop early at this wall time (the card records the steps done)"
    )
    batch_size: int = Field(64, ge=1, description="images per batch")
    lr: float = Field(1e-3, gt=0, description="learning rate")
    weight_decay: float = Field(0.1, ge=0, description="decoupled weight decay on weights (QLAE: 0.1)")
    grad_clip: float = Field(1.0, gt=0, description="element-wise gradient clipping")
    seed: int = Field(0, description="seeds the weights, the batches and every sampler")
    log_every: int = Field(50, ge=1, description="steps between logged loss means")
    checkpoint_every: int = Field(1000, ge=1, description="steps between resumable checkpoints")
    snapshot_every: int | None = Field(
        None, ge=1, description="steps between weights-only snapshots (snapshots/step-N.safetensors; metric curves)"
    )
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
    threads: int = Field(2, ge=1, description="torch intra-op threads")
    correlate: str | None = Field(
        None,
        description="two factors 'A,B' (names or indices) drawn jointly during training only, "
        "p(c_A, c_B) ~ exp(-(c_A - c_B)^2 / (2 sigma^2)) on their [0, 1]-scaled indices (Traeuble et al. 2021, "
        "as in Roth et al. 2023); evaluation stays on the uncorrelated grid",
    )
    correlation_sigma: float = Field(0.2, gt=0, description="sigma of --correlate (small: strongly correlated)")


class Capabilities(BaseModel):
    """What a family's models can do; the server's endpoints, ``evaluate``, ``ensemble train``
    and the frontend's panels decide from these (the frontend through ``/api/models``)."""

    model_config = ConfigDict(frozen=True)

    encode: bool = Field(True, description="images -> latents (an encoder, a flow's forward pass or an inference head)")
    decode: bool = Field(True, description="latents -> images")
    codes: bool = Field(False, description="each latent snaps to a per-dimension scalar codebook (discrete codes)")
    posterior: bool = Field(False, description="encode also gives a diagonal Gaussian posterior scale per latent")
    ordered: bool = Field(
        False, description="latents are ordered by importance: top-C truncation and explained entropy"
    )
    likelihood: bool = Field(False, description="an exact log-likelihood of images (bits/dim)")
    sample: bool = Field(False, description="latents can be drawn from a prior (generation)")
    train: bool = Field(True, description="trained here (`latentatlas train FAMILY`); false for imported models")
    retrieval: bool = Field(
        True,
        description="the dataset images nearest to a latent can be shown (an index of dataset samples the model encodes): "
        "what stands in for a decode when there is no decoder",
    )
    probe_decoder: bool = Field(
        False,
        description="a probe decoder, trained afterwards on the frozen latents (latentatlas probe-decoder), is stored "
        "beside the model: it renders latents, labelled with its held-out PSNR, and is not the model's own decoder",
    )


class FamilyConfig(BaseModel):
    """Options every family has; a family's config subclasses this with its own options and
    ``kind: Literal["its-name"]``. Stored as ``config.json``'s ``model``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    latent_dim: int = Field(ge=1, le=16_384, description="latent size")
    net: NetConfig = NetConfig()
    dataset_size: int | None = Field(None, ge=1, description="the training set's size (recorded by training)")

    train_defaults: ClassVar[dict[str, Any]] = {}
    """Run options (``TrainConfig`` fields) whose generic default does not suit the family; the
    CLI's ``train FAMILY`` starts from these (e.g. a GAN's learning rate)."""

    capabilities: ClassVar[Capabilities] = Capabilities()
    """What the family's models can do (the mixins its model implements must match, checked
    when the model class is first used)."""

    stored_files: ClassVar[tuple[str, ...]] = (WEIGHTS_FILE,)
    """The files beside ``config.json`` that hold the model (what a digest of the model covers)."""

    codebook_weights: ClassVar[str | None] = None
    """Families with ``codes``: the name of the weights file's tensor (D, n) of codebooks."""

    truncation_fill: ClassVar[float] = 0.0
    """Families with ``ordered`` latents: the value top-C truncation gives the dropped latents."""

    def declared_capabilities(self) -> Capabilities:
        """What a model built from this config can do, known without building it: the family's
        ``capabilities`` (a family whose models differ, e.g. an imported encoder without a decoder
        graph, overrides this)."""
        return self.capabilities

    @classmethod
    def default_latent_dim(cls, net: NetConfig, factors: int) -> int:
        """The latent size when none is given: twice the data's generative factors (Hsu et al.)."""
        return 2 * factors


GAUSSIAN_VAE_CAPABILITIES = Capabilities(posterior=True, sample=True)
"""Every VAE family's: a diagonal Gaussian posterior and the prior N(0, I) to sample."""


# -- autoencoders and generators -------------------------------------------------------------
TCEstimator = Literal["mss", "mws"]
ReconLoss = Literal["deterministic", "noisyU", "splitloss"]
PixelLoss = Literal["bce", "mse"]


class QLAEConfig(FamilyConfig):
    """QLAE's options (defaults: the paper's)."""

    kind: Literal["qlae"] = "qlae"
    capabilities = Capabilities(codes=True, sample=True)
    codebook_weights = "quantizer.values"
    codebook_size: int = Field(10, ge=2, le=256, description="values per latent dimension's scalar codebook")
    quantize_weight: float = Field(0.01, ge=0, description="weight of the quantisation loss (moves the codebooks)")
    commit_weight: float = Field(0.01, ge=0, description="weight of the commitment loss (moves the encoder)")
    quantize_warmup: int = Field(
        500, ge=0, description="steps over which the decoder input snaps from z_c to the codes"
    )


class AEConfig(FamilyConfig):
    """The plain autoencoder has no options of its own."""

    kind: Literal["ae"] = "ae"


class VAEConfig(FamilyConfig):
    """beta-VAE: the KL weight."""

    kind: Literal["vae"] = "vae"
    capabilities = GAUSSIAN_VAE_CAPABILITIES
    beta: float = Field(1.0, ge=0, description="weight of KL(q(z|x) || N(0, I)); 1 = the plain VAE")


class TCVAEConfig(FamilyConfig):
    """beta-TCVAE: the total-correlation weight and its minibatch estimator."""

    kind: Literal["tcvae"] = "tcvae"
    capabilities = GAUSSIAN_VAE_CAPABILITIES
    beta: float = Field(1.0, ge=0, description="weight of the total correlation TC(z); 1 = the plain VAE")
    tc_estimator: TCEstimator = Field("mss", description="minibatch stratified (mss) or weighted (mws) sampling")


class FactorVAEConfig(FamilyConfig):
    """FactorVAE's options (defaults: Kim and Mnih 2018, dSprites)."""

    kind: Literal["factorvae"] = "factorvae"
    capabilities = GAUSSIAN_VAE_CAPABILITIES
    train_defaults: ClassVar[dict[str, Any]] = {"lr": 1e-4, "weight_decay": 0.0}  # the paper's Adam for the VAE
    gamma: float = Field(6.4, ge=0, description="weight of the discriminator's TC estimate (paper, dSprites: 6.4)")
    discriminator_layers: int = Field(6, ge=0, le=16, description="hidden layers of the discriminator MLP (paper: 6)")
    discriminator_width: int = Field(1000, ge=1, le=8192, description="units per hidden layer of D (paper: 1000)")
    discriminator_lr: float = Field(1e-4, gt=0, description="the discriminator's Adam learning rate (paper: 1e-4)")
    discriminator_beta1: float = Field(0.5, ge=0, lt=1, description="the discriminator's Adam beta1 (paper: 0.5)")
    discriminator_beta2: float = Field(0.9, ge=0, lt=1, description="the discriminator's Adam beta2 (paper: 0.9)")


class HFSConfig(FamilyConfig):
    """HFS's options: the beta-VAE's KL weight and the factorised-support weight."""

    kind: Literal["hfs"] = "hfs"
    capabilities = GAUSSIAN_VAE_CAPABILITIES
    beta: float = Field(1.0, ge=0, description="weight of KL(q(z|x) || N(0, I)) (the beta-VAE part)")
    gamma: float = Field(1.0, ge=0, description="weight of the pairwise Hausdorff factorised-support penalty")


class STRKMConfig(FamilyConfig):
    """St-RKM's options (defaults: the authors' code, except F and pixel_loss; see :mod:`latentatlas.families.strkm`)."""

    kind: Literal["strkm"] = "strkm"
    capabilities = Capabilities(sample=True)
    feature_dim: int = Field(
        128, ge=1, le=16_384, description="encoder feature size F (the authors' x_fdim2: 50); U is F x latent_dim"
    )
    c_acc: float = Field(
        1.0,
        gt=0,
        description="weight of the reconstruction term: f2 = c_acc/2 * the per-pixel error summed over pixels, per image (authors' code default 1)",
    )
    recon_loss: ReconLoss = Field(
        "deterministic",
        description="f2's decoder input: deterministic U U^T phi (default, the paper's objective), noisyU U (U^T phi + sigma eps), "
        "or splitloss (clean reconstruction + distance between the clean and the noisy decodes)",
    )
    pixel_loss: PixelLoss = Field(
        "bce",
        description="f2's per-pixel error, summed over pixels: bce (default; binary cross-entropy of the logits) or mse "
        "(the authors' squared error of the sigmoid outputs, which sat on the blank-image plateau on dSprites here)",
    )
    noise_sigma: float = Field(
        1e-3, ge=0, description="sigma of the latent noise of noisyU and splitloss (authors: 1e-3)"
    )
    manifold_lr: float = Field(
        1e-4, gt=0, description="learning rate of the Riemannian (Cayley) Adam step on U (authors: 1e-4)"
    )
    prior_components: int = Field(
        1,
        ge=1,
        le=64,
        description="generation prior fitted to the training latents: 1 = a Gaussian, more = a full-covariance Gaussian mixture",
    )

    @model_validator(mode="after")
    def _latent_fits_features(self) -> STRKMConfig:
        if self.latent_dim > self.feature_dim:
            raise ValueError(
                f"latent_dim ({self.latent_dim}) must not exceed feature_dim ({self.feature_dim}): U is F x m with orthonormal columns"
            )
        return self


class QLInfoGANConfig(FamilyConfig):
    """QLInfoWGAN-GP's options (defaults: the authors' configs/model_partial/quantized_info_gan.yaml
    and configs/train_gan.yaml). The learning rate (paper: 2e-4) and weight decay (paper: 1e-4,
    swept 1e-3) are the generic TrainConfig's; ``train_defaults`` sets them for the CLI."""

    kind: Literal["qlinfogan"] = "qlinfogan"
    capabilities = Capabilities(codes=True, sample=True)
    codebook_weights = "quantizer.values"
    train_defaults: ClassVar[dict[str, float]] = {
        "lr": 2e-4,
        "weight_decay": 1e-3,
    }  # the authors' lr and (swept) weight decay
    codebook_size: int = Field(10, ge=2, le=256, description="values per latent dimension's scalar codebook")
    lambda_value: float = Field(
        1.0, ge=0, description="weight of the Wasserstein critic term V(x_fake) - V(x_real) (generator: -V(x_fake))"
    )
    lambda_gradient: float = Field(
        10.0, ge=0, description="weight of the critic's gradient penalty (||grad V(x_int)|| - 1)^2"
    )
    lambda_latent: float = Field(
        200.0, ge=0, description="weight of the latent (InfoGAN) loss: mean squared error of z_hat(G(z)) against z"
    )
    quantize_weight: float = Field(
        0.01, ge=0, description="weight of the quantisation loss (moves the codebooks, generator step)"
    )
    commit_weight: float = Field(
        0.01, ge=0, description="weight of the commitment loss (moves the encoder, and the generator through x_fake)"
    )
    generator_period: int = Field(
        5, ge=1, description="the generator updates once every this many encoder/critic steps"
    )
    beta1: float = Field(0.0, ge=0, lt=1, description="Adam beta1 of both optimisers")
    beta2: float = Field(0.9, ge=0, lt=1, description="Adam beta2 of both optimisers")
    noise_dim: int = Field(
        0,
        ge=0,
        le=1024,
        description="extra N(0, I) generator inputs besides z (0: none, as the authors); decode uses zeros",
    )


class EOFlowConfig(FamilyConfig):
    """EOFlow's architecture and objective. A flow is bijective, so ``latent_dim`` must be
    channels * image_size**2 (checked)."""

    kind: Literal["eoflow"] = "eoflow"
    capabilities = Capabilities(ordered=True, likelihood=True, sample=True)
    flow_levels: int = Field(
        2, ge=1, le=6, description="squeeze (space-to-depth) levels; the image size must divide by 2^levels"
    )
    flow_blocks: int = Field(4, ge=1, le=64, description="coupling blocks per level")
    flow_hidden: int = Field(64, ge=1, description="conditioner width")
    flow_clamp: float = Field(2.0, gt=0, description="soft clamp of the coupling log-scales")
    flow_preprocess: Literal["affine", "logit"] = Field("affine", description="pixel pre-processing before the flow")
    flow_logit_alpha: float = Field(0.05, ge=0, lt=0.5, description="logit pre-processing's alpha")
    flow_seed: int = Field(0, description="seed of the fixed permutations")
    flow_principal: bool = Field(
        True, description="end in a principal rotation + per-latent ActNorm fitted to data (starts at PCA's top-C)"
    )
    lambda_mtc: float = Field(
        0.5, ge=0, le=1, description="weight of the explained-entropy (MTC) term; 1 = principal-component flow"
    )
    noise_sigma: float = Field(
        0.05, ge=0, description="noise augmentation sd, added after the pre-processing (pixel units)"
    )
    core_size: int = Field(16, ge=0, description="C of the optional top-C reconstruction term")
    recon_weight: float = Field(0.0, ge=0, description="weight of the top-C reconstruction term (0: off)")
    order_images: int = Field(
        500, ge=2, description="validation images whose E[z_i^2] orders the latents after training"
    )
    order_jacobian_images: int = Field(
        32, ge=2, description="of those, images whose every Jacobian column is computed for the order"
    )

    @classmethod
    def default_latent_dim(cls, net: NetConfig, factors: int) -> int:
        return net.channels * net.image_size**2

    @model_validator(mode="after")
    def _latent_is_the_image(self) -> EOFlowConfig:
        pixels = self.net.channels * self.net.image_size**2
        if self.latent_dim != pixels:
            raise ValueError(f"an EOFlow's latent_dim is channels x image_size^2 = {pixels}, got {self.latent_dim}")
        return self


# -- contrastive encoders (no decoder) ---------------------------------------------------------
REPRESENTATION_DIM = 256
"""The backbone representation's default size (the explored latent)."""
PAPER_LAMBDA, PAPER_WIDTH = 5e-3, 8192
"""Barlow Twins' off-diagonal weight at the paper's projector width."""


class ContrastiveConfig(FamilyConfig):
    """Options of every contrastive family: the augmentations (:mod:`latentatlas.nets.augment`)."""

    capabilities = Capabilities(encode=True, decode=False, train=True)

    crop_min_area: float = Field(
        0.7, gt=0, le=1, description="random resized crop: smallest area fraction kept (papers: 0.08)"
    )
    blur_probability: float = Field(0.5, ge=0, le=1, description="probability of a Gaussian blur of sigma 0.1-1 px")
    colour_jitter: float = Field(
        0.4, ge=0, lt=1, description="RGB only: brightness, contrast and saturation jitter strength"
    )
    flip_probability: float = Field(
        0.0,
        ge=0,
        le=1,
        description="horizontal flip probability (0: mirrors change dSprites' "
        "posX and orientation and Shapes3D's orientation)",
    )

    @classmethod
    def default_latent_dim(cls, net: NetConfig, factors: int) -> int:
        """The backbone representation's size, whatever the factors: REPRESENTATION_DIM."""
        return REPRESENTATION_DIM


class BYOLConfig(ContrastiveConfig):
    """BYOL's heads and target momentum (defaults: see :mod:`latentatlas.families.byol`)."""

    kind: Literal["byol"] = "byol"
    train_defaults: ClassVar[dict[str, Any]] = {"weight_decay": 1.5e-6}  # the paper's
    projector_hidden: int = Field(1024, ge=1, le=16_384, description="projector hidden width (paper: 4096)")
    projector_dim: int = Field(256, ge=1, le=16_384, description="projection size (paper: 256)")
    predictor_hidden: int = Field(1024, ge=1, le=16_384, description="predictor hidden width (paper: 4096)")
    tau_base: float = Field(
        0.996, ge=0, le=1, description="target EMA momentum at step 0, cosine-raised to 1 (paper: 0.996)"
    )


class SimSiamConfig(ContrastiveConfig):
    """SimSiam's heads (defaults: see :mod:`latentatlas.families.simsiam`)."""

    kind: Literal["simsiam"] = "simsiam"
    train_defaults: ClassVar[dict[str, Any]] = {"weight_decay": 1e-4}  # the paper's
    projector_dim: int = Field(1024, ge=1, le=16_384, description="projector width, hidden and output (paper: 2048)")
    predictor_hidden: int = Field(256, ge=1, le=16_384, description="predictor bottleneck width (paper: 512)")


class BarlowTwinsConfig(ContrastiveConfig):
    """Barlow Twins' projector and lambda (defaults: see :mod:`latentatlas.families.barlow`)."""

    kind: Literal["barlow"] = "barlow"
    train_defaults: ClassVar[dict[str, Any]] = {"weight_decay": 1.5e-6}  # the paper's
    projector_dim: int = Field(1024, ge=2, le=16_384, description="projector width, hidden and output (paper: 8192)")
    offdiag_weight: float | None = Field(
        None, gt=0, description="lambda, the off-diagonal weight (default: the paper's 5e-3 x 8192 / projector_dim)"
    )

    @property
    def off_diagonal_lambda(self) -> float:
        """lambda: ``offdiag_weight``, else the paper's 5e-3 scaled to the projector width."""
        return (
            self.offdiag_weight if self.offdiag_weight is not None else PAPER_LAMBDA * PAPER_WIDTH / self.projector_dim
        )


# -- brought, not trained here ----------------------------------------------------------------
Layout = Literal["nchw", "nhwc"]
PixelRange = Literal["01", "pm1"]


class OnnxConfig(FamilyConfig):
    """Which input and output of each graph to use, and the graphs' image convention."""

    kind: Literal["onnx"] = "onnx"
    capabilities = Capabilities(train=False)
    stored_files = (ENCODER_FILE, DECODER_FILE)
    encoder_input: str = Field(description="the encoder graph's image input")
    latent_output: str = Field(description="the encoder graph's latent output (a VAE's mean)")
    decoder_input: str | None = Field(None, description="the decoder graph's latent input (None: no decoder)")
    decoder_output: str | None = Field(None, description="the decoder graph's image output")
    layout: Layout = Field("nchw", description="image axes the graphs use: nchw (N, C, H, W) or nhwc (N, H, W, C)")
    pixel_range: PixelRange = Field("01", description="pixel values the graphs use: 01 [0, 1] or pm1 [-1, 1]")

    def declared_capabilities(self) -> Capabilities:
        """Decoding only with a decoder graph (its config names the decoder's input and output)."""
        has_decoder = self.decoder_input is not None and self.decoder_output is not None
        return self.capabilities if has_decoder else self.capabilities.model_copy(update={"decode": False})


class LatentsConfig(FamilyConfig):
    """How many samples and factors were saved, and whether their images were."""

    kind: Literal["latents"] = "latents"
    capabilities = Capabilities(encode=False, decode=False, train=False, retrieval=False)
    samples: int = Field(ge=2, description="saved samples N")
    factors: int = Field(ge=1, description="factors K per sample")
    stored_images: bool = Field(False, description="the samples' images are saved (encode is then a lookup)")
    dataset_indices: bool = Field(False, description="each sample's index in the folder's dataset is saved")

    def declared_capabilities(self) -> Capabilities:
        """Encode (a lookup) with saved images; retrieval with saved images or dataset indices (a
        neighbour then has a picture to show)."""
        return Capabilities(
            encode=self.stored_images,
            decode=False,
            train=False,
            retrieval=self.stored_images or self.dataset_indices,
        )


class PythonConfig(FamilyConfig):
    """The probed latent size and image geometry, and what encodes and decodes (by name)."""

    kind: Literal["python"] = "python"
    capabilities = Capabilities(train=False)
    encoder: str = Field(description="the encoder's name in the Python session")
    decoder: str | None = Field(None, description="the decoder's name (None: encoder only)")
