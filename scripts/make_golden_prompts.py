"""Record the official BFCL prompt-mode chat for a few entries (run with the full bfcl-eval install).

    .oracle-venv/bin/python scripts/make_golden_prompts.py tests/golden/prompts.json
"""

import copy
import json
import sys

from bfcl_eval.model_handler.utils import system_prompt_pre_processing_chat_model
from bfcl_eval.utils import load_dataset_entry

IDS = {
    "simple_python": ["simple_python_0", "simple_python_1"],
    "multiple": ["multiple_3"],
    "parallel_multiple": ["parallel_multiple_5"],
    "live_simple": ["live_simple_0-0-0"],
    "live_multiple": ["live_multiple_0-0-0"],
    "live_irrelevance": ["live_irrelevance_1-0-1"],
}


def main(out: str) -> None:
    golden = []
    for category, ids in IDS.items():
        entries = {e["id"]: e for e in load_dataset_entry(category)}
        for example_id in ids:
            entry = copy.deepcopy(entries[example_id])
            messages = system_prompt_pre_processing_chat_model(entry["question"][0], entry["function"], example_id)
            golden.append({"id": example_id, "messages": messages})
    with open(out, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
