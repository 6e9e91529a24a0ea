"""Training: data pipeline, loss, clip forward pass and the training loop."""
