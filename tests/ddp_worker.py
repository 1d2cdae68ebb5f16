"""Run by test_model.py under torchrun: two CPU processes train one model with gloo DDP."""

import json
import sys
from pathlib import Path

import numpy as np
import torch.distributed as dist

from latentsep.models import training
from latentsep.presets import get_preset

out = Path(sys.argv[1])
preset = get_preset("smoke", {"train.epochs": 2, "train.batch_size": 2})
rng = np.random.default_rng(0)
signals = [rng.standard_normal((1, 16000)).astype(np.float32) * 0.1 for _ in range(6)]
history = training.fit(preset, signals[1:], signals[:1], out, progress=False)
# Each rank scores the same validation excerpts with its own copy of the weights: equal
# validation losses mean DDP kept the copies equal; the training losses (each rank's own
# batches) differ.
record = {k: [e[k] for e in history.epochs] for k in ("valid", "loss")}
(out / f"rank{dist.get_rank()}.json").write_text(json.dumps(record))
dist.destroy_process_group()
