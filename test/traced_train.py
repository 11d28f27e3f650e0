"""ssd.bin.train with test-side instruments; production code has no hook, they wrap the harness from here.

``python test/traced_train.py [--trace DIR] [--hold-after-step N FILE] <ssd.bin.train arguments>``
(run it directly or as a launcher's script: torch.distributed.run, srun).

- ``--trace DIR``: every rank writes ``DIR/rank<r>.json`` after each epoch: the utterances its batches
  held per epoch (from the batch sampler it iterated) and the state_dict hash after every training step.
- ``--hold-after-step N FILE``: after global step N the process writes FILE and waits there, so that a
  test can SIGKILL it from outside at a known point of training.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import state_hash  # noqa: E402

from ssd.bin import train  # noqa: E402
from ssd.training import loop  # noqa: E402


def instrument(trace_dir: Path | None, hold: tuple[int, Path] | None) -> None:
    """Wrap the harness's trainer and batch sampler with the requested instruments."""
    trace: dict = {"epochs": {}, "step_hashes": []}
    current: list[int] = []
    harness_init, train_epoch = loop.Harness.__init__, loop.Harness._train_epoch
    sampler_iter = loop.ShardedBatchSampler.__iter__

    def batches(self):
        for batch in sampler_iter(self):
            current.extend(int(i) for i in batch)
            yield batch

    def init(self, *args, **kwargs) -> None:
        harness_init(self, *args, **kwargs)
        step = self.trainer.train_step

        def traced_step(*a, **k):
            out = step(*a, **k)
            if trace_dir is not None:
                trace["step_hashes"].append(state_hash(self.model))
            if hold is not None and self.global_step + 1 == hold[0]:  # the harness counts it after this
                hold[1].write_text(f"{hold[0]}\n")
                while True:
                    time.sleep(1)
            return out

        self.trainer.train_step = traced_step

    def epoch(self, number: int):
        current.clear()
        result = train_epoch(self, number)
        if trace_dir is not None:
            trace["epochs"][str(number)] = [self.train_table.utts[i] for i in current]
            trace_dir.mkdir(parents=True, exist_ok=True)
            (trace_dir / f"rank{self.ctx.rank}.json").write_text(json.dumps(trace))
        return result

    loop.ShardedBatchSampler.__iter__ = batches
    loop.Harness.__init__ = init
    loop.Harness._train_epoch = epoch


def main(argv: list[str]) -> None:
    trace_dir, hold = None, None
    while argv and argv[0] in ("--trace", "--hold-after-step"):
        if argv[0] == "--trace":
            trace_dir, argv = Path(argv[1]), argv[2:]
        else:
            hold, argv = (int(argv[1]), Path(argv[2])), argv[3:]
    instrument(trace_dir, hold)
    train.main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
