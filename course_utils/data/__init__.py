"""Data the course uses: everything ships offline or is cached with a checksum.

* :mod:`.digits`  -- scikit-learn's 8x8 handwritten digits, split into train/val/test.
* :mod:`.resize`  -- bilinear resizing of image stacks.
* :mod:`.scenes`  -- scenes composed of several real digits with their boxes (units 1, 2 and 7).
* :mod:`.corpora` -- text corpora: tinyshakespeare (cached download) and code found on every machine.
* :mod:`.download` -- cached, checksummed, atomic downloads.
* :mod:`.text`    -- character vocabularies, encoding and (B, T) window batches.
"""

from .corpora import CorpusNotAvailable, load_corpus, corpus_names
from .digits import DigitsSplit, load_digits_split
from .resize import resize_images
from .scenes import SIZES, SceneObject, SceneSet, make_scenes
from .download import ChecksumError, cache_dir, download_file
from .text import CharVocab, batch_windows, train_val_split

__all__ = [
    "CorpusNotAvailable", "load_corpus", "corpus_names",
    "DigitsSplit", "load_digits_split",
    "SIZES", "SceneObject", "SceneSet", "make_scenes", "resize_images",
    "ChecksumError", "cache_dir", "download_file",
    "CharVocab", "batch_windows", "train_val_split",
]
