"""KFP components: one small file per Algorithm-1 step."""
