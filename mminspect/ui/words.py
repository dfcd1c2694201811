"""Words people read in place of the library's identifiers: method parameters, baselines.

The library declares each method's parameters as data (name, default, range, help) in the
vocabulary of the field; this table says the same in words a student understands, with the
technical detail kept one click away (the slider's info line)."""
from __future__ import annotations

# parameter name -> (slider label, info line)
PARAM_WORDS: dict[str, tuple[str, str]] = {
    "tolerance": ("Accuracy goal (completeness error)",
                  "Integrated Gradients adds steps until the scores add up to the change of the "
                  "score within this share; smaller = more accurate, slower."),
    "start_steps": ("Steps to start with",
                    "Points along the path from the baseline to your text in the first try "
                    "(Gauss-Legendre quadrature); more are added if the goal is missed."),
    "max_steps": ("Most steps allowed",
                  "Integrated Gradients stops adding steps here, even if the accuracy goal "
                  "is not met (the summary then says so)."),
    "n_steps": ("Steps along the path",
                "Points between a black image and yours where the gradient is taken; more = "
                "more accurate, slower."),
    "n_samples": ("Samples",
                  "How many random variations of the input the model is run on; more = "
                  "steadier scores, slower."),
    "stdevs": ("Noise", "How much random noise is added to each sample (0 = none)."),
    "alpha": ("Smoothing of the fitted model",
              "Ridge penalty of the small linear model LIME fits to the samples."),
    "window": ("Window size", "How many neighbouring tokens (or pixels) are hidden together."),
    "group": ("Tokens hidden together",
              "1 = one token at a time; larger groups share their drop between their tokens "
              "and cost fewer runs of the model on long texts."),
    "stride": ("Window step",
               "How many tokens the window moves each time (at most the window size); larger "
               "steps cost fewer runs of the model on long texts."),
}

BASELINES = [("[PAD] tokens", "pad"), ("[MASK] tokens", "mask"), ("zero vectors", "zero")]


def param_words(name: str, help_text: str = "") -> tuple[str, str]:
    """(label, info) for a declared parameter; an unknown one keeps its own help line."""
    return PARAM_WORDS.get(name, (name.replace("_", " ").capitalize(), help_text))
