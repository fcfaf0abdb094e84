"""Query, documents and pairs the cross-encoder parity tests score (awkward on purpose)."""

QUERY = "What is the capital of France?"
DOCS = [
    "Paris is the capital and largest city of France.",
    "Berlin had a population of 3,520,031 in 2019. " * 30,  # truncated (longest_first)
    "  leading and trailing spaces are kept  ",
    "Zürich, São Paulo and Kraków — naïve café façades.",
    "",
    "The quick brown fox jumps over the lazy dog.",
]
PAIRS = [(QUERY, d) for d in DOCS] + [("", "empty first text"), (DOCS[1], DOCS[1])]
