"""1,000 distinct English questions about the seed articles, for load tests.

Made from 25 openings x 40 subjects, so every request of a run is a different model call (the
server's query cache sees no repeat) while each question stays on the seeds' topic.
"""

from __future__ import annotations

import random

_OPENINGS = (
    "What did the Iraqi government say about", "When did the talks begin on", "Why do Iraqi militias oppose",
    "What is the future of", "Who decided on", "How many people were affected by", "What was announced about",
    "When will Baghdad end", "What role does Washington play in", "How did Iran react to", "What is known about",
    "Who negotiated", "Why was there anger over", "What happened after", "How long will it take to settle",
    "Which officials spoke about", "What does the prime minister want for", "How did the United States justify",
    "What are the risks of", "Who criticised", "What was the timetable for", "Where were the meetings about",
    "What did Reuters report on", "How do the elections affect", "What is the Iraqi position on",
)
_SUBJECTS = (
    "the US-led coalition", "American troops in Iraq", "the withdrawal of foreign forces", "the drone strike in Baghdad",
    "the militia commander killed in January", "the bilateral committee", "the fight against the Islamic State",
    "the end of the combat mission", "the soldiers stationed in Syria", "the attacks on American bases",
    "the rocket attacks since October", "the coalition formed in 2014", "the national security adviser",
    "the vote of the Iraqi parliament", "the first round of dialogue", "the pro-Iranian groups", "Mohammed Shia al-Sudani",
    "Qassem al-Araji", "the gradual reduction of troops", "the presence of the coalition", "the American presidential election",
    "the military advisers", "the security of Iraq", "the invasion of 2003", "the killing of Qassem Soleimani",
    "the international coalition's mission", "the negotiations with Washington", "the Kataib Hezbollah militia",
    "the Islamic Resistance in Iraq", "the war in Gaza", "the training of Iraqi forces", "the air strikes in Syria",
    "the sovereignty of Iraq", "the Pentagon's statement", "the Iraqi armed forces", "the departure of foreign soldiers",
    "the agreement between Baghdad and Washington", "the timetable of the withdrawal", "the regional tensions",
    "the jihadist threat",
)


def english_questions(n: int = 1000, seed: int = 7) -> list[str]:
    """`n` distinct questions (at most 1,000) in a shuffled, repeatable order."""
    questions = [f"{opening} {subject}?" for opening in _OPENINGS for subject in _SUBJECTS]
    random.Random(seed).shuffle(questions)
    return questions[:n]
