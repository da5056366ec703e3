"""One fastText training in a fresh interpreter: `python -m training.fit_worker TRAIN PARAMS OUT`.

fastText 0.9.3 keeps native state between trainings in one process: a later training on the same
file can abort with "Encountered NaN", and a forked child inherits that state. A fresh interpreter
trains reproducibly (byte-identical models for the same inputs).
"""

import json
import subprocess
import sys
from typing import Any

TIMEOUT_SECONDS = 600


def train_to_file(train_file: str, kwargs: dict[str, Any], model_file: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "training.fit_worker", train_file, json.dumps(kwargs), model_file],
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT_SECONDS,
    )
    if result.returncode != 0:
        raise RuntimeError(f"fastText training failed: {result.stderr.strip()[-2000:]}")


def main() -> None:
    import fasttext

    train_file, kwargs, model_file = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    fasttext.train_supervised(input=train_file, verbose=0, **kwargs).save_model(model_file)


if __name__ == "__main__":
    main()
