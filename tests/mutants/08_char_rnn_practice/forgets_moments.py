# mutant: does not save Adam's moments and restarts them at zero; expect: q4
def load_checkpoint(directory):
    directory = Path(directory)
    with np.load(directory / "params.npz", allow_pickle=False) as z:
        params = {k: z[k] for k in z.files}
    progress = json.loads((directory / "progress.json").read_text(encoding="utf-8"))
    moments = {f"{k}.{m}": np.zeros_like(v, dtype=np.float64) for k, v in params.items()
               if v.dtype.kind == "f" for m in ("exp_avg", "exp_avg_sq")}
    return params, moments, progress
