"""Plain nn.Modules: the 1-D DiT, EDM math, the GPT and cell encodings (no Lightning here)."""
