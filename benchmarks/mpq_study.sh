#!/bin/sh
# The codec eval mpq study of the README and the issue notes: one command per task.
# Results go to results/mpq-*/ (resumable: a re-run only measures what is missing).
set -e
export OMP_NUM_THREADS=1
python benchmarks/mpq_data.py --out runs/mpq-data
[ -d runs/mpq-data/mnist ] || python -m lvc.eval.mpq.mnist digits runs/mpq-data/mnist --count 100
C="-c jpeg:5,10,20,40 -c webp:0,10,30,60 -c avif:5,15,30,50 -c jpegxl:5,15,30,50 -c liveaction-rgb:1,2,4,6 -c mbt2018-mean-tiny:1,2,3 -c mbt2018-mean-tiny-iscs:1,2,3 -c mbt2018-mean-tiny-slices:1,2,3 -c mlicv2-tiny:1,2,3 -c dualdiff:1,3,5"
codec eval mpq --task face-detection --dataset runs/mpq-data/people $C --out results/mpq-face
codec eval mpq --task person-segmentation --dataset runs/mpq-data/people $C --out results/mpq-seg
codec eval mpq --task ocr --dataset runs/mpq-data/docs $C --out results/mpq-ocr
codec eval mpq --task asr --dataset runs/mpq-data/speech -c opus:0,1,2,3 -c mp3:0,2,4,8 \
    -c vorbis:0,2,4,8 -c liveaction-audio:1,2,3,4,5,6 --out results/mpq-asr
codec eval mpq --task examples/mnist_task.py:MnistClassification --dataset runs/mpq-data/mnist \
    -c jpeg:5,20,50 -c webp:0,20,50 -c avif:5,20,50 -c liveaction-rgb:1,3,5 -c mbt2018-mean-tiny:1,2,3 \
    -c mbt2018-mean-tiny-iscs:1,2,3 -c mbt2018-mean-tiny-slices:1,2,3 -c mlicv2-tiny:1,2,3 \
    --out results/mpq-mnist
