"""Side-by-side speed and memory comparisons; each module prints JSON and can write it with --out."""
