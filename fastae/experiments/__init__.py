"""The tutorial's exercises as recipes: hyper-parameters, training runs, figures, metrics."""
