"""A captioning data set made offline from real images: digit scenes described by a small grammar.

COCO (about 120k images with 5 sentences each) cannot be downloaded here, so unit 7 builds its own set
with the same structure. Images are the digit scenes of :func:`~course_utils.data.scenes.make_scenes`
(1-3 real handwritten digits on a 64x64 canvas, small or large, no digit twice in a scene). Each image
gets several reference captions written by a grammar with paraphrases:

* identity and size: "a large seven", "a big seven", "a little two" ...
* position on a 3x3 grid of the canvas (from the box centre): "at the top left", "in the top left corner",
  "on the right", "in the centre", "in the middle", "at the bottom" ...
* counts: "two digits : ..."
* relations between two digits (from their centres, along the axis where they differ most):
  "above", "below", "to the left of", "to the right of"

for example ``a large seven at the top left above a little two at the bottom``.

Because the language is a grammar, a generated caption can be **parsed back into facts**
(:func:`caption_facts`) and checked against the scene (:func:`fact_scores`): precision (how many stated
facts are true) and recall (how many of the scene's digit, size and position facts were stated).

* :class:`CaptionVocab` -- words <-> ids with ``<NULL>`` = 0 (padding), ``<START>`` = 1, ``<END>`` = 2, ``<UNK>`` = 3.
* :class:`CaptionSplit`, :class:`CaptionData` -- scenes plus reference captions per split.
* :func:`load_captions` -- build (seconds) or load the set from ``data/cache/captions/`` (SHA-256 checked).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .scenes import SceneObject, SceneSet, make_scenes

__all__ = [
    "NULL", "START", "END", "UNK", "DIGIT_WORDS", "POSITION_NAMES",
    "position_of", "position_name", "relation_of", "describe", "reference_captions",
    "CaptionVocab", "CaptionSplit", "CaptionData", "load_captions",
    "caption_facts", "scene_facts", "fact_counts", "fact_scores", "clear_of_borders",
]

NULL, START, END, UNK = "<NULL>", "<START>", "<END>", "<UNK>"
SPECIAL = (NULL, START, END, UNK)
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SIZE_WORDS = {"small": ("small", "little"), "large": ("large", "big")}
COUNT_WORDS = {1: "one", 2: "two", 3: "three"}
ROWS, COLS = ("top", "middle", "bottom"), ("left", "middle", "right")
#: (row bin, column bin) -> the position's name in facts
POSITION_NAMES = {(0, 0): "top left", (0, 1): "top", (0, 2): "top right",
                  (1, 0): "left", (1, 1): "centre", (1, 2): "right",
                  (2, 0): "bottom left", (2, 1): "bottom", (2, 2): "bottom right"}
#: position name -> the phrases that say it
POSITION_PHRASES = {
    **{name: (f"at the {name}", f"in the {name}", f"in the {name} corner")
       for name in ("top left", "top right", "bottom left", "bottom right")},
    "top": ("at the top", "near the top"), "bottom": ("at the bottom", "near the bottom"),
    "left": ("on the left", "at the left"), "right": ("on the right", "at the right"),
    "centre": ("in the centre", "in the middle"),
}
RELATIONS = ("above", "below", "to the left of", "to the right of")


# ---------------------------------------------------------------- geometry -> words

def position_of(obj: SceneObject, canvas: int = 64) -> tuple[int, int]:
    """(row bin, column bin) in {0, 1, 2}^2 of the object's box centre on a 3x3 grid of the canvas."""
    r, c = obj.center
    return min(int(3 * r / canvas), 2), min(int(3 * c / canvas), 2)


def position_name(obj: SceneObject, canvas: int = 64) -> str:
    """``"top left"``, ``"top"``, ..., ``"centre"``, ..., ``"bottom right"``."""
    return POSITION_NAMES[position_of(obj, canvas)]


def relation_of(a: SceneObject, b: SceneObject) -> str:
    """Where ``a`` is relative to ``b``, along the axis where their centres differ most."""
    (ra, ca), (rb, cb) = a.center, b.center
    if abs(ra - rb) >= abs(ca - cb):
        return "above" if ra < rb else "below"
    return "to the left of" if ca < cb else "to the right of"


def _relation_holds(a: SceneObject, b: SceneObject, rel: str) -> bool:
    (ra, ca), (rb, cb) = a.center, b.center
    return {"above": ra < rb, "below": ra > rb, "to the left of": ca < cb, "to the right of": ca > cb}[rel]


def _reading_order(objects: Sequence[SceneObject], canvas: int) -> list[SceneObject]:
    return sorted(objects, key=lambda o: (*position_of(o, canvas), o.center))


def _mention(obj: SceneObject, canvas: int, rng: np.random.Generator) -> str:
    size = SIZE_WORDS[obj.size][int(rng.integers(2))]
    phrases = POSITION_PHRASES[position_name(obj, canvas)]
    return f"a {size} {DIGIT_WORDS[obj.digit]} {phrases[int(rng.integers(len(phrases)))]}"


def _join(parts: list[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    return " , ".join(parts[:-1]) + " and " + parts[-1]


def describe(objects: Sequence[SceneObject], canvas: int = 64, rng: np.random.Generator | None = None) -> str:
    """One caption of a scene, drawn from the grammar (space-separated words, no ``<START>``/``<END>``).

    Every digit is mentioned with its size and position; the form is one of a list ("a large seven at
    the top left and a small two on the right"), a count ("two digits : ..."), or, with two or more
    digits, a relation ("... above ..."). Digits are named in reading order (top to bottom, then left to
    right, by their 3x3 cell), except that a relation names its first two digits either way round.
    """
    if not objects:
        raise ValueError("a scene needs at least one digit to be described")
    rng = rng if rng is not None else np.random.default_rng(0)
    objs = _reading_order(objects, canvas)
    forms = ["list", "count"] + (["relation"] if len(objs) >= 2 else [])
    form = forms[int(rng.integers(len(forms)))]
    if form == "relation" and rng.random() < 0.5:
        objs[0], objs[1] = objs[1], objs[0]          # "a two below a big seven" as well as "a big seven above a two"
    mentions = [_mention(o, canvas, rng) for o in objs]
    if form == "list":
        return _join(mentions)
    if form == "count":
        k = len(objs)
        return f"{COUNT_WORDS[k]} {'digit' if k == 1 else 'digits'} : {_join(mentions)}"
    first = f"{mentions[0]} {relation_of(objs[0], objs[1])} {mentions[1]}"
    return first if len(objs) == 2 else f"{first} and {mentions[2]}"


def reference_captions(objects: Sequence[SceneObject], canvas: int = 64, k: int = 5,
                       rng: np.random.Generator | None = None, tries: int = 50) -> list[str]:
    """``k`` reference captions of one scene, distinct where the grammar allows it."""
    rng = rng if rng is not None else np.random.default_rng(0)
    out: list[str] = []
    for _ in range(tries):
        c = describe(objects, canvas, rng)
        if c not in out:
            out.append(c)
        if len(out) == k:
            return out
    while len(out) < k:                      # a scene with few paraphrases: repeat some
        out.append(describe(objects, canvas, rng))
    return out


# ---------------------------------------------------------------- vocabulary

@dataclass(frozen=True)
class CaptionVocab:
    """Words and their ids. ``idx_to_word[0..3]`` are ``<NULL>``, ``<START>``, ``<END>``, ``<UNK>``."""
    idx_to_word: tuple[str, ...]
    word_to_idx: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if tuple(self.idx_to_word[:4]) != SPECIAL:
            raise ValueError(f"the first four words must be {SPECIAL}")
        object.__setattr__(self, "word_to_idx", {w: i for i, w in enumerate(self.idx_to_word)})

    @classmethod
    def from_captions(cls, captions: Iterable[str]) -> "CaptionVocab":
        """Every word of the captions, sorted, after the four special tokens."""
        words = sorted({w for c in captions for w in c.split()})
        return cls(SPECIAL + tuple(words))

    def __len__(self) -> int:
        return len(self.idx_to_word)

    null, start, end, unk = 0, 1, 2, 3

    def encode(self, caption: str, length: int | None = None) -> np.ndarray:
        """``<START> words <END>`` as ids (unknown words -> ``<UNK>``), padded with ``<NULL>`` to ``length``."""
        ids = [self.start] + [self.word_to_idx.get(w, self.unk) for w in caption.split()] + [self.end]
        if length is not None:
            if len(ids) > length:
                raise ValueError(f"caption of {len(ids)} tokens does not fit length {length}: {caption!r}")
            ids += [self.null] * (length - len(ids))
        return np.array(ids, dtype=np.int64)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Words up to the first ``<END>``; ``<NULL>`` and ``<START>`` are skipped."""
        words = []
        for i in np.asarray(ids).ravel():
            i = int(i)
            if i == self.end:
                break
            if i in (self.null, self.start):
                continue
            words.append(self.idx_to_word[i])
        return " ".join(words)


# ---------------------------------------------------------------- splits

@dataclass
class CaptionSplit:
    """One split: scenes and their reference captions.

    - scenes: :class:`SceneSet` with images (N, S, S)
    - references: N lists of R caption strings
    - ids: (N, R, T) int64 -- ``<START> ... <END>`` padded with ``<NULL>`` (0)
    """
    scenes: SceneSet
    references: list[list[str]]
    ids: np.ndarray

    def __len__(self) -> int:
        return len(self.scenes)

    @property
    def images(self) -> np.ndarray:
        return self.scenes.images

    def reference_tokens(self) -> list[list[list[str]]]:
        """Token lists of every reference, the input of :func:`course_utils.bleu.corpus_bleu`."""
        return [[c.split() for c in refs] for refs in self.references]


@dataclass
class CaptionData:
    """The whole set: vocabulary, splits and how it was made."""
    vocab: CaptionVocab
    train: CaptionSplit
    val: CaptionSplit
    test: CaptionSplit
    canvas: int
    sha256: str
    cached: bool = False

    def split(self, name: str) -> CaptionSplit:
        if name not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {name!r}")
        return getattr(self, name)

    def statistics(self) -> dict:
        """Images, captions, captions per image, vocabulary, caption lengths (words) and words per split."""
        stats: dict = {"vocabulary": len(self.vocab), "words (without special tokens)": len(self.vocab) - 4}
        lengths = []
        for name in ("train", "val", "test"):
            s = self.split(name)
            n_caps = sum(len(r) for r in s.references)
            stats[name] = {"images": len(s), "captions": n_caps, "captions per image": n_caps / len(s),
                           "distinct captions": len({c for r in s.references for c in r}),
                           "digits per image": Counter(len(o) for o in s.scenes.objects)}
            lengths += [len(c.split()) for r in s.references for c in r]
        stats["length histogram"] = dict(sorted(Counter(lengths).items()))
        stats["mean length"] = float(np.mean(lengths))
        stats["max length"] = int(max(lengths))
        return stats

    def print_statistics(self) -> None:
        """Print the statistics the way a data set paper quotes COCO's."""
        st = self.statistics()
        tr, va, te = st["train"], st["val"], st["test"]
        total_images = tr["images"] + va["images"] + te["images"]
        total_caps = tr["captions"] + va["captions"] + te["captions"]
        print(f"{total_images:,} images ({tr['images']:,} train / {va['images']:,} val / {te['images']:,} test), "
              f"{total_caps:,} captions, {total_caps / total_images:.0f} per image")
        print(f"vocabulary: {st['vocabulary']} tokens ({st['words (without special tokens)']} words + "
              f"<NULL>, <START>, <END>, <UNK>)")
        print(f"caption length: mean {st['mean length']:.1f} words, max {st['max length']}")
        for name in ("train", "val", "test"):
            d = st[name]["digits per image"]
            print(f"{name:5s}: digits per image " + ", ".join(f"{k}: {d[k]:,}" for k in sorted(d))
                  + f"; distinct captions {st[name]['distinct captions']:,}")
        hist = st["length histogram"]
        top = max(hist.values())
        print("length histogram (words: captions):")
        for L, n in hist.items():
            print(f"  {L:2d} {n:6,d} {'#' * max(1, round(40 * n / top))}")


# ---------------------------------------------------------------- building and caching

_SPLIT_SEEDS = {"train": 101, "val": 102, "test": 103}
_FORMAT = 2


def clear_of_borders(objects: Sequence[SceneObject], canvas: int = 64, margin: float = 2.0) -> bool:
    """Whether every box centre is more than ``margin`` pixels away from the lines of the 3x3 grid."""
    lines = np.array([canvas / 3, 2 * canvas / 3])
    return all(np.abs(np.subtract.outer(o.center, lines)).min() > margin for o in objects)


def _build_split(name: str, n: int, refs: int, canvas: int, seed: int,
                 margin: float) -> tuple[SceneSet, list[list[str]]]:
    """``n`` scenes of ``make_scenes`` whose digits are clear of the 3x3 grid's lines, and their captions."""
    parts: list[SceneSet] = []
    kept = 0
    for chunk in range(100):
        size = int(2.5 * (n - kept)) + 20                # about 45% of the scenes are clear of the lines
        s = make_scenes(size, split=name, canvas=canvas, seed=seed * 100_000 + _SPLIT_SEEDS[name] * 100 + chunk)
        ok = np.flatnonzero([clear_of_borders(objs, canvas, margin) for objs in s.objects])[:n - kept]
        parts.append(s[ok])
        kept += len(ok)
        if kept == n:
            break
    scenes = SceneSet(np.concatenate([p.images for p in parts]), [o for p in parts for o in p.objects],
                      np.concatenate([p.labels for p in parts]))
    rng = np.random.default_rng([seed, _SPLIT_SEEDS[name], 7])
    references = [reference_captions(objs, canvas, refs, rng) for objs in scenes.objects]
    return scenes, references


def _objects_to_array(objects: list[list[SceneObject]]) -> np.ndarray:
    """(N, 3, 6) int: digit, top, left, bottom, right, large (-1 rows where a scene has fewer digits)."""
    out = np.full((len(objects), 3, 6), -1, dtype=np.int64)
    for i, objs in enumerate(objects):
        for k, o in enumerate(objs):
            out[i, k] = (o.digit, *o.box, int(o.size == "large"))
    return out


def _objects_from_array(arr: np.ndarray) -> list[list[SceneObject]]:
    return [[SceneObject(int(r[0]), (int(r[1]), int(r[2]), int(r[3]), int(r[4])), "large" if r[5] else "small")
             for r in rows if r[0] >= 0] for rows in arr]


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(k.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def load_captions(n_train: int = 6000, n_val: int = 500, n_test: int = 500, refs_per_image: int = 5,
                  canvas: int = 64, margin: float = 2.0, seed: int = 0, cache: bool = True) -> CaptionData:
    """The captioning set: scenes of 1-3 digits with ``refs_per_image`` reference captions each.

    Scenes where a digit's centre lies within ``margin`` pixels of a line of the 3x3 grid are left out
    (nobody could say whether such a digit is "at the top" or "in the centre"); the scenes are otherwise
    those of :func:`make_scenes`. Deterministic in its arguments. Test scenes use only test digits. With
    ``cache`` the arrays are stored in ``data/cache/captions/`` as ``.npz`` with the SHA-256 of their
    contents in a JSON file next to it; a file that does not match its checksum is rebuilt. The
    vocabulary comes from the training captions only.
    """
    for name, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test), ("refs_per_image", refs_per_image)):
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{name} must be a positive integer, got {n!r}")
    from .download import cache_dir
    config = {"format": _FORMAT, "n_train": n_train, "n_val": n_val, "n_test": n_test, "refs": refs_per_image,
              "canvas": canvas, "margin": margin, "seed": seed}
    key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    folder = cache_dir() / "captions"
    path, meta = folder / f"captions-{key}.npz", folder / f"captions-{key}.json"
    if cache and path.exists() and meta.exists():
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        expected = json.loads(meta.read_text()).get("sha256")
        if _digest(arrays) == expected:
            return _from_arrays(arrays, canvas, expected, cached=True)
        print(f"{path.name} does not match its checksum; rebuilding the captioning set")
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    built = {name: _build_split(name, n, refs_per_image, canvas, seed, margin) for name, n in sizes.items()}
    vocab = CaptionVocab.from_captions(c for refs in built["train"][1] for c in refs)
    T = max(len(c.split()) for _, refs in built.values() for r in refs for c in [*r]) + 2
    arrays: dict[str, np.ndarray] = {"vocab": np.array(vocab.idx_to_word)}
    for name, (scenes, refs) in built.items():
        arrays[f"{name}_images"] = scenes.images
        arrays[f"{name}_objects"] = _objects_to_array(scenes.objects)
        arrays[f"{name}_ids"] = np.stack([np.stack([vocab.encode(c, T) for c in r]) for r in refs])
        arrays[f"{name}_refs"] = np.array([" | ".join(r) for r in refs])
    digest = _digest(arrays)
    if cache:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.part-{os.getpid()}.npz")
        np.savez_compressed(tmp, **arrays)
        meta_tmp = meta.with_name(f"{meta.name}.part-{os.getpid()}")
        meta_tmp.write_text(json.dumps({**config, "sha256": digest}, indent=1))
        meta_tmp.replace(meta)            # identical bytes if two processes build at once
        tmp.replace(path)
    return _from_arrays(arrays, canvas, digest, cached=False)


def _from_arrays(arrays: dict[str, np.ndarray], canvas: int, digest: str, cached: bool) -> CaptionData:
    vocab = CaptionVocab(tuple(str(w) for w in arrays["vocab"]))
    splits = {}
    for name in ("train", "val", "test"):
        objects = _objects_from_array(arrays[f"{name}_objects"])
        images = arrays[f"{name}_images"]
        labels = np.zeros((len(images), 10), dtype=np.float32)
        for i, objs in enumerate(objects):
            labels[i, [o.digit for o in objs]] = 1.0
        refs = [str(r).split(" | ") for r in arrays[f"{name}_refs"]]
        splits[name] = CaptionSplit(SceneSet(images, objects, labels), refs, arrays[f"{name}_ids"])
    return CaptionData(vocab, splits["train"], splits["val"], splits["test"], canvas, digest, cached)


# ---------------------------------------------------------------- facts: parse captions back

_SIZE_OF = {w: s for s, words in SIZE_WORDS.items() for w in words}
_DIGIT_OF = {w: d for d, w in enumerate(DIGIT_WORDS)}
_COUNT_OF = {w: k for k, w in COUNT_WORDS.items()}
_POSITION_OF = {phrase: name for name, phrases in POSITION_PHRASES.items() for phrase in phrases}
_PHRASES = sorted([(tuple(p.split()), name) for p, name in _POSITION_OF.items()], key=lambda x: -len(x[0]))
_RELATION_WORDS = sorted([(tuple(r.split()), r) for r in RELATIONS], key=lambda x: -len(x[0]))


def _match(tokens: Sequence[str], i: int, table: list[tuple[tuple[str, ...], str]]) -> tuple[str | None, int]:
    for words, value in table:
        if tuple(tokens[i:i + len(words)]) == words:
            return value, i + len(words)
    return None, i


def caption_facts(caption: str | Sequence[str]) -> set[tuple]:
    """The facts a caption states, read back with the grammar's words.

    Returns a set of tuples: ``("digit", d)``, ``("size", d, "small"|"large")``, ``("position", d, name)``,
    ``("count", k)`` and ``("relation", d1, relation, d2)``. Words the parser does not understand are
    skipped; a size or position with no digit to attach to is dropped.
    """
    tokens = caption.split() if isinstance(caption, str) else list(caption)
    facts: set[tuple] = set()
    i, size, last, pending_rel = 0, None, None, None
    while i < len(tokens):
        w = tokens[i]
        if w in _COUNT_OF and i + 1 < len(tokens) and tokens[i + 1] in ("digit", "digits"):
            facts.add(("count", _COUNT_OF[w]))
            i += 2
            continue
        if w in _SIZE_OF:
            size = _SIZE_OF[w]
            i += 1
            continue
        if w in _DIGIT_OF:
            d = _DIGIT_OF[w]
            facts.add(("digit", d))
            if size is not None:
                facts.add(("size", d, size))
            if pending_rel is not None and last is not None:
                facts.add(("relation", last, pending_rel, d))
            size, pending_rel, last = None, None, d
            i += 1
            continue
        name, j = _match(tokens, i, _PHRASES)
        if name is not None:
            if last is not None:
                facts.add(("position", last, name))
            i = j
            continue
        rel, j = _match(tokens, i, _RELATION_WORDS)
        if rel is not None:
            pending_rel = rel
            i = j
            continue
        i += 1
    return facts


def scene_facts(objects: Sequence[SceneObject], canvas: int = 64) -> set[tuple]:
    """The facts a full description must state: digit, size and position of every object."""
    out: set[tuple] = set()
    for o in objects:
        out |= {("digit", o.digit), ("size", o.digit, o.size), ("position", o.digit, position_name(o, canvas))}
    return out


def _is_true(fact: tuple, objects: Sequence[SceneObject], canvas: int) -> bool:
    by_digit = {o.digit: o for o in objects}
    kind = fact[0]
    if kind == "count":
        return fact[1] == len(objects)
    if kind == "relation":
        a, rel, b = fact[1], fact[2], fact[3]
        return a in by_digit and b in by_digit and a != b and _relation_holds(by_digit[a], by_digit[b], rel)
    return fact in scene_facts(objects, canvas)


def fact_counts(caption: str | Sequence[str], objects: Sequence[SceneObject], canvas: int = 64) -> dict[str, int]:
    """``stated``, ``true`` (stated and true), ``required`` (scene facts) and ``recalled`` (required and stated)."""
    stated = caption_facts(caption)
    required = scene_facts(objects, canvas)
    return {"stated": len(stated), "true": sum(_is_true(f, objects, canvas) for f in stated),
            "required": len(required), "recalled": len(required & stated)}


def fact_scores(captions: Sequence[str | Sequence[str]], objects: Sequence[Sequence[SceneObject]],
                canvas: int = 64) -> dict[str, float]:
    """Fact precision, recall and F1 of generated captions, pooled over the corpus (micro-averaged).

    precision = true stated facts / stated facts; recall = scene facts stated / scene facts
    (digit, size and position of every digit); F1 = their harmonic mean.
    """
    if len(captions) != len(objects):
        raise ValueError(f"{len(captions)} captions but {len(objects)} scenes")
    total = Counter()
    for cap, objs in zip(captions, objects):
        total.update(fact_counts(cap, objs, canvas))
    p = total["true"] / total["stated"] if total["stated"] else 0.0
    r = total["recalled"] / total["required"] if total["required"] else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f1}
