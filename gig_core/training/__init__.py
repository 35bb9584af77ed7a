"""The one trainer every generator family goes through, with its losses and checkpoints."""
