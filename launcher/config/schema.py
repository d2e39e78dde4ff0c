"""The structured schema of one run's configuration (omegaconf, dataclasses).

Every field has a comment; YAML files in ``configs/`` and ``key=value`` overrides are
checked against this schema (unknown keys and wrong types are rejected with the full dotted
path, the valid keys and a did-you-mean). Components never read this object deep inside:
the launcher turns sections into explicit constructor arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "BudgetConfig",
    "ExecutorConfig",
    "ExperimentConfig",
    "LLMConfig",
    "LaptConfig",
    "LlmaticConfig",
    "NaderConfig",
    "REAConfig",
    "RunConfig",
    "SiteProfile",
    "SpaceConfig",
    "StoreConfig",
    "StrategyConfig",
    "TrainConfig",
]


@dataclass
class ExperimentConfig:
    name: str = "demo"  # human-readable run name; the run id is "<name>-<timestamp>-<hash>"
    seed: int = 0  # master seed: strategy RNG, candidate seeds and data splits derive from it
    run_root: str = "runs"  # directory holding runs/<run_id>/ (a shared filesystem on a cluster)
    description: str = ""  # free text stored in the manifest


@dataclass
class SpaceConfig:
    kind: str = "nb201"  # nb201 | block | macro | channel (what the strategy searches over)
    nb201_channels: int = 8  # NB201 skeleton: channels C of the first stage (paper: 16)
    nb201_cells: int = 1  # NB201 skeleton: cells N per stage (paper: 5)
    base_block: str = "resnet_basic"  # block space: built-in seed block name or a block file path
    macro: str = "nb201"  # block space skeleton: nb201 | stages
    widths: list[int] = field(
        default_factory=lambda: [16, 32, 64]
    )  # stage widths (stages skeleton)
    depths: list[int] = field(
        default_factory=lambda: [1, 1, 1]
    )  # blocks per stage (stages skeleton)
    table: str = ""  # path of a tabular benchmark (e.g. nb201.parquet) for table evaluation


@dataclass
class REAConfig:
    population_size: int = 20  # individuals kept alive (ageing: oldest dies)
    sample_size: int = 5  # tournament size


@dataclass
class LaptConfig:
    source_table: str = ""  # path of the source-task table the principles are learned from
    source_dataset: str = "imagenet16"  # which dataset's metrics of the source table to learn from
    top_k: int = 50  # best source architectures shown to the principle learner
    adapt_every: int = 10  # re-learn/widen the principles every k evaluations
    top_r: int = 5  # best target architectures used when updating principles
    learner: str = "statistical"  # statistical (offline) | llm
    min_lift: float = 1.0  # statistical learner: keep ops whose top-k frequency / prior >= this
    evidence_floor: bool = True  # llm learner: the refined space keeps the evidence's ops
    population_size: int = 10  # REA inside the refined space: population
    sample_size: int = 3  # REA inside the refined space: tournament size


@dataclass
class LlmaticConfig:
    niches: int = 20  # CVT centroids per archive
    mutation_prob: float = 0.7  # probability of mutation (else crossover)
    init_temperature: float = 0.7  # initial LLM temperature for prompt individuals
    temperature_sigma: float = 0.1  # std of the temperature mutation
    prompt_niches: int = 10  # CVT centroids of the prompt archive (prompt id x temperature)
    init_size: int = 10  # random networks evaluated before variation starts


@dataclass
class NaderConfig:
    dfs_ratio: float = 0.5  # share of proposals that deepen the best path (rest: breadth)
    modifier_retries: int = 3  # repair turns on validator feedback
    experiences_k: int = 5  # experiences retrieved per suggestion
    knowledge: str = ""  # knowledge pool path (JSON/JSONL); empty = built-in pool
    repair_temperature: float | None = None  # repair turns' temperature; None = llm.temperature
    # (a greedy model, temperature 0, answers a repair turn with its first answer again)


@dataclass
class StrategyConfig:
    name: str = "random"  # random | rea | lapt | llmatic | nader
    rea: REAConfig = field(default_factory=REAConfig)
    lapt: LaptConfig = field(default_factory=LaptConfig)
    llmatic: LlmaticConfig = field(default_factory=LlmaticConfig)
    nader: NaderConfig = field(default_factory=NaderConfig)


@dataclass
class TrainConfig:
    evaluator: str = "train"  # train (real torch training) | table (benchmark lookup)
    dataset: str = "demo"  # demo | cifar10 | cifar100 | imagenet16 | imagefolder | fashion-mnist
    data_dir: str = ""  # where the dataset files are (not needed for demo)
    split_file: str = ""  # optional NB201 split file for the validation split
    val_fraction: float = 0.2  # share of the training set held out for validation
    data_fraction: float = 1.0  # fidelity: share of the training split used
    image_size: int = 0  # fidelity: resize images to this side (0 = native)
    epochs: int = 200  # NB201 recipe: 200 epochs
    batch_size: int = 256  # NB201 recipe
    lr: float = 0.1  # initial learning rate, cosine-annealed to 0
    momentum: float = 0.9  # SGD momentum (Nesterov)
    nesterov: bool = True  # Nesterov momentum
    weight_decay: float = 5e-4  # L2 weight decay
    augment: bool = True  # random crop (pad 4) + horizontal flip
    divergence_loss: float = (
        10.0  # a train loss above this (or NaN/inf) in the first epochs = DIVERGED
    )
    divergence_epochs: int = 3  # epochs in which divergence is checked
    time_budget_s: float = 0.0  # wall budget per candidate; 0 = none (TIMEOUT when exceeded)
    threads: int = 0  # CPU threads for torch (0 = all cores of the task)
    device: str = "auto"  # auto (cuda when available) | cpu | cuda | cuda:N
    amp: str = "auto"  # auto (bf16 autocast on CUDA, off on CPU) | bf16 | off
    channels_last: str = "auto"  # auto (= on, CPU and CUDA) | on | off: NHWC memory format
    compile: bool = False  # torch.compile each candidate's model (CUDA, long trainings)
    engine: str = "torch"  # torch | deepspeed (one candidate across the GPUs of its job)
    zero_stage: int = 0  # deepspeed: ZeRO stage 0 | 1 | 2
    ds_precision: str = "auto"  # deepspeed: auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp32
    checkpoint_dir: str = ""  # per-epoch checkpoints; "" = <run_dir>/checkpoints when run
    keep_checkpoints: bool = False  # keep a candidate's checkpoint after its final outcome
    table_fidelity: int = 200  # table evaluator: 12 or 200 epochs


@dataclass
class SiteProfile:
    partition: str = ""  # Slurm partition (-p)
    account: str = ""  # Slurm account (-A)
    qos: str = ""  # Slurm QOS
    time: str = "01:00:00"  # wall limit per task; required, never submitit's 5-minute default
    cpus_per_task: int = 2  # CPUs per array task
    mem: str = "4G"  # memory per task
    gres: str = ""  # passed verbatim, e.g. "gpu:a100:1"
    gpus_per_task: int = 0  # GPUs per task (0 = none)
    extra_sbatch: list[str] = field(default_factory=list)  # extra "#SBATCH ..." lines, verbatim
    setup: list[str] = field(
        default_factory=list
    )  # shell lines run first (module load, venv activation)
    signal_delay_s: int = 120  # seconds before the limit when USR2 is sent (checkpoint + requeue)
    array_throttle: int = 0  # "%N" in --array: at most N tasks running at once (0 = no throttle)
    controller_time: str = "24:00:00"  # wall limit of the controller job (it requeues itself)
    env_passthrough: list[str] = field(
        default_factory=list
    )  # variables jobs get beyond the allow-list (docs/slurm.md): names, or prefixes + "*"


@dataclass
class ExecutorConfig:
    kind: str = "inprocess"  # inprocess | local | slurm
    max_in_flight: int = 4  # candidates submitted but not finished, at most
    pack: int = 1  # calls packed into one array task (for very short calls)
    poll_interval_s: float = 10.0  # status polling interval (>= 10 s on a production cluster)
    max_retries: int = 2  # retries of infrastructure failures (NODE_FAIL, PREEMPTED)
    retry_user_errors: bool = False  # also retry calls that raised
    snapshot_every: int = 50  # controller snapshot every N results (and at every stop)
    site: SiteProfile = field(default_factory=SiteProfile)


@dataclass
class StoreConfig:
    uri: str = ""  # "" = <run_dir>/tables; or a directory; or s3://bucket/prefix
    s3_endpoint: str = ""  # endpoint URL for MinIO/Ceph/any S3-compatible service
    s3_region: str = "us-east-1"  # region (needed even for MinIO)
    s3_path_style: bool = True  # path-style addressing (MinIO and most on-prem services)
    retry_s: float = 600.0  # a failed write is retried (back-off + jitter) this long, then raised


@dataclass
class LLMConfig:
    base_url: str = ""  # OpenAI-compatible endpoint; "" = offline rule-based designer
    model: str = "gpt-4o-mini"  # model name sent to the endpoint
    api_key_env: str = "OPENAI_API_KEY"  # environment variable holding the key (never stored)
    mode: str = "live"  # live | record | replay
    cassette: str = ""  # record/replay cassette file
    temperature: float = 0.7  # sampling temperature (really sent)
    seed: int | None = None  # sampling seed sent to the endpoint, when it supports one
    timeout_s: float = 60.0  # per-request timeout
    max_tokens: int = (
        0  # answer cap per call (0 = none); a local CPU model needs one (runaway answers)
    )
    context_tokens: int = (
        0  # the model's context window; prompts are reduced by rule to fit (0 = no fitting)
    )
    max_retries: int = 4  # retries on 429/5xx/timeouts, honouring Retry-After
    max_concurrency: int = 4  # calls in flight at once
    budget_tokens: int = 0  # hard cap on tokens (0 = none); the run stops cleanly at it
    budget_usd: float = 0.0  # hard cap on dollars (0 = none)
    embed_model: str = (
        ""  # embeddings: "" = hashing embedder; "local" = bundled MiniLM; or a model name
    )
    structured: str = (
        "auto"  # constrained answers: auto (probe the server) | grammar | json_schema | off
    )


@dataclass
class BudgetConfig:
    candidates: int = 8  # evaluated candidates (the main stopping rule)
    wall_hours: float = 0.0  # controller wall-clock limit (0 = none)
    gpu_hours: float = 0.0  # accelerator hours over all trials (0 = none)
    llm_usd: float = 0.0  # LLM dollars (0 = none)
    max_params: float = 0.0  # per-architecture parameter ceiling (0 = none)
    max_flops: float = 0.0  # per-architecture FLOPs ceiling (0 = none)


@dataclass
class RunConfig:
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
    space: SpaceConfig = field(default_factory=SpaceConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
