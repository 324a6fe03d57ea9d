#!/usr/bin/env python3
"""Diagnosis of the sparse recipe's label-free budget (docs/SPARSE.md, "Would labelled calibration
images fix it?"): given the float and the compressed model's scores on a labelled folder (both from
`mcompress eval --save-scores`, same images and order), prints the real top-1 drop, the label-free
expected drop at temperature 1 and at the temperature that best fits the labels (likelihood, grid
0.50..1.68), and the conservative drop (no credit for the new class). Labels are used only here.

Usage: scripts/confidence_check.py FLOAT.npy COMPRESSED.npy LABELS.tsv
Needs python3 only (reads float32 .npy [N, classes] itself)."""
import ast
import math
import struct
import sys


def load(path):
    b = open(path, 'rb').read()
    header_len = struct.unpack('<H', b[8:10])[0]
    header = ast.literal_eval(b[10:10 + header_len].decode())
    n, c = header['shape']
    values = struct.unpack('<%df' % (n * c), b[10 + header_len:10 + header_len + 4 * n * c])
    return [values[i * c:(i + 1) * c] for i in range(n)]


def softmax(z, t):
    m = max(z)
    e = [math.exp((v - m) / t) for v in z]
    s = sum(e)
    return [v / s for v in e]


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    f, q = load(sys.argv[1]), load(sys.argv[2])
    labels = [int(line.split('\t')[1]) for line in open(sys.argv[3]) if line.strip()][:len(f)]
    n = len(f)
    argmax = lambda z: max(range(len(z)), key=z.__getitem__)
    fa, qa = [argmax(z) for z in f], [argmax(z) for z in q]
    right_f = sum(a == l for a, l in zip(fa, labels))
    right_q = sum(a == l for a, l in zip(qa, labels))
    print('images %d, top-1 float %.1f, compressed %.1f, changed predictions %d, real drop %.2f points'
          % (n, 100 * right_f / n, 100 * right_q / n, sum(a != b for a, b in zip(fa, qa)), 100 * (right_f - right_q) / n))
    nll = lambda t: -sum(math.log(max(1e-30, softmax(z, t)[l])) for z, l in zip(f, labels)) / n
    best = min([0.5 + 0.02 * i for i in range(60)], key=nll)
    for t in (1.0, best):
        p = [softmax(z, t) for z in f]
        expected = sum(pi[a] - pi[b] for pi, a, b in zip(p, fa, qa)) / n * 100
        conservative = sum(pi[a] for pi, a, b in zip(p, fa, qa) if a != b) / n * 100
        confidence = sum(max(pi) for pi in p) / n * 100
        print('T=%.2f: mean top-1 probability %.1f, expected drop %.2f, conservative %.2f'
              % (t, confidence, expected, conservative))


if __name__ == '__main__':
    main()
