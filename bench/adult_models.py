"""Open-NSFW against nsfwjs's MobileNetV2 (npm, converted to TFLite): speed,
agreement of the adult decision, and the port's faithfulness to nsfwjs.

    python -m bench.adult_models [--no-write] [--images 1000] [--reference]

- Milliseconds per image on one thread: the model alone on a prepared image,
  and preparation + model from a decoded photo, timed in turns.
- Agreement of the adult decision (approve / review / reject at the thresholds
  in use) with Open-NSFW float, for each way of turning nsfwjs's five classes
  into one adult probability, on the photos bench.quantized uses (scikit-image
  samples, Debian wallpapers, crops, flips, rescales) and on skin-toned
  renderings of them.
- With --reference (needs node and npm; installs nsfwjs and @tensorflow/tfjs
  into var/npm/jsref once): nsfwjs's own JavaScript output on a few photos
  against the converted model's on the same pixels (max abs difference), and
  rewrites the test fixture tests/classifier/data/nsfwjs_reference.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

import numpy as np

from bench.common import ROOT, table, write_section
from bench.quantized import WALLPAPERS, interleaved_ms

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


def js_reference(tarball, pixels: np.ndarray) -> dict:
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
            ["node", str(ROOT / "bench" / "nsfwjs_reference.js"), str(JS_MODULES / "node_modules"), fh.name],
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
    parser.add_argument("--reference", action="store_true", help="check the port against nsfwjs in node")
    args = parser.parse_args(argv)

    from classifier.ml import nsfwjs
    from classifier.ml.nsfw import AdultScorer, model_bytes, prepare
    from classifier.ml.quantize import adult_fidelity, folder_photos, photo_variants, sample_photos, skin_toned

    samples = sample_photos()
    wallpapers = folder_photos(WALLPAPERS)
    photos = [image for _, image in samples + wallpapers]
    images = photo_variants(photos, args.images, seed=2)
    from_wallpaper = np.array([(i if i < len(photos) else i % len(photos)) >= len(samples) for i in range(len(images))])
    skin_images = skin_toned(images[: args.skin_toned])
    print(f"{len(samples)} sample photos, {len(wallpapers)} wallpapers -> {len(images)} images", flush=True)

    started = time.perf_counter()
    tarball = nsfwjs.fetch_package(NPM_FOLDER)
    converted = nsfwjs.convert(tarball)
    print(f"nsfwjs {nsfwjs.VERSION} {nsfwjs.DEFAULT_VARIANT} converted in {time.perf_counter() - started:.0f} s")

    open_nsfw, light = AdultScorer(model_bytes()), nsfwjs.NsfwjsScorer(converted)
    one_photo = images[len(samples)] if len(images) > len(samples) else images[0]
    one_open, one_light = prepare([one_photo]), light.prepare([one_photo])
    timings = interleaved_ms(
        {
            "open-nsfw model": lambda: open_nsfw.score_prepared(one_open),
            "nsfwjs model": lambda: light.score_prepared(one_light),
            "open-nsfw photo": lambda: open_nsfw.score_images([one_photo]),
            "nsfwjs photo": lambda: light.score_images([one_photo]),
        },
        args.seconds,
    )
    print(f"timed: {timings}", flush=True)

    def batched(call, items):
        return np.concatenate([call(items[i : i + 16]) for i in range(0, len(items), 16)])

    open_scores = batched(open_nsfw.score_images, images)
    open_skin = batched(open_nsfw.score_images, skin_images)
    probs = batched(lambda b: light.probabilities(light.prepare(b)), images)
    probs_skin = batched(lambda b: light.probabilities(light.prepare(b)), skin_images)
    print("scored", flush=True)

    rows, figures = [], {}
    for name, weights in MAPPINGS.items():
        scores, skin_scores = weighted_score(probs, weights), weighted_score(probs_skin, weights)
        photo_fit = adult_fidelity(open_scores, scores)
        wall_fit = adult_fidelity(open_scores[from_wallpaper], scores[from_wallpaper])
        skin_fit = adult_fidelity(open_skin, skin_scores)
        mine = adult_fidelity(scores, scores).float_decisions
        mine_skin = adult_fidelity(skin_scores, skin_scores).float_decisions
        figures[name] = {
            "photos": photo_fit.as_dict(),
            "wallpapers_only": wall_fit.as_dict(),
            "skin_toned": skin_fit.as_dict(),
            "nsfwjs_decisions": {"photos": mine, "skin_toned": mine_skin},
        }
        rows.append(
            [
                name,
                f"{photo_fit.decision_agreement:.2%} ({photo_fit.disagreements} differ)",
                f"{wall_fit.decision_agreement:.2%}",
                f"{skin_fit.decision_agreement:.2%} ({skin_fit.disagreements} differ)",
                "/".join(str(mine[k]) for k in ("approve", "review", "reject")),
                "/".join(str(mine_skin[k]) for k in ("approve", "review", "reject")),
                float(
                    np.corrcoef(np.concatenate([open_scores, open_skin]), np.concatenate([scores, skin_scores]))[0, 1]
                ),
            ]
        )
    open_decisions = adult_fidelity(open_scores, open_scores).float_decisions
    open_skin_decisions = adult_fidelity(open_skin, open_skin).float_decisions
    agreement_table = table(
        [
            "nsfwjs adult score",
            f"decision agreement: {len(images)} photos",
            "wallpapers only",
            f"{len(skin_images)} skin-toned",
            "nsfwjs approve/review/reject: photos",
            "skin-toned",
            "score correlation with Open-NSFW",
        ],
        rows,
    )
    speed_table = table(
        ["adult model", "size", "ms/img, model alone (1 thread)", "ms/img, photo → score", "speed vs Open-NSFW"],
        [
            [
                "Open-NSFW float (ONNX)",
                f"{len(model_bytes()) / 1e6:.1f} MB",
                timings["open-nsfw model"],
                timings["open-nsfw photo"],
                1.0,
            ],
            [
                f"nsfwjs {nsfwjs.DEFAULT_VARIANT} (TFLite)",
                f"{len(converted) / 1e6:.1f} MB",
                timings["nsfwjs model"],
                timings["nsfwjs photo"],
                timings["open-nsfw model"] / timings["nsfwjs model"],
            ],
        ],
    )
    print("\n" + speed_table + "\n\n" + agreement_table, flush=True)

    reference = {}
    if args.reference:
        names, pixels = nsfwjs.reference_images()
        js = js_reference(tarball, pixels)
        ours = light.probabilities(pixels.astype(np.float32) / 255.0)
        diff = float(np.abs(np.asarray(js["probabilities"]) - ours).max())
        reference = {"images": len(names), "max_abs_diff": diff, "tfjs": js["tfjs"], "backend": js["backend"]}
        print(f"port vs nsfwjs in node (TF.js {js['tfjs']}, {js['backend']}): max abs diff {diff:.2e}", flush=True)
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE.write_text(
            json.dumps(
                {
                    "package": f"nsfwjs@{nsfwjs.VERSION}",
                    "variant": nsfwjs.DEFAULT_VARIANT,
                    "made_by": f"python -m bench.adult_models --reference (nsfwjs in node, TF.js {js['tfjs']} "
                    f"{js['backend']} backend)",
                    "classes": js["classes"],
                    "images": [
                        {
                            "name": name,
                            "pixels_sha256": hashlib.sha256(p.tobytes()).hexdigest(),
                            "probabilities": [round(v, 7) for v in row],
                        }
                        for name, p, row in zip(names, pixels, js["probabilities"], strict=True)
                    ],
                },
                indent=1,
            )
            + "\n"
        )

    chosen = " + ".join(nsfwjs.ADULT_CLASSES)
    served = figures[next(n for n, w in MAPPINGS.items() if set(w) == set(nsfwjs.ADULT_CLASSES))]
    speed = timings["open-nsfw model"] / timings["nsfwjs model"]
    passes = (
        min(served[k]["decision_agreement"] for k in ("photos", "skin_toned")) >= BAR_DECISIONS
        and speed >= BAR_SPEED
        and (not reference or reference["max_abs_diff"] <= BAR_PORT)
    )
    port = (
        f"port vs nsfwjs's own JavaScript on {reference['images']} photos: max abs probability difference "
        f"{reference['max_abs_diff']:.1e}"
        if reference
        else "port vs nsfwjs's JavaScript: not run (`--reference`)"
    )
    verdict = (
        f"Bar for serving nsfwjs by default (INFERENCE_ADULT_MODEL=nsfwjs): adult-decision agreement with Open-NSFW "
        f"≥ {BAR_DECISIONS:.0%} (review 0.4, reject 0.85) on the photos and on the skin-toned renderings (the bar "
        f"the int8 Open-NSFW was held to), at least {BAR_SPEED:.0f}× faster, port within {BAR_PORT:g} of nsfwjs.\n\n"
        f"- Served adult score: {chosen}: {served['photos']['decision_agreement']:.2%} on photos, "
        f"{served['skin_toned']['decision_agreement']:.2%} on skin-toned renderings; "
        f"{timings['nsfwjs model']:.1f} ms vs {timings['open-nsfw model']:.1f} ms ({speed:.2f}×); {port}: "
        f"{'passes' if passes else 'fails'}.\n"
        f"- Open-NSFW approves {open_decisions['approve']}, reviews {open_decisions['review']} and rejects "
        f"{open_decisions['reject']} of the {len(images)} photos and {open_skin_decisions['approve']}/"
        f"{open_skin_decisions['review']}/{open_skin_decisions['reject']} of the {len(skin_images)} skin-toned "
        "renderings. None of these images is adult content: agreement here measures whether nsfwjs flags the "
        "same safe photos and skin-toned shapes Open-NSFW does, not whether it catches real adult content as "
        "often (no adult photos were available to measure that).\n\n"
        f"So INFERENCE_ADULT_MODEL's default is `{'nsfwjs' if passes else 'open_nsfw'}`; install_models registers "
        "nsfwjs as its own adult ModelVersion when npm is available, one click from Open-NSFW in the admin."
    )
    print("\n" + verdict)
    (ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / "bench-adult-models.json").write_text(
        json.dumps({"ms": timings, "mappings": figures, "reference": reference}, indent=1, default=float)
    )
    if not args.no_write:
        body = (
            f"{len(images)} photos: {len(samples)} scikit-image sample photos and {len(wallpapers)} Debian "
            "wallpapers, then crops (30-100 % of the side), mirror images and rescales (25-100 %) of them (the "
            f"images of bench.quantized), and skin-toned renderings of the first {len(skin_images)} "
            "(`classifier.ml.quantize.skin_toned`). nsfwjs is npm `nsfwjs` "
            f"{nsfwjs.VERSION}'s {nsfwjs.DEFAULT_VARIANT} (MIT), converted at install by `classifier.ml.nsfwjs`; "
            "its input is the whole image resized to 224 px (no crop), as nsfwjs does. Milliseconds: one "
            "thread, the fastest of 5 turns taken in rotation. Other engineers' work shared the CPU while this "
            f"ran (15-minute load average {os.getloadavg()[2]:.1f} on its {os.cpu_count()} cores at the end), so "
            f"the milliseconds are noisy.\n\n{speed_table}\n\n{agreement_table}\n\n{verdict}"
        )
        write_section(
            "adult_models",
            "A lighter adult model: nsfwjs (MobileNetV2) against Open-NSFW",
            body,
            "python -m bench.adult_models --reference",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
