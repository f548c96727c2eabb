// NSFWJS's own output on given pixels: the reference a port is checked against.
//
//   node bench/nsfwjs_reference.js <node_modules folder> <pixels.json> [variant]
//
// <node_modules folder> holds nsfwjs and @tensorflow/tfjs (pure-JS CPU
// backend); pixels.json is {"shape": [n, h, w, 3], "data": base64 of uint8 RGB}
// (classifier.ml.nsfwjs.pixels_json). Prints {"classes": [...],
// "probabilities": [[5 floats] per image]}, each image through nsfwjs's own
// infer() (pixels / 255, resized to the model's side if they are not already).
const path = require("path");
const fs = require("fs");

const modules = path.resolve(process.argv[2]);
const tf = require(path.join(modules, "@tensorflow/tfjs"));
const nsfwjs = require(path.join(modules, "nsfwjs"));
const { NSFW_CLASSES } = require(path.join(modules, "nsfwjs/dist/cjs/nsfw_classes.js"));
const { MobileNetV2Model } = require(path.join(modules, "nsfwjs/dist/cjs/models/mobilenet_v2.js"));
const { MobileNetV2MidModel } = require(path.join(modules, "nsfwjs/dist/cjs/models/mobilenet_v2_mid.js"));
const { InceptionV3Model } = require(path.join(modules, "nsfwjs/dist/cjs/models/inception_v3.js"));

const definitions = {
  mobilenet_v2: MobileNetV2Model,
  mobilenet_v2_mid: MobileNetV2MidModel,
  inception_v3: InceptionV3Model,
};

async function main() {
  const input = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
  const definition = definitions[process.argv[4] || "mobilenet_v2"];
  console.info = () => {};
  await tf.setBackend("cpu");
  const model = await nsfwjs.load(definition.name, { modelDefinitions: [definition] });
  const [n, h, w, c] = input.shape;
  const bytes = Buffer.from(input.data, "base64");
  const probabilities = [];
  for (let i = 0; i < n; i++) {
    const pixels = new Int32Array(bytes.subarray(i * h * w * c, (i + 1) * h * w * c));
    const image = tf.tensor3d(pixels, [h, w, c], "int32");
    const out = model.infer(image);
    probabilities.push(Array.from(await out.data()));
    out.dispose();
    image.dispose();
  }
  const classes = Object.keys(NSFW_CLASSES).sort((a, b) => a - b).map((k) => NSFW_CLASSES[k]);
  process.stdout.write(JSON.stringify({ classes, probabilities, backend: tf.getBackend(), tfjs: tf.version.tfjs }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
