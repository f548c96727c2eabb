"""Open-NSFW against nsfwjs's MobileNetV2 models (npm, converted to TFLite):
speed, agreement of the adult decision, and each port's faithfulness to nsfwjs.

    python -m bench.adult_models [--no-write] [--images 1000] [--[no-]reference]
                                 [--variants mobilenet_v2 mobilenet_v2_mid]

- Milliseconds per image on one thread: the model alone on a prepared image,
  and preparation + model from a decoded upload, timed in turns.
- Agreement of the adult decision (approve / review / reject at the thresholds
  in use) with Open-NSFW float, for each way of turning nsfwjs's five classes
  into one adult probability, on the photos bench.quantized uses (scikit-image
  samples, Debian wallpapers, crops, flips, rescales) and on skin-toned
  renderings of them.
- With --reference (the default when node and npm are installed; installs
  nsfwjs and @tensorflow/tfjs into var/npm/jsref once): nsfwjs's own
  JavaScript output on a few photos against each converted model's on the
  same pixels (max abs difference); it rewrites the test fixture
  tests/classifier/data/nsfwjs_reference.json.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import time

import numpy as np

from bench.common import ROOT, table, write_section
from bench.quantized import fidelity_images, interleaved_ms

NPM_FOLDER = ROOT / "var" / "npm"
JS_MODULES = NPM_FOLDER / "jsref"
TFJS = "@tensorflow/tfjs@4.22.0"
FIXTURE = ROOT / "tests" / "classifier" / "data" / "nsfwjs_reference.json"
# Ways of reading one adult probability from nsfwjs's classes.
MAPPINGS = {
    "Porn": {"Porn": 1.0},
    "Porn + Hentai": {"Porn": 1.0, "Hentai": 1.0},
    "Porn + Hentai + ½ Sexy": {"Porn": 1.0, "Hentai": 1.0, "Sexy": 0.5},
    "Porn + Hentai + Sexy": {"Porn": 1.0, "Hentai": 1.0, "Sexy": 1.0},
}
# The bar nsfwjs must clear to serve by default: the adult decision bar the
# int8 Open-NSFW was held to, at no more than half its cost, and a faithful port.
BAR_DECISIONS = 0.99
BAR_SPEED = 2.0
BAR_PORT = 1e-4


def js_reference(tarball, pixels: np.ndarray, variant: str) -> dict:
    """nsfwjs's own probabilities for the pixels (node + TF.js CPU backend)."""
    import tempfile

    from classifier.ml.nsfwjs import pixels_json

    if not (JS_MODULES / "node_modules" / "@tensorflow" / "tfjs").exists():
        JS_MODULES.mkdir(parents=True, exist_ok=True)
        print(f"npm install {TFJS} and {tarball.name} into {JS_MODULES} ...", flush=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                "--prefix",
                str(JS_MODULES),
                TFJS,
                str(tarball),
            ],
            check=True,
            capture_output=True,
            timeout=900,
        )
    with tempfile.NamedTemporaryFile("w", suffix=".json") as fh:
        fh.write(pixels_json(pixels))
        fh.flush()
        done = subprocess.run(
            ["node", str(ROOT / "bench" / "nsfwjs_reference.js"), str(JS_MODULES / "node_modules"), fh.name, variant],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    return json.loads(done.stdout)


def weighted_score(probabilities: np.ndarray, weights: dict[str, float]) -> np.ndarray:
    from classifier.ml.nsfwjs import NSFW_CLASSES

    return sum(probabilities[:, NSFW_CLASSES.index(name)] * w for name, w in weights.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0, help="timing per model, in 5 turns")
    parser.add_argument("--skin-toned", type=int, default=300, help="skin-toned renderings of the first N images")
    parser.add_argument(
        "--reference",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="check the port against nsfwjs in node (default: when npm and node are installed)",
    )
    parser.add_argument("--variants", nargs="+", default=["mobilenet_v2", "mobilenet_v2_mid"])
    args = parser.parse_args(argv)

    from classifier.ml import nsfwjs
    from classifier.ml.nsfw import AdultScorer, model_bytes, prepare
    from classifier.ml.preprocessing import DECODE_SIDE, open_image
    from classifier.ml.quantize import adult_fidelity, skin_toned

    fidelity = fidelity_images(args.images)
    images, from_wallpaper = fidelity.images, fidelity.from_wallpaper
    skin_images = skin_toned(images[: args.skin_toned])

    started = time.perf_counter()
    try:
        tarball = nsfwjs.fetch_package(NPM_FOLDER)
    except nsfwjs.PackageUnavailable as error:
        print(f"skipped: {error}")
        return 0
    if args.reference is None:
        args.reference = nsfwjs.npm_available()
    converted = {variant: nsfwjs.convert(tarball, variant) for variant in args.variants}
    print(f"nsfwjs {nsfwjs.VERSION} {', '.join(args.variants)} converted in {time.perf_counter() - started:.0f} s")

    # One wallpaper as a worker sees it: a JPEG upload decoded at reduced size.
    one_photo = images[fidelity.samples] if len(images) > fidelity.samples else images[0]
    buffer = io.BytesIO()
    one_photo.save(buffer, "JPEG", quality=90)
    one_photo = open_image(buffer.getvalue(), target_side=DECODE_SIDE)
    open_nsfw = AdultScorer(model_bytes())
    scorers = {variant: nsfwjs.NsfwjsScorer(artifact) for variant, artifact in converted.items()}
    calls = {
        "open_nsfw model": (lambda x=prepare([one_photo]): open_nsfw.score_prepared(x)),
        "open_nsfw photo": lambda: open_nsfw.score_images([one_photo]),
    }
    for variant, scorer in scorers.items():
        calls[f"{variant} model"] = lambda s=scorer, x=scorer.prepare([one_photo]): s.score_prepared(x)
        calls[f"{variant} photo"] = lambda s=scorer: s.score_images([one_photo])
    timings = interleaved_ms(calls, args.seconds)
    print(f"timed: {timings}", flush=True)

    def batched(call, items):
        return np.concatenate([call(items[i : i + 16]) for i in range(0, len(items), 16)])

    open_scores = batched(open_nsfw.score_images, images)
    open_skin = batched(open_nsfw.score_images, skin_images)
    probs, probs_skin = {}, {}
    for variant, scorer in scorers.items():
        probs[variant] = batched(lambda b, s=scorer: s.probabilities(s.prepare(b)), images)
        probs_skin[variant] = batched(lambda b, s=scorer: s.probabilities(s.prepare(b)), skin_images)
    print("scored", flush=True)

    rows, figures = [], {}
    for variant in args.variants:
        for name, weights in MAPPINGS.items():
            scores, skin_scores = weighted_score(probs[variant], weights), weighted_score(probs_skin[variant], weights)
            photo_fit = adult_fidelity(open_scores, scores)
            wall_fit = adult_fidelity(open_scores[from_wallpaper], scores[from_wallpaper])
            skin_fit = adult_fidelity(open_skin, skin_scores)
            mine = adult_fidelity(scores, scores).float_decisions
            mine_skin = adult_fidelity(skin_scores, skin_scores).float_decisions
            both = np.concatenate([open_scores, open_skin]), np.concatenate([scores, skin_scores])
            figures[f"{variant}: {name}"] = {
                "photos": photo_fit.as_dict(),
                "wallpapers_only": wall_fit.as_dict(),
                "skin_toned": skin_fit.as_dict(),
                "nsfwjs_decisions": {"photos": mine, "skin_toned": mine_skin},
            }
            rows.append(
                [
                    variant,
                    name,
                    f"{photo_fit.decision_agreement:.2%} ({photo_fit.disagreements} differ)",
                    f"{wall_fit.decision_agreement:.2%}",
                    f"{skin_fit.decision_agreement:.2%} ({skin_fit.disagreements} differ)",
                    "/".join(str(mine[k]) for k in ("approve", "review", "reject")),
                    "/".join(str(mine_skin[k]) for k in ("approve", "review", "reject")),
                    float(np.corrcoef(*both)[0, 1]),
                ]
            )
    open_decisions = adult_fidelity(open_scores, open_scores).float_decisions
    open_skin_decisions = adult_fidelity(open_skin, open_skin).float_decisions
    agreement_table = table(
        [
            "nsfwjs model",
            "adult score",
            f"decision agreement: {len(images)} photos",
            "wallpapers only",
            f"{len(skin_images)} skin-toned",
            "nsfwjs approve/review/reject: photos",
            "skin-toned",
            "score correlation with Open-NSFW",
        ],
        rows,
    )

    reference = {}
    if args.reference:
        names, pixels = nsfwjs.reference_images()
        fixture = {
            "package": f"nsfwjs@{nsfwjs.VERSION}",
            "images": [
                {"name": n, "pixels_sha256": hashlib.sha256(p.tobytes()).hexdigest()}
                for n, p in zip(names, pixels, strict=True)
            ],
            "variants": {},
        }
        for variant, scorer in scorers.items():
            js = js_reference(tarball, pixels, variant)
            ours = scorer.probabilities(pixels.astype(np.float32) / 255.0)
            diff = float(np.abs(np.asarray(js["probabilities"]) - ours).max())
            reference[variant] = {"images": len(names), "max_abs_diff": diff}
            print(f"{variant} port vs nsfwjs in node (TF.js {js['tfjs']}, {js['backend']}): max abs diff {diff:.2e}")
            fixture["made_by"] = (
                f"python -m bench.adult_models --reference (nsfwjs in node, TF.js {js['tfjs']} {js['backend']} backend)"
            )
            fixture["classes"] = js["classes"]
            fixture["variants"][variant] = [[round(v, 7) for v in row] for row in js["probabilities"]]
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE.write_text(json.dumps(fixture, indent=1) + "\n")

    speed_rows = [
        [
            "Open-NSFW float (ONNX)",
            f"{len(model_bytes()) / 1e6:.1f} MB",
            timings["open_nsfw model"],
            timings["open_nsfw photo"],
            1.0,
            "-",
        ]
    ]
    for variant, artifact in converted.items():
        speed_rows.append(
            [
                f"nsfwjs {variant} (TFLite)",
                f"{len(artifact) / 1e6:.1f} MB",
                timings[f"{variant} model"],
                timings[f"{variant} photo"],
                timings["open_nsfw model"] / timings[f"{variant} model"],
                f"{reference[variant]['max_abs_diff']:.1e}" if variant in reference else "not run",
            ]
        )
    speed_table = table(
        [
            "adult model",
            "size",
            "ms/img, model alone (1 thread)",
            "ms/img, decoded upload → score",
            "speed vs Open-NSFW",
            f"port: max abs diff vs nsfwjs in node ({len(nsfwjs.reference_images()[0])} images)",
        ],
        speed_rows,
    )
    print("\n" + speed_table + "\n\n" + agreement_table, flush=True)

    chosen = " + ".join(nsfwjs.ADULT_CLASSES)
    mapping = next(n for n, w in MAPPINGS.items() if set(w) == set(nsfwjs.ADULT_CLASSES))
    lines, passing = [], []
    for variant in args.variants:
        served = figures[f"{variant}: {mapping}"]
        speed = timings["open_nsfw model"] / timings[f"{variant} model"]
        port = reference.get(variant, {}).get("max_abs_diff")
        passes = (
            min(served[k]["decision_agreement"] for k in ("photos", "skin_toned")) >= BAR_DECISIONS
            and speed >= BAR_SPEED
            and (port is None or port <= BAR_PORT)
        )
        if passes:
            passing.append(variant)
        lines.append(
            f"- nsfwjs {variant}, adult score {chosen}: {served['photos']['decision_agreement']:.2%} on photos, "
            f"{served['skin_toned']['decision_agreement']:.2%} on skin-toned renderings; "
            f"{timings[f'{variant} model']:.1f} ms vs {timings['open_nsfw model']:.1f} ms ({speed:.2f}×); port "
            + (f"within {port:.1e} of nsfwjs's own JavaScript" if port is not None else "not checked (`--reference`)")
            + f": {'passes' if passes else 'fails'}."
        )
    served_passes = nsfwjs.DEFAULT_VARIANT in passing
    verdict = (
        f"Bar for serving nsfwjs by default (INFERENCE_ADULT_MODEL=nsfwjs): adult-decision agreement with Open-NSFW "
        f"≥ {BAR_DECISIONS:.0%} (review 0.4, reject 0.85) on the photos and on the skin-toned renderings (the bar "
        f"the int8 Open-NSFW was held to), at least {BAR_SPEED:.0f}× faster than Open-NSFW, port within "
        f"{BAR_PORT:g} of nsfwjs.\n\n"
        + "\n".join(lines)
        + f"\n- Open-NSFW approves {open_decisions['approve']}, reviews {open_decisions['review']} and rejects "
        f"{open_decisions['reject']} of the {len(images)} photos and {open_skin_decisions['approve']}/"
        f"{open_skin_decisions['review']}/{open_skin_decisions['reject']} of the {len(skin_images)} skin-toned "
        "renderings. None of these images is adult content: agreement here measures whether nsfwjs flags the "
        "same safe photos and skin-toned shapes Open-NSFW does, not whether it catches real adult content as "
        "often (no adult photos were available to measure that).\n\n"
        f"So INFERENCE_ADULT_MODEL's default is `{'nsfwjs' if served_passes else 'open_nsfw'}`; install_models "
        f"registers nsfwjs {nsfwjs.DEFAULT_VARIANT} as its own adult ModelVersion when npm is available, one click "
        "from Open-NSFW in the admin."
    )
    print("\n" + verdict)
    (ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / "bench-adult-models.json").write_text(
        json.dumps({"ms": timings, "mappings": figures, "reference": reference}, indent=1, default=float)
    )
    if not args.no_write:
        body = (
            f"{len(images)} photos: {fidelity.samples} scikit-image sample photos and {fidelity.wallpapers} Debian "
            "wallpapers, then crops (30-100 % of the side), mirror images and rescales (25-100 %) of them (the "
            f"images of bench.quantized), and skin-toned renderings of the first {len(skin_images)} "
            "(`classifier.ml.quantize.skin_toned`). nsfwjs is npm `nsfwjs` "
            f"{nsfwjs.VERSION}'s models (MIT), converted by `classifier.ml.nsfwjs` (install_models converts "
            f"{nsfwjs.DEFAULT_VARIANT}); their input is the whole image resized to 224 px (no crop), as nsfwjs "
            "does. (Its third model, inception_v3 at 299 px, is larger than Open-NSFW and was not measured.) "
            "Milliseconds: one thread, the fastest of 5 turns taken in rotation; a decoded upload is a wallpaper "
            "as a worker decodes its JPEG (reduced-size decoding). Other engineers' work shared the CPU while this "
            f"ran (15-minute load average {os.getloadavg()[2]:.1f} on its {os.cpu_count()} cores at the end), so "
            f"the milliseconds are noisy.\n\n{speed_table}\n\n{agreement_table}\n\n{verdict}"
        )
        write_section(
            "adult_models",
            "A lighter adult model: nsfwjs (MobileNetV2) against Open-NSFW",
            body,
            "python -m bench.adult_models",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
