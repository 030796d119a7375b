"""What each arm of the comparison runs (METHOD.md, "Baselines and the experiment").

Every arm is the same loop (warm start, then rounds of select seeds -> Q-phase -> harvest ->
F-phase -> evaluate); an arm only says which of those steps do work. The stage methods of the game
read these flags instead of comparing names, so a new baseline or ablation is one row here.

    arm              Q trained   harvest       F-phase mix            curriculum
    sft (B1)         no          never         no F-phase             -
    grpo_clean (B2)  no          never         clean seeds only       -
    grpo_random_aug  no          once, round 1 alpha rewrites of the  off: every tactic level,
      (B3)                                     untrained Q + clean    seeds drawn uniformly
    advfc            yes         every round   alpha adversarial      on
    no_curriculum    yes         every round   alpha adversarial      off
    frozen_q         no          every round   alpha adversarial      on (the game without RL on Q)

B3 harvests as many rewrites in its one harvest as the game does over all its rounds (seeds per
round x rounds), so the two see the same amount of augmentation; the difference is who wrote it.
Reward-mode, alpha, k and learning-rate variants are config overrides of one of these arms (see
`advfc experiment`'s `variants`), not rows of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Arm:
    name: str
    label: str
    train_query: bool
    harvest: Literal["never", "once", "every_round"]
    f_phase: bool
    adversarial: bool  # False: the F-phase mix is clean seeds only (alpha = 0)
    curriculum: bool  # False: top tactic level from round 1, seeds from every bucket uniformly

    def harvests_in(self, round_index: int) -> bool:
        return self.harvest == "every_round" or (self.harvest == "once" and round_index == 1)


ARMS: dict[str, Arm] = {a.name: a for a in (
    Arm("sft", "B1", train_query=False, harvest="never", f_phase=False, adversarial=False, curriculum=True),
    Arm("grpo_clean", "B2", train_query=False, harvest="never", f_phase=True, adversarial=False, curriculum=True),
    Arm("grpo_random_aug", "B3", train_query=False, harvest="once", f_phase=True, adversarial=True, curriculum=False),
    Arm("advfc", "advfc", train_query=True, harvest="every_round", f_phase=True, adversarial=True, curriculum=True),
    Arm("no_curriculum", "advfc - curriculum", train_query=True, harvest="every_round", f_phase=True, adversarial=True,
        curriculum=False),
    Arm("frozen_q", "advfc - RL on Q", train_query=False, harvest="every_round", f_phase=True, adversarial=True,
        curriculum=True),
)}
ARM_NAMES = tuple(ARMS)
