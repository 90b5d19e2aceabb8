"""The ISA archive converter's judgement calls: decisions no rule captures, and text it adds.

Each entry was reviewed by eye against the seed; with them, ``convert_seed.py``
regenerates exactly the committed issues.
"""

from __future__ import annotations

import datetime as dt

# Hyphens before a lowercase letter that are real, not line-break artefacts.
REAL_HYPHEN_LEFT = {"deutsch", "chinesisch", "sino", "win", "high"}
# Explicit decisions for hyphens no rule settles, reviewed by eye: True keeps the hyphen.
HYPHEN_TABLE = {
    "know-how": True,  # from "know- how"
    "Start-ups": True,  # Duden spelling; the July 2021 issue writes "Startups"
    "weiter-wachsen": False,  # "wird das Gebiet weiterwachsen"
    "englisch-sprachigen": False,  # "englischsprachigen Zeitung"
    "Fachkräfte-einwanderungsgesetz": False,  # the law's name; both hyphens sit at old line ends
    "Pandemie-krise": False,  # lowercase after a line-break hyphen; line 877 has "Pandemie-Krise"
}
# A real hyphen followed by a stray space ("know- how"); "Corona- Pandemie" is caught by rule.
SPACE_TABLE = {
    "know- how": "know-how",
    "Internet Plus“- Messe": "Internet Plus“-Messe",
}

NOTE = "Transkribiert aus dem PDF-Archiv; Link-Ziele sind nicht erhalten."
REGISTRATION_MAIL = {"label": "Anmeldung per E-Mail", "url": "mailto:isa@pks-gmbh.net"}

# Announcements of the ISA's own dated events, which readers are invited to attend.
# Keyed by (month, title); the values add what the running text states.
_KLIMA = "Einladung zur Veranstaltung „Klimaschutz als Chance für deutsche Unternehmen in China“"
EVENTS = {
    ("2021-05", _KLIMA): {
        "date": dt.date(2021, 6, 29),
        "start": "09:00",
        "end": "11:00",
        "place": "Online (Zoom)",
        "registration": REGISTRATION_MAIL,
    },
    ("2021-02", "2. ISA-Videokonferenz der Wirtschaftsförderungen und Beiräte am 24. März"): {
        "date": dt.date(2021, 3, 24),
        "place": "Online (Zoom)",  # the editorial of the issue: "per Zoom-Sitzung"
    },
    ("2020-09", "9. Plenarversammlung der ISA am 16. Oktober 2020 in Hannover"): {
        "date": dt.date(2020, 10, 16),
        "start": "09:00",
        "end": "11:00",
        "place": "Hannover und per Zoom",
        "registration": REGISTRATION_MAIL,
    },
    ("2020-06", "ISA-Videokonferenz der Wirtschaftsförderungen und Beiräte"): {
        "date": dt.date(2020, 7, 7),
        "start": "10:00",
        "end": "12:00",
        "place": "Online (Zoom)",
    },
    ("2020-02", "Wirtschaftsförderer treffen sich zur 7. ISA-Fachtagung in Neuss"): {
        "date": dt.date(2020, 4, 2),
        "place": "Neuss",
    },
}

# Inbox preview lines, written from each issue's first article titles.
PREHEADERS = {
    "2021-07": "Pilotprojekte der dena für energieeffizientes Bauen in China, Startups gesucht",
    "2021-06": (
        "ISA-Umfrage zum Marketing und Klimaschutz als Chance für deutsche Unternehmen in China"
    ),
    "2021-05": "Die ISA als Erfolgsmodell und eine Einladung: Klimaschutz als Chance in China",
    "2021-04": "ISA lädt zur Internet Plus Exposition in Foshan ein, Fachlehrer für Ma’anshan",
    "2021-03": "ISA-Fachtagung zur Wasserstofftechnologie und China als Kooperationspartner",
    "2021-02": "Neujahrsgrüße aus China, Frühlingsfest und die 2. ISA-Videokonferenz am 24. März",
    "2020-11": (
        "BWA-Vorstand Michael Schumann im Interview, Besuch der Deutschen Botschaft in Foshan"
    ),
    "2020-10": (
        "9. Plenarversammlung der ISA und die neuen Mitgliedsstädte Baoding, Huzhou, Luoyang"
        " und Xuchang"
    ),
    "2020-09": "9. Plenarversammlung der ISA am 16. Oktober 2020 in Hannover, CIPA und ISA",
    "2020-07": "Regionale Kooperationen wie die ISA und Chinas digitale Plattformökonomie",
    "2020-06": (
        "ISA-Videokonferenz am 7. Juli und Merkel: China ist wichtiger strategischer EU-Partner"
    ),
    "2020-04": (
        "Foshan spendet 100.000 Atemschutzmasken, Delegation aus Foshan kommt im Dezember 2020"
    ),
    "2020-02": "7. ISA-Fachtagung in Neuss und gesteuerte Einwanderung von Fachkräften",
    "2020-01": "Kaiserslautern im Interview und „Drei gewinnt“ lädt zu einem Seminar ein",
    "2019-12": "Qiang Rong im Interview und die ISA als Drehscheibe für Innovationen und Handel",
    "2019-11": "Petra Wassner von NRW.INVEST im Interview und GTAI zum Wirtschaftsklima in China",
    "2019-10": (
        "Bericht zur chinesisch-deutschen Kooperation der Industrieparks und Industriecluster"
    ),
    "2019-09": "6. ISA-Fachtagung in Göttingen und mobiles Bezahlen mit Alipay und WeChat Pay",
}
