"""``python -m engine.bench``: the training-step benchmark, engine.fast.bench, by its short name."""

from engine.fast.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
