"""The fastae command-line application (installed as ``fastae_cli``)."""
