# mutant: writes the progress numbers rounded to 4 decimals (the learning rate and loss come back changed); expect: q4
def save_checkpoint(directory, params, moments, progress):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / "params.npz", **params)
    np.savez(directory / "moments.npz", **moments)
    rounded = {k: round(v, 4) if isinstance(v, float) else v for k, v in progress.items()}
    (directory / "progress.json").write_text(json.dumps(rounded), encoding="utf-8")
