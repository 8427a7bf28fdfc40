#!/usr/bin/env python3
"""Writes a table as users have them: text columns, numbers, missing cells spelled every way
gpumlp knows (empty, NA, N/A, NaN, null, None, ?) in mixed case, cells padded with spaces, tabs,
line breaks and other Unicode white space, categories with commas and regex metacharacters,
near misses that are not the same category (another case, a zero-width space), three text
classes, a yes/no column and a numeric target. `messy_csv.py OUT.csv ROWS SEED`."""
import csv
import random
import sys

out, rows, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
colours = ["red", "green", "blue, dark", "yellow", "grey/blue (x.y+)"]
shapes = ["round", "square", "long", "[star]*"]
# Every spelling of a missing cell, in several cases; cycled so each one occurs.
missing = ["", "NA", "na", "nA", "N/A", "n/a", "N/a", "NaN", "nan", "NAN", "nAn", "null",
           "NULL", "Null", "nUlL", "None", "NONE", "none", "nOnE", "?"]
# White space that str::trim removes (Unicode White_Space), cells padded with it on either side.
pads = ["", "", " ", "  ", "\t", " \t ", "\u00a0", " \u00a0", "\u3000", "\u2003", "\u2009",
        "\u202f", "\u205f", "\u1680", "\u0085", "\u2028", "\x0b", "\x0c", "\n", "\r\n "]
# Near misses: not white space for str::trim, so not the same category (and not missing).
odd = ["\u200b", "\x1c", "\ufeff"]
# Variants a case-sensitive match keeps apart from the category.
variants = {"red": ["Red", "RED"], "round": ["Round"], "blue, dark": ["Blue, Dark"]}


def pad(cell):
    if rng.random() < 0.4:
        return cell
    return rng.choice(pads) + cell + rng.choice(pads)


count = 0


def next_missing():
    global count
    count += 1
    return missing[count % len(missing)]


with open(out, "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["id", "colour", "size", "weight", "shape", "animal", "price", "sale"])
    for i in range(rows):
        colour = rng.choice(colours)
        shape = rng.choice(shapes)
        size = rng.gauss(10, 3)
        weight = size * 1.5 + rng.gauss(0, 1)
        animal = ["cat", "dog", "bird"][(colours.index(colour) + shapes.index(shape)) % 3]
        price = 20 + 3 * size + (5 if colour == "red" else 0) + rng.gauss(0, 0.5)
        sale = "yes" if (size + rng.gauss(0, 1) > 10) != (colour == "red") else "no"
        cells = [str(i), colour, f"{size:.3f}", f"{weight:.3f}", shape, animal, f"{price:.2f}",
                 sale]
        for c in (1, 4):
            if rng.random() < 0.03 and cells[c] in variants:
                cells[c] = rng.choice(variants[cells[c]])
            elif rng.random() < 0.02:
                cells[c] = rng.choice([rng.choice(odd) + cells[c], cells[c] + rng.choice(odd)])
        if rng.random() < 0.02:
            cells[1] = "purple"  # a category that may be rare or never seen in training
        for c in (1, 2, 3, 4):
            if rng.random() < 0.1:
                cells[c] = next_missing()
        # Text cells padded with any white space; numbers with spaces and tabs.
        for c in (1, 4, 5, 7):
            cells[c] = pad(cells[c])
        for c in (2, 3):
            if rng.random() < 0.3:
                cells[c] = rng.choice(["", " ", "\t"]) + cells[c] + rng.choice(["", "  ", "\t"])
        w.writerow(cells)
