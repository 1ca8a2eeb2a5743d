"""A handful of short dated articles added to the seeds for the search-feature tests: one story (the
opening of Lyon's metro line E) told by three outlets in two languages on known dates, plus one
undated article on it and one article on another story. Ids contain `/`, as paths do."""

from __future__ import annotations

INAUGURATION = "lyon/2024/inauguration.txt"  # 2024-05-10, Le Progrès, fr
OPENING_EN = "lyon/2024/opening-en.txt"  # 2024-05-11, Reuters, en
CHANTIER = "lyon/2024/chantier.txt"  # 2024-02-15, AFP, fr
ARCHIVE = "lyon/archive.txt"  # undated, AFP, fr
JAZZ = "vienne/jazz.txt"  # 2024-05-12 (the newest date of the index), AFP, fr: another story
LYON = (INAUGURATION, OPENING_EN, CHANTIER, ARCHIVE)
NEWEST_FIRST = (OPENING_EN, INAUGURATION, CHANTIER, ARCHIVE)  # by date, the undated one last
LYON_QUESTION = "Quand la ligne E du métro de Lyon a-t-elle ouvert ?"

DATED = [
    {
        "id": INAUGURATION,
        "title": "La ligne E du métro de Lyon inaugurée",
        "date": "2024-05-10",
        "source": "Le Progrès",
        "lang": "fr",
        "url": "https://example.org/progres/ligne-e",
        "text": "La ligne E du métro de Lyon a été inaugurée samedi en présence du maire. Les premières rames ont "
        "transporté 40 000 voyageurs dès le premier jour entre Bellecour et Alaï.",
    },
    {
        "id": OPENING_EN,
        "title": "Lyon opens metro line E",
        "date": "2024-05-11",
        "source": "Reuters",
        "lang": "en",
        "text": "Lyon opened its new metro line E on Saturday, with the mayor on board the first train. About 40,000 "
        "passengers rode the line between Bellecour and Alai on its first day.",
    },
    {
        "id": CHANTIER,
        "title": "Métro de Lyon : la ligne E ouvrira en mai",
        "date": "2024-02-15",
        "source": "AFP",
        "lang": "fr",
        "text": "Le chantier de la ligne E du métro de Lyon touche à sa fin : l'ouverture aux voyageurs est prévue en "
        "mai, entre Bellecour et Alaï, après quatre ans de travaux.",
    },
    {
        "id": ARCHIVE,
        "title": "Le métro lyonnais s'agrandit",
        "source": "AFP",
        "lang": "fr",
        "text": "Une nouvelle ligne de métro, la ligne E, doit relier Bellecour à Alaï dans l'ouest lyonnais et "
        "accueillir 40 000 voyageurs par jour à son ouverture.",
    },
    {
        "id": JAZZ,
        "title": "Jazz à Vienne affiche complet",
        "date": "2024-05-12",
        "source": "AFP",
        "lang": "fr",
        "text": "Le festival Jazz à Vienne affiche complet pour sa soirée d'ouverture au théâtre antique, avec un "
        "concert de la chanteuse Norah Jones devant 7 000 spectateurs.",
    },
]
