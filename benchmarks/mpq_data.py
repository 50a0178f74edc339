"""Build the evaluation folders of the ``codec eval mpq`` study from ``../shared``.

- ``people/``: the BSDS500 *validation* images (never used to train this project's
  image codecs) and the Kodak images in which mediapipe's face detector finds at least
  one face on the original (15 images), as links into ``../shared``; the
  face-detection and person-segmentation tasks run on them.
- ``docs/``: 8 document pages rendered by ``codec eval docs`` (text files beside).
- ``speech/``: the 12 held-out ``asr`` clips (links) and ``transcripts.txt``.

    python benchmarks/mpq_data.py --out runs/mpq-data
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def link(src: Path, dst: Path) -> None:
    if not dst.exists():
        os.symlink(src.resolve(), dst)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/mpq-data")
    args = ap.parse_args(argv)
    from lvc.eval.mpq.ocr import render_documents
    from lvc.eval.mpq.vision import FaceDetection

    out = Path(args.out)
    people = out / "people"
    people.mkdir(parents=True, exist_ok=True)
    faces = FaceDetection()
    for folder in (DATA / "bsds500" / "val", DATA / "kodak"):
        for s in faces.load(folder):
            if faces.predict(s.media):
                link(folder / s.name, people / f"{folder.name}-{s.name}")
    render_documents(out / "docs", 8, overwrite=True)
    speech = out / "speech"
    speech.mkdir(exist_ok=True)
    for p in sorted((DATA / "audio" / "speech" / "asr").iterdir()):
        link(p, speech / p.name)
    print(f"{len(list(people.iterdir()))} people images, 8 documents, "
          f"{len(list(speech.glob('*.wav')))} speech clips in {out}")


if __name__ == "__main__":
    main()
