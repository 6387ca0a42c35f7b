#!/usr/bin/env python3
"""zxing-cpp on a corpus in the scan_corpus layout: each picture `N.png`
or `N.jpg` (in the folder given or its subfolders) with `N.txt` or `N.bin`,
the exact content bytes. Reads upright and over the four 90° rotations,
counting wrong reads (a code read whose bytes are not the expected ones).

    python3 tools/zxing_corpus.py fixtures/photos [--record FILE]

--record writes one line per picture: `NAME reads wrong` (reads out of the
four rotations), the figures tests/photos.rs holds qrpair to.
"""
import sys
from pathlib import Path

import zxingcpp
from PIL import Image


def pairs(folder):
    for image in sorted(Path(folder).rglob("*")):
        if image.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            continue
        for ext in (".txt", ".bin"):
            expected = image.with_suffix(ext)
            if expected.exists():
                yield image, expected.read_bytes()
                break


ROTATIONS = [None, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270]


def main():
    args = sys.argv[1:]
    record = None
    if "--record" in args:
        i = args.index("--record")
        record = args[i + 1]
        del args[i : i + 2]
    folder = Path(args[0])
    upright = total = wrong = n = 0
    lines = []
    for image, expected in pairs(folder):
        n += 1
        picture = Image.open(image)
        picture.load()
        reads = bad = 0
        for turn, rotation in enumerate(ROTATIONS):
            rotated = picture if rotation is None else picture.transpose(rotation)
            found = zxingcpp.read_barcodes(rotated, formats=zxingcpp.BarcodeFormat.QRCode)
            # The content bytes, or for codes in another encoding (Shift
            # JIS, GB2312) the text as UTF-8, which is what the .txt holds.
            if any(expected in (bytes(b.bytes), b.text.encode()) for b in found):
                reads += 1
                upright += turn == 0
            elif found:
                bad += 1
                print(f"wrong: {image} rotated {turn * 90}°: {bytes(found[0].bytes)[:40]!r}")
            elif "-v" in args:
                print(f"miss: {image} rotated {turn * 90}°")
        total += reads
        wrong += bad
        lines.append(f"{image.relative_to(folder)} {reads} {bad}")
    try:
        from importlib.metadata import version

        release = version("zxing-cpp")
    except Exception:
        release = "?"
    print(f"corpus: {folder} ({n} images), zxing-cpp {release}")
    print(f"reads upright {upright}/{n}, 4 rotations {total}/{4 * n}, wrong reads {wrong}")
    if record:
        with open(record, "w") as f:
            f.write("# zxing-cpp reads per picture over four rotations: name reads wrong (tools/zxing_corpus.py --record)\n")
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
