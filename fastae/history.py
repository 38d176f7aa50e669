"""What ``fit`` returns for every model, and what its callback receives."""
import numpy as np


class History(np.ndarray):
    """The history of a ``fit``: the training loss of each epoch, as a float array, with
    every per-epoch record by name.

    ``history[-1]``, ``np.mean(history)``, ``len(history)``: the losses, as an array.
    ``history["loss"]``, ``history["seconds"]`` (the training time of each epoch;
    compilation and evaluation excluded) and, for a classifier, ``history["train_accuracy"]``
    and ``history["accuracy_NAME"]`` of each evaluation set: lists of floats.
    ``history.keys()``, ``items()`` and ``get()`` work as for a dict of those lists, and
    ``history.records`` is that dict.
    """

    def __new__(cls, records):
        records = {k: np.asarray(vs, dtype=float).tolist() for k, vs in records.items()}
        obj = np.asarray(records["loss"], dtype=float).view(cls)
        obj.records = records
        return obj

    def __array_finalize__(self, obj):
        self.records = getattr(obj, "records", None)

    def __getitem__(self, key):
        if isinstance(key, str):
            return self.records[key]
        return np.asarray(self)[key]

    def __contains__(self, key):
        return key in self.records if isinstance(key, str) else super().__contains__(key)

    def __reduce__(self):
        return History, (self.records,)

    def keys(self):
        return self.records.keys()

    def items(self):
        return self.records.items()

    def get(self, key, default=None):
        return self.records.get(key, default)

    def __repr__(self):
        return f"History({len(self)} epochs: {', '.join(self.records)})"
