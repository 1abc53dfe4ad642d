"""Training: the trainer, its config and callbacks, optimizers, schedules, checkpoints, runs."""
