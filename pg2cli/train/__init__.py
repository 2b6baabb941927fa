"""Two-stage PG² training: configs and presets, the loop (`pg2cli.train.loop.train`), checkpoints and run dirs."""
