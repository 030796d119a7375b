"""The two players on one base model: LoRA adapters `fc` (F) and `query` (Q), and the TRL
trainers that update them (SFTTrainer for the warm start, GRPOTrainer for the game phases).

Each player keeps its own AdamW across rounds, so a phase continues the previous one's optimiser
state; both adapters and both optimiser states go into every checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .generation import HFGenerator, stop_ids

FC, QUERY = "fc", "query"
OnLog = Callable[[int, int, dict], None]


@dataclass(frozen=True)
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str = "all-linear"

    def config(self):
        from peft import LoraConfig

        targets = self.target_modules if self.target_modules == "all-linear" else self.target_modules.split(",")
        return LoraConfig(
            r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout, target_modules=targets, task_type="CAUSAL_LM"
        )


@dataclass(frozen=True)
class PhaseSettings:
    """One trainer run: TRL's batch/step knobs for one player."""

    steps: int
    lr: float
    batch_size: int = 4
    num_generations: int = 4
    max_new_tokens: int = 64
    temperature: float = 1.0
    max_length: int = 1024
    gradient_checkpointing: bool = False


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

    @classmethod
    def create(
        cls,
        model_spec: str,
        lora: LoraSettings,
        *,
        dtype: str = "auto",
        adapters: Path | None = None,
        generation_batch_size: int = 16,
        progress: bool = True,
        verbose: bool = False,
    ) -> "Players":
        """Fresh adapters on the base, or the adapters saved in a checkpoint folder."""
        from peft import PeftModel, get_peft_model

        from .models import load_model, load_tokenizer

        base = load_model(model_spec, dtype=dtype, trainable=True)
        if adapters is None:
            model = get_peft_model(base, lora.config(), adapter_name=FC)
            model.add_adapter(QUERY, lora.config())
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

    def _common_args(self, settings: PhaseSettings, out_dir: Path, report_to: list[str], seed: int) -> dict:
        cuda = self.device.startswith("cuda")
        return dict(
            output_dir=str(out_dir),
            max_steps=settings.steps,
            per_device_train_batch_size=settings.batch_size,
            learning_rate=settings.lr,
            lr_scheduler_type="constant",
            logging_steps=1,
            report_to=report_to,
            save_strategy="no",
            use_cpu=not cuda,
            # Explicit, since TRL's configs default to bf16 autocast. On a CPU bf16 only pays where
            # its matmuls are fast, and there `dtype: auto` already loads the base in bf16; autocast
            # on top would only round the float32 LoRA path (PEFT keeps adapters fp32) as well.
            bf16=cuda and _bf16_ok(),
            seed=seed,
            data_seed=seed,
            dataloader_num_workers=0,
            gradient_checkpointing=settings.gradient_checkpointing,
        )

    def sft(self, adapter: str, rows: list[dict], settings: PhaseSettings, out_dir: Path, *,
            report_to: list[str], seed: int, on_log: OnLog | None = None) -> list[dict]:
        """Supervised warm start on prompt/completion chats (loss on the completion only)."""
        from datasets import Dataset
        from trl import SFTConfig, SFTTrainer

        self.model.set_adapter(adapter)
        args = SFTConfig(**self._common_args(settings, out_dir, report_to, seed), max_length=settings.max_length)
        trainer = SFTTrainer(
            model=self.model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=self.tokenizer,
            callbacks=_log_callbacks(on_log),
        )
        return self._train(trainer, f"sft {adapter}")

    def grpo(self, adapter: str, rows: list[dict], reward_funcs: list, settings: PhaseSettings, out_dir: Path, *,
             report_to: list[str], seed: int, on_log: OnLog | None = None) -> list[dict]:
        """`settings.steps` GRPO updates of one adapter; the other player's adapter is untouched."""
        from datasets import Dataset
        from trl import GRPOConfig, GRPOTrainer

        self.model.set_adapter(adapter)
        args = GRPOConfig(
            **self._common_args(settings, out_dir, report_to, seed),
            num_generations=settings.num_generations,
            max_completion_length=settings.max_new_tokens,
            temperature=settings.temperature,
            shuffle_dataset=True,
        )
        trainer = GRPOTrainer(
            model=self.model,
            reward_funcs=reward_funcs,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=self.tokenizer,
            optimizers=(self.optimizer(adapter, settings.lr), None),
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


def rows_needed(settings: PhaseSettings) -> int:
    """Prompts one GRPO phase consumes (each step draws batch_size / num_generations prompts)."""
    return settings.steps * max(1, math.ceil(settings.batch_size / settings.num_generations))
