#!/usr/bin/env python3
"""Writes a table as users have them: text columns, numbers, missing cells spelled several
ways, three text classes and a numeric target. `messy_csv.py OUT.csv ROWS SEED`."""
import random
import sys

out, rows, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
colours = ["red", "green", "blue", "yellow"]
shapes = ["round", "square", "long"]
missing = ["", "NA", "?", "null", "NaN"]
with open(out, "w") as f:
    f.write("id,colour,size,weight,shape,animal,price\n")
    for i in range(rows):
        colour = rng.choice(colours)
        shape = rng.choice(shapes)
        size = rng.gauss(10, 3)
        weight = size * 1.5 + rng.gauss(0, 1)
        animal = ["cat", "dog", "bird"][(colours.index(colour) + shapes.index(shape)) % 3]
        price = 20 + 3 * size + (5 if colour == "red" else 0) + rng.gauss(0, 0.5)
        cells = [str(i), colour, f"{size:.3f}", f"{weight:.3f}", shape, animal, f"{price:.2f}"]
        for c in (1, 2, 3, 4):
            if rng.random() < 0.07:
                cells[c] = rng.choice(missing)
        if rng.random() < 0.02:
            cells[1] = "purple"  # a category that may be rare or never seen in training
        f.write(",".join(cells) + "\n")
