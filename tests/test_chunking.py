from semsearch.documents import Document
from semsearch.index.chunking import ChunkingConfig, split_passages


def words(text: str) -> int:
    return len(text.split())


def test_each_paragraph_is_one_passage_with_exact_offsets():
    text = "Premier paragraphe avec assez de mots pour compter vraiment ici.\n\nSecond paragraphe lui aussi assez long pour rester seul."
    doc = Document("d", text, lang="fr")
    passages = split_passages(doc, words, ChunkingConfig(max_tokens=50, min_chars=20))
    assert [p.text for p in passages] == text.split("\n\n")
    assert all(text[p.start:p.end] == p.text for p in passages)


def test_long_paragraph_is_split_on_sentences_with_overlap():
    sentences = [f"Phrase numéro {i} raconte un fait précis sur la coalition." for i in range(12)]
    doc = Document("d", " ".join(sentences), lang="fr")
    passages = split_passages(doc, words, ChunkingConfig(max_tokens=30, min_chars=20, overlap_sentences=1))
    assert len(passages) > 1
    assert all(words(p.text) <= 30 for p in passages)
    for a, b in zip(passages, passages[1:]):
        assert b.start < a.end  # one sentence shared
        assert a.text.split(". ")[-1].rstrip(".") in b.text
    assert passages[0].text.startswith("Phrase numéro 0") and passages[-1].text.endswith("coalition.")


def test_short_fragments_are_merged_not_indexed_alone():
    text = "AFP.\n\nLe premier ministre a annoncé la fin de la mission de la coalition.\n\nFin."
    passages = split_passages(Document("d", text, lang="fr"), words, ChunkingConfig(max_tokens=100, min_chars=20))
    assert len(passages) == 1
    assert passages[0].text == text


def test_a_document_of_one_short_sentence_is_still_indexed():
    passages = split_passages(Document("d", "Bagdad.", lang="fr"), words, ChunkingConfig(min_chars=60))
    assert [p.text for p in passages] == ["Bagdad."]


def test_a_huge_paragraph_without_punctuation_is_cut_into_bounded_passages():
    text = " ".join(["mot"] * 5000)
    passages = split_passages(Document("d", text, lang="fr"), words, ChunkingConfig(max_tokens=100, min_chars=20))
    assert len(passages) >= 50
    assert all(words(p.text) <= 100 for p in passages)
