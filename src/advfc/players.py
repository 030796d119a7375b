"""The two players on one base model: LoRA adapters `fc` (F) and `query` (Q), and the TRL
trainers that update them (SFTTrainer for the warm start, GRPOTrainer for the game phases).

Each player keeps its own AdamW across rounds, so a phase continues the previous one's optimiser
state; both adapters and both optimiser states go into every checkpoint.

The trainers' configs are built here, once per phase, from the run config: advfc's defaults, the
config's TRL/PEFT sections over them, advfc's own fields over those (docs/method.md, "Training settings").
"""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .distributed import per_process, processes
from .errors import InputError
from .generation.hf import HFGenerator, stop_ids

if TYPE_CHECKING:
    from .seeds import TokenBudgets
    from .train_config import TrainConfig

FC, QUERY = "fc", "query"
PREFIX = {QUERY: "q", FC: "f"}  # of a player's config fields and section (q_lr, f_grpo)
OnLog = Callable[[int, int, dict], None]

# advfc's LoRA where PEFT's defaults differ; the config's `lora` section goes over it.
LORA_DEFAULTS = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear"}

# The trainer keys advfc gives itself, and from what ({p}: the player's prefix). A config section
# naming one is an error, so that each setting has one home and nothing is silently overridden.
RUN_OWNED = {
    "output_dir": "field output_dir (each phase writes under the run folder)",
    "report_to": "field report_to",
    "seed": "field seed (plus the round in the game)",
    "data_seed": "field seed",
    "logging_steps": "advfc (every step's log goes to events.jsonl)",
    "gradient_checkpointing": "field gradient_checkpointing",
}
GRPO_OWNED = {
    **RUN_OWNED,
    "max_steps": "field {p}_steps",
    "per_device_train_batch_size": "field {p}_batch_size",
    "learning_rate": "field {p}_lr",
    "num_generations": "field {p}_num_generations",
    "max_completion_length": "field {p}_max_new_tokens",
    "temperature": "field {p}_temperature",
    # GRPOTrainer gets the player's own optimiser (Players.optimizer), so TRL would ignore these.
    **dict.fromkeys(
        ("optim", "optim_args", "optim_target_modules", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon"),
        "advfc (each player keeps one torch AdamW, with torch's defaults, across rounds)",
    ),
}
SFT_OWNED = {
    **RUN_OWNED,
    "max_steps": "field warm_start_epochs",
    "num_train_epochs": "field warm_start_epochs",
    "per_device_train_batch_size": "field warm_start_batch_size",
    "learning_rate": "field warm_start_lr",
    "max_length": "field max_prompt_tokens (plus F's answer budget)",
}
# Config section -> (the players it applies to, the keys advfc owns there).
SECTIONS = {
    "lora": ((QUERY, FC), {"task_type": "advfc (both adapters sit on a causal LM)"}),
    "grpo": ((QUERY, FC), GRPO_OWNED),
    "q_grpo": ((QUERY,), GRPO_OWNED),
    "f_grpo": ((FC,), GRPO_OWNED),
    "sft": ((QUERY, FC), SFT_OWNED),
}


def section_error(name: str, section: dict) -> str | None:
    """Why a config section cannot go to its TRL/PEFT config as written, or None."""
    if not section:
        return None  # a config that uses no section does not import TRL
    if name == "lora":
        from peft import LoraConfig as target
    elif name == "sft":
        from trl import SFTConfig as target
    else:
        from trl import GRPOConfig as target
    unknown = sorted(set(section) - {f.name for f in dataclasses.fields(target)})
    if unknown:
        return f"unknown {target.__name__} key{'s' * (len(unknown) > 1)} {', '.join(map(repr, unknown))}"
    players, owned = SECTIONS[name]
    taken = [
        f"{key} is given by {' and '.join(dict.fromkeys(owned[key].format(p=PREFIX[p]) for p in players))}"
        for key in section if key in owned
    ]
    if taken:
        return "; ".join(taken) + ", not by a section"
    if owned is GRPO_OWNED and section.get("beta", 0) != 0:
        # Checked here, not hours into a run: GRPOTrainer (TRL 1.16) copies a PEFT model's adapter
        # named "default" into its KL reference, and fails on a model without one.
        return "beta must be 0: TRL takes its KL reference from a PEFT adapter named 'default', and advfc's are 'fc' and 'query'"
    return None


def lora_config(config: TrainConfig):
    from peft import LoraConfig

    return LoraConfig(**{**LORA_DEFAULTS, **config.lora}, task_type="CAUSAL_LM")


def trainer_defaults(device: str) -> dict:
    """advfc's choices where TRL's defaults do not suit the game; the config's sections go over them."""
    cuda = device.startswith("cuda")
    return dict(
        # A phase continues the player's optimiser from the previous round: a schedule would decay
        # and restart within every phase.
        lr_scheduler_type="constant",
        save_strategy="no",  # the game checkpoints after every stage itself
        use_cpu=not cuda,
        # Explicit, since TRL's configs default to bf16 autocast. On a CPU bf16 only pays where
        # its matmuls are fast, and there `dtype: auto` already loads the base in bf16; autocast
        # on top would only round the float32 LoRA path (PEFT keeps adapters fp32) as well.
        bf16=cuda and _bf16_ok(),
        dataloader_num_workers=0,
        # Under DDP (several processes): every forward pass uses every parameter of the adapter
        # being trained, which are the only ones that need a gradient. transformers would search
        # for unused ones on a PeftModel, an extra pass that also breaks with gradient checkpointing.
        ddp_find_unused_parameters=False,
    )


def _run_args(config: TrainConfig, out_dir: Path, seed: int) -> dict:
    """The RUN_OWNED keys."""
    return dict(output_dir=str(out_dir), report_to=config.report_to, seed=seed, data_seed=seed, logging_steps=1,
                gradient_checkpointing=config.gradient_checkpointing)


def sft_args(config: TrainConfig, budgets: TokenBudgets, examples: int, out_dir: Path, device: str):
    """The SFTConfig of a warm start on `examples` rows."""
    from trl import SFTConfig

    c = config
    return SFTConfig(**{
        **trainer_defaults(device), **c.sft, **_run_args(c, out_dir, c.seed),
        "max_steps": max(1, round(c.warm_start_epochs * examples / c.warm_start_batch_size)),
        "per_device_train_batch_size": per_process(c.warm_start_batch_size, "warm_start_batch_size"),
        "learning_rate": c.warm_start_lr,
        "max_length": c.max_prompt_tokens + budgets.fc,
    })


def grpo_args(config: TrainConfig, adapter: str, budgets: TokenBudgets, round_index: int, out_dir: Path, device: str):
    """The GRPOConfig of one player's phase in a round: advfc's defaults, then the `grpo` section,
    then the player's own (`q_grpo`, `f_grpo`), then the GRPO_OWNED keys from advfc's fields.
    Several processes share each step's batch, and each must hold whole groups (below)."""
    from trl import GRPOConfig

    c, p = config, PREFIX[adapter]
    args = GRPOConfig(**{
        **trainer_defaults(device), "shuffle_dataset": True,
        **c.grpo, **getattr(c, f"{p}_grpo"),
        **_run_args(c, out_dir, c.seed + round_index),
        "max_steps": getattr(c, f"{p}_steps"),
        "per_device_train_batch_size": per_process(getattr(c, f"{p}_batch_size"), f"{p}_batch_size"),
        "learning_rate": getattr(c, f"{p}_lr"),
        "num_generations": getattr(c, f"{p}_num_generations"),
        "max_completion_length": {QUERY: budgets.query, FC: budgets.fc}[adapter],
        "temperature": getattr(c, f"{p}_temperature"),
    })
    # TRL calls the reward on each process's share of a generation batch. r_Q's diversity penalty
    # and both rewards' flat-group shares are per group, so a group split over processes would
    # be scored in pieces; TRL itself only requires whole groups over all processes together.
    share = args.generation_batch_size // processes()
    if share % args.num_generations:
        raise InputError(f"{p}_batch_size ({getattr(c, f'{p}_batch_size')}) over {processes()} processes leaves each "
                         f"process {share} completions of a generation, not whole groups of {p}_num_generations "
                         f"({args.num_generations}); raise {p}_batch_size or lower the group size")
    return args


class Players:
    def __init__(self, model, tokenizer, *, model_spec: str, device: str, generation_batch_size: int = 16,
                 progress: bool = True, verbose: bool = False):
        self.progress = progress
        self.verbose = verbose
        self.model = model
        self.tokenizer = tokenizer
        self.model_spec = model_spec
        self.device = device
        self.generation_batch_size = generation_batch_size
        self.optimizers: dict = {}

    @property
    def dtype(self) -> str:
        """The dtype the base weights are in ("float32", "bfloat16", ...)."""
        return str(next(self.model.parameters()).dtype).removeprefix("torch.")

    @classmethod
    def create(
        cls,
        model_spec: str,
        lora,
        *,
        dtype: str = "auto",
        adapters: Path | None = None,
        generation_batch_size: int = 16,
        progress: bool = True,
        verbose: bool = False,
    ) -> "Players":
        """Fresh adapters on the base (`lora`, a peft.LoraConfig), or the adapters saved in a checkpoint folder."""
        from peft import PeftModel, get_peft_model

        from .models import load_model, load_tokenizer

        base = load_model(model_spec, dtype=dtype, trainable=True)
        if adapters is None:
            # One copy each: PEFT writes what it resolves for an adapter (its target modules) into the config.
            model = get_peft_model(base, copy.deepcopy(lora), adapter_name=FC)
            model.add_adapter(QUERY, copy.deepcopy(lora))
        else:
            model = PeftModel.from_pretrained(base, adapters / FC, adapter_name=FC, is_trainable=True)
            model.load_adapter(adapters / QUERY, adapter_name=QUERY, is_trainable=True)
        device = str(next(model.parameters()).device)
        return cls(model, load_tokenizer(model_spec), model_spec=model_spec, device=device,
                   generation_batch_size=generation_batch_size, progress=progress, verbose=verbose)

    def generator(self, adapter: str):
        return HFGenerator(self.model, self.tokenizer, batch_size=self.generation_batch_size, adapter=adapter)

    def stop_token_ids(self) -> set[int]:
        """Tokens that end a completion in TRL's eyes (end of sequence, padding): a completion
        that fills its budget without one was cut off."""
        return stop_ids(self.model, self.tokenizer) | {self.tokenizer.pad_token_id} - {None}

    def adapter_params(self, adapter: str) -> list:
        return [p for n, p in self.model.named_parameters() if f".{adapter}." in n]

    def optimizer(self, adapter: str, lr: float):
        import torch

        if adapter not in self.optimizers:
            self.optimizers[adapter] = torch.optim.AdamW(self.adapter_params(adapter), lr=lr)
        opt = self.optimizers[adapter]
        for group in opt.param_groups:
            group["lr"] = lr
        return opt

    # ------------------------------------------------------------------ persistence

    def save_adapters(self, folder: Path) -> None:
        """`folder/fc` and `folder/query`, each a plain PEFT adapter folder."""
        self.model.save_pretrained(folder, selected_adapters=[FC, QUERY])

    def optimizer_state(self) -> dict:
        return {name: opt.state_dict() for name, opt in self.optimizers.items()}

    def load_optimizer_state(self, state: dict, lrs: dict[str, float]) -> None:
        for name, sd in state.items():
            self.optimizer(name, lrs[name]).load_state_dict(sd)

    # ------------------------------------------------------------------ training

    def sft(self, adapter: str, rows: list[dict], args, *, on_log: OnLog | None = None) -> list[dict]:
        """Supervised warm start on prompt/completion chats (loss on the completion only); `args`: sft_args."""
        from datasets import Dataset
        from trl import SFTTrainer

        self.model.set_adapter(adapter)
        trainer = SFTTrainer(
            model=self.model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=self.tokenizer,
            callbacks=_log_callbacks(on_log),
        )
        return self._train(trainer, f"sft {adapter}")

    def grpo(self, adapter: str, rows: list[dict], reward_funcs: list, args, *, on_log: OnLog | None = None) -> list[dict]:
        """`args.max_steps` GRPO updates of one adapter (`args`: grpo_args); the other player's adapter is untouched."""
        from datasets import Dataset
        from trl import GRPOTrainer

        self.model.set_adapter(adapter)
        trainer = GRPOTrainer(
            model=self.model,
            reward_funcs=reward_funcs,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=self.tokenizer,
            optimizers=(self.optimizer(adapter, args.learning_rate), None),
            callbacks=_log_callbacks(on_log),
        )
        return self._train(trainer, f"grpo {adapter}")

    def _train(self, trainer, desc: str) -> list[dict]:
        """Run a trainer with one progress bar of steps (ETA, loss, reward) in place of the log
        dictionaries transformers prints each step; `verbose` keeps its own printing."""
        if not self.verbose:
            from transformers.trainer_callback import PrinterCallback, ProgressCallback

            trainer.remove_callback(ProgressCallback)
            trainer.remove_callback(PrinterCallback)
            trainer.add_callback(_step_bar(desc, disable=not self.progress))
        trainer.train()
        return trainer.state.log_history


def _log_callbacks(on_log: OnLog | None) -> list:
    """Hand every trainer log (step, loss, reward, ...) to `on_log`, so a run's progress is in its event log."""
    if on_log is None:
        return []
    from transformers import TrainerCallback

    class ForwardLogs(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            on_log(state.global_step, state.max_steps, dict(logs or {}))

    return [ForwardLogs()]


def _step_bar(desc: str, *, disable: bool):
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class StepBar(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = tqdm(total=state.max_steps, desc=desc, unit="step", dynamic_ncols=True, leave=False, disable=disable)

        def on_step_end(self, args, state, control, **kwargs):
            self.bar.update(state.global_step - self.bar.n)

        def on_log(self, args, state, control, logs=None, **kwargs):
            shown = {k: logs[k] for k in ("loss", "reward") if isinstance((logs or {}).get(k), (int, float))}
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in shown.items()}, refresh=False)

        def on_train_end(self, args, state, control, **kwargs):
            self.bar.close()

    return StepBar()


def _bf16_ok() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def rows_needed(args) -> int:
    """Prompts one GRPO phase consumes: TRL samples generation_batch_size / num_generations prompts
    once every steps_per_generation x num_iterations micro-batches (gradient_accumulation_steps per step)."""
    generations = math.ceil(args.max_steps * args.gradient_accumulation_steps / (args.steps_per_generation * args.num_iterations))
    return generations * (args.generation_batch_size // args.num_generations)
