#!/bin/sh
# The small CPU budget behind the shipped mlicv2-tiny and hyperprior weights (issue 6).
# Same schedule for every model: S1 steps at the middle lambda from scratch (lr 3e-4),
# then S2 steps from that checkpoint at each of the three lambdas (lr 1e-4), so every
# shipped quality has S1 + S2 steps; BSDS500 crops of 128, batch 8, one thread per
# lane. Each command resumes its run folder, so rerunning this script continues an
# interrupted schedule. Ship with --export (see lvc/codecs/mlicv2/train.py).
#   sh benchmarks/train_mlicv2_cpu.sh tiny   # lane 1: mlicv2-tiny (~120 min here)
#   sh benchmarks/train_mlicv2_cpu.sh base   # lane 2: hyperprior, then the MLIC++-tiny ablation
set -e
S1=${S1:-1200}
S2=${S2:-250}
COMMON="--crop 128 --batch 8 --threads 1 --checkpoint-every 50"
schedule() {  # model, then whether to fine-tune the other two lambdas
    python -m lvc.train mlicv2 --model "$1" --lmbda 0.0067 --steps "$S1" --lr 3e-4 $COMMON
    if [ "$2" = yes ]; then
        for l in 0.0035 0.0067 0.013; do
            python -m lvc.train mlicv2 --model "$1" --lmbda $l --steps "$S2" --lr 1e-4 \
                --init "runs/$1-0.0067/checkpoint.safetensors" --seed 1 \
                --out "runs/$1-$l-ft" $COMMON
        done
    fi
}
case "$1" in
    tiny) schedule mlicv2-tiny yes ;;
    base) schedule hyperprior yes; schedule mlicv2-tiny-base no ;;
    hyperprior) schedule hyperprior yes ;;
    *) echo "usage: $0 tiny|base|hyperprior" >&2; exit 2 ;;
esac
