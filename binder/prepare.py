"""Prepare, once at image build time, what the lectures would otherwise train or download on first run.

    python binder/prepare.py            (binder/postBuild runs it; safe to run again: all cached)

* the course CNNs of units 1, 2 and 7 (``load_cnn``: the shipped weights, else trained into the cache);
* tinyshakespeare (units 4 and 8), downloaded with its checksum verified, unless already cached;
* the captioning set of unit 7 and the frozen CNN's feature grids of its three splits, under the same
  cache keys as the lecture uses.

The Python and C code corpora are read from the image's own standard library and ``/usr/include``;
the char-LSTMs of units 6 and 8b are trained inside their lectures (that training is what they teach).
"""

from __future__ import annotations

import time


def main() -> None:
    from course_utils.runtime import limit_threads
    limit_threads()
    from course_utils import captioning as cap
    from course_utils.cnn import CONFIGS, load_cnn
    from course_utils.data.captions import load_captions
    from course_utils.data.corpora import corpus_path, fetch_corpus

    t0 = time.perf_counter()
    for kind in sorted(CONFIGS):
        _, info = load_cnn(kind, "cpu", progress=False)
        print(f"CNN {kind}: {info.get('source', 'cached' if info.get('cached') else 'trained')}", flush=True)
    if not corpus_path("shakespeare").exists():
        fetch_corpus("shakespeare")
    print(f"tinyshakespeare: {corpus_path('shakespeare')}", flush=True)
    data = load_captions()
    cnn, cnn_info = load_cnn("scenes", "cpu", progress=False)
    for split in ("train", "val", "test"):   # the keys of lectures/07_image_captioning.ipynb
        cap.scene_features(cnn, data.split(split).images,
                           cache_key=f"{cnn_info['sha256'][:12]}-{data.sha256[:12]}-{split}")
    print(f"captioning set and scene features cached; prepared in {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
