# mutant: stores every array as float32 (loses float64 precision and the integer dtype); expect: q4
def save_checkpoint(directory, params, moments, progress):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / "params.npz", **{k: np.asarray(v, dtype=np.float32) for k, v in params.items()})
    np.savez(directory / "moments.npz", **{k: np.asarray(v, dtype=np.float32) for k, v in moments.items()})
    (directory / "progress.json").write_text(json.dumps(progress), encoding="utf-8")
