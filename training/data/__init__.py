"""Datasets as tensors or streamed Datasets: every source returns raw train/test arrays (or
``torch.utils.data`` Datasets); :mod:`.splits` turns them into normalized train / validation /
test data behind one interface (:data:`Data`)."""

from training.data.splits import Data, Splits, load_splits
from training.data.stream import DataSourceError, StreamSplits

__all__ = ["Data", "DataSourceError", "Splits", "StreamSplits", "load_splits"]
