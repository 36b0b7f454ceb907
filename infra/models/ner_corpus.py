"""Seeded generator of a labelled PERSON/LOCATION corpus for the embedded NER tagger.

Texts are assembled from hand-written templates (chat prompts, e-mail openings and
signatures, CV and form lines, support tickets, hard negatives) whose slots are filled
from Faker's locale data (MIT): names of ~40 locales in their own conventions (two
surnames, particles, family-name-first, patronymics, initials), streets, post codes and
cities; plus hand lists below (world cities, countries, brands, software, programming
languages, months, weekdays) for the negatives. Labels come from the generation itself
(exact spans), so no teacher model is involved. The golden set in tests/golden/ is
written separately, by hand, with different wording and other names.

Used by ``build_ner_bundle.py``; run alone to print a sample::

    .venv/bin/python infra/models/ner_corpus.py --n 5 --seed 1
"""

from __future__ import annotations

import argparse
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

FAKER_LOCALES = (
    "en_US", "en_GB", "en_IN", "en_AU", "en_IE", "en_NZ", "fr_FR", "fr_CA", "de_DE", "de_AT",
    "de_CH", "es_ES", "es_MX", "es_AR", "es_CO", "it_IT", "pt_BR", "pt_PT", "nl_NL", "nl_BE",
    "pl_PL", "sv_SE", "fi_FI", "da_DK", "no_NO", "cs_CZ", "sk_SK", "hu_HU", "ro_RO", "tr_TR",
    "ru_RU", "uk_UA", "el_GR", "ja_JP", "zh_CN", "ko_KR", "vi_VN", "id_ID", "hi_IN", "fa_IR",
    "he_IL", "fil_PH", "zu_ZA", "yo_NG", "tw_GH", "hr_HR", "sl_SI", "lt_LT", "lv_LV", "et_EE",
    "bg_BG", "ar_AA", "th_TH", "bn_BD", "ne_NP", "ka_GE", "hy_AM", "az_AZ",
)  # fmt: skip
FAMILY_FIRST = {"ja_JP", "zh_CN", "ko_KR", "vi_VN", "hu_HU"}
TWO_SURNAMES = {"es_ES", "es_MX", "es_AR", "es_CO", "pt_BR", "pt_PT"}
# Romanised forms for scripts most prompts are written in transliterated.
ROMANISED = {"ja_JP", "zh_CN", "ru_RU", "uk_UA", "el_GR", "bg_BG", "ko_KR", "th_TH", "ar_AA"}

EXTRA_FIRST = [
    "Siobhán",
    "Aoife",
    "Niamh",
    "Oisín",
    "Seán",
    "Eoghan",
    "Kwame",
    "Ama",
    "Kofi",
    "Abena",
    "Chidi",
    "Ngozi",
    "Oluwaseun",
    "Tunde",
    "Amara",
    "Thandiwe",
    "Sipho",
    "Zanele",
    "Wanjiru",
    "Njeri",
    "Otieno",
    "Mohammed",
    "Ahmed",
    "Fatima",
    "Aisha",
    "Omar",
    "Layla",
    "Youssef",
    "Khadija",
    "Priya",
    "Arjun",
    "Ananya",
    "Rohan",
    "Lakshmi",
    "Venkat",
    "Deepika",
    "Sanjay",
    "Anh",
    "Linh",
    "Minh",
    "Thanh",
    "Wei",
    "Xiaoming",
    "Jing",
    "Hiroshi",
    "Yuki",
    "Haruto",
    "Sakura",
    "Jiho",
    "Minjun",
    "Seo-yeon",
    "Bogdan",
    "Olena",
    "Dmitri",
    "Svetlana",
    "Agnieszka",
    "Wojciech",
    "Zofia",
    "Björn",
    "Sigríður",
    "Jón",
    "Ingrid",
    "Eero",
    "Aino",
    "Mehmet",
    "Elif",
    "Ayşe",
    "Emre",
    "Giorgos",
    "Eleni",
    "Nikos",
    "Mateus",
    "João",
    "Leonor",
    "Thiago",
    "Camila",
    "Valentina",
    "Santiago",
    "Sofía",
    "Ximena",
    "Joaquín",
    "Maëlle",
    "Élodie",
    "Loïc",
    "Anaïs",
    "Jürgen",
    "Günther",
    "Zoë",
    "Chloé",
    "Raphaël",
    "Malak",
    "Tariq",
    "Nour",
    "Reza",
    "Parisa",
    "Dariush",
    "Avraham",
    "Yael",
    "Noa",
    "Keanu",
    "Leilani",
    "Tavita",
    "Aroha",
    "Wiremu",
    "Ikaika",
]
EXTRA_LAST = [
    "O'Brien",
    "O'Connor",
    "O'Sullivan",
    "McCarthy",
    "MacLeod",
    "McAllister",
    "D'Angelo",
    "N'Diaye",
    "Nkemelu",
    "Okafor",
    "Adeyemi",
    "Mensah",
    "Boateng",
    "Osei",
    "Kamau",
    "Mwangi",
    "Dlamini",
    "Nkosi",
    "Haddad",
    "Mansour",
    "Khalil",
    "Benali",
    "Chaudhry",
    "Iyer",
    "Ramanathan",
    "Banerjee",
    "Krishnamurthy",
    "Nguyen",
    "Tran",
    "Pham",
    "Hoang",
    "Zhang",
    "Wang",
    "Liu",
    "Chen",
    "Tanaka",
    "Watanabe",
    "Suzuki",
    "Kim",
    "Park",
    "Choi",
    "Kowalczyk",
    "Wiśniewska",
    "Nowakowski",
    "Kovalenko",
    "Shevchenko",
    "Ivanova",
    "Petrov",
    "Sigurðsson",
    "Jónsdóttir",
    "Virtanen",
    "Korhonen",
    "Yılmaz",
    "Öztürk",
    "Papadopoulos",
    "Georgiou",
    "Gonçalves",
    "Magalhães",
    "Fernández",
    "García-Márquez",
    "Núñez",
    "Ibáñez",
    "Müller-Lüdenscheidt",
    "Schäfer",
    "Dubois",
    "Lefèvre",
    "Benoît",
    "Kahananui",
    "Ngata",
    "Tuilagi",
    "Abubakar",
    "Ogunleye",
    "Tshabalala",
]
PARTICLES = (
    "de", "da", "dos", "das", "del", "de la", "van", "van der", "van den", "von", "di", "du",
    "le", "al", "bin", "ibn", "bint", "ben", "ter", "zu",
)  # fmt: skip
TITLES = ("Dr.", "Dr", "Mr.", "Mrs.", "Ms.", "Mr", "Mrs", "Ms", "Prof.", "Sr.", "Sra.", "Herr",
          "Frau", "M.", "Mme", "Mx.", "Sir", "Dame")  # fmt: skip
SYLLABLES = [
    "ka",
    "ri",
    "na",
    "to",
    "mi",
    "sa",
    "lo",
    "ve",
    "an",
    "el",
    "ia",
    "on",
    "us",
    "ar",
    "da",
    "ne",
    "bo",
    "ru",
    "zi",
    "ta",
    "ko",
    "le",
    "ma",
    "ni",
    "sh",
    "ch",
    "th",
    "ol",
    "em",
    "ya",
    "yu",
    "go",
    "fe",
    "li",
    "ba",
    "do",
    "ha",
    "ki",
    "vo",
    "ze",
    "wu",
    "xa",
    "qi",
    "ja",
]

WORLD_CITIES = (
    "Paris Lyon Marseille Toulouse Bordeaux Lille Nantes London Manchester Birmingham Leeds "
    "Glasgow Edinburgh Dublin Cork Berlin Hamburg Munich München Cologne Köln Frankfurt Stuttgart "
    "Leipzig Dresden Vienna Wien Graz Zurich Zürich Geneva Basel Madrid Barcelona Valencia "
    "Sevilla Seville Bilbao Málaga Lisbon Lisboa Porto Rome Roma Milan Milano Naples Napoli "
    "Turin Torino Florence Bologna Amsterdam Rotterdam Utrecht Eindhoven Brussels Antwerp Ghent "
    "Copenhagen Aarhus Stockholm Gothenburg Malmö Oslo Bergen Helsinki Tampere Reykjavík "
    "Warsaw Kraków Wrocław Gdańsk Poznań Prague Brno Bratislava Budapest Debrecen Bucharest "
    "Cluj-Napoca Sofia Athens Thessaloniki Istanbul Ankara Izmir Kyiv Lviv Kharkiv Moscow "
    "Novosibirsk Tbilisi Yerevan Baku Cairo Alexandria Casablanca Marrakesh Tunis Algiers "
    "Lagos Abuja Ibadan Accra Kumasi Nairobi Mombasa Kampala Kigali Addis Ababa Johannesburg "
    "Durban Pretoria Dakar Mumbai Delhi Bangalore Bengaluru Chennai Hyderabad Kolkata Pune "
    "Ahmedabad Karachi Lahore Islamabad Dhaka Chittagong Kathmandu Colombo Bangkok Chiang Mai "
    "Hanoi Saigon Jakarta Surabaya Bandung Manila Cebu Davao Singapore Kuala Lumpur Penang "
    "Shanghai Beijing Shenzhen Guangzhou Chengdu Wuhan Hangzhou Taipei Kaohsiung Tokyo Osaka "
    "Kyoto Yokohama Sapporo Fukuoka Seoul Busan Incheon Sydney Melbourne Brisbane Perth "
    "Adelaide Auckland Wellington Christchurch Toronto Montreal Montréal Vancouver Calgary "
    "Ottawa Quebec Boston Chicago Houston Phoenix Seattle Denver Atlanta Miami Portland "
    "Austin Dallas Detroit Philadelphia Brooklyn Oakland Sacramento Minneapolis Nashville "
    "Mexico Guadalajara Monterrey Puebla Bogotá Medellín Cali Lima Arequipa Quito Guayaquil "
    "Santiago Valparaíso Buenos Aires Córdoba Rosario Montevideo Asunción Caracas Havana "
    "São Paulo Rio de Janeiro Belo Horizonte Salvador Recife Fortaleza Curitiba Porto Alegre "
    "Brasília Tel Aviv Haifa Jerusalem Beirut Amman Riyadh Jeddah Dubai Doha Tehran Isfahan"
)
# Multi-word cities stay whole.
MULTIWORD_CITIES = (
    "Addis Ababa", "Chiang Mai", "Kuala Lumpur", "Tel Aviv", "Buenos Aires", "Rio de Janeiro",
    "São Paulo", "Belo Horizonte", "Porto Alegre", "New York", "Los Angeles", "San Francisco",
    "San Diego", "Mexico City", "Ho Chi Minh City", "Hong Kong", "Cape Town", "Las Palmas",
    "Frankfurt am Main", "Den Haag", "Saint-Étienne", "Aix-en-Provence", "Stoke-on-Trent",
)  # fmt: skip
COUNTRIES = [
    "France",
    "Germany",
    "Spain",
    "Italy",
    "Portugal",
    "Ireland",
    "Scotland",
    "Wales",
    "England",
    "Britain",
    "Netherlands",
    "Belgium",
    "Austria",
    "Switzerland",
    "Poland",
    "Czechia",
    "Slovakia",
    "Hungary",
    "Romania",
    "Bulgaria",
    "Greece",
    "Turkey",
    "Ukraine",
    "Russia",
    "Georgia",
    "Armenia",
    "Sweden",
    "Norway",
    "Denmark",
    "Finland",
    "Iceland",
    "Estonia",
    "Latvia",
    "Lithuania",
    "Croatia",
    "Serbia",
    "Slovenia",
    "Egypt",
    "Morocco",
    "Tunisia",
    "Algeria",
    "Nigeria",
    "Ghana",
    "Kenya",
    "Uganda",
    "Ethiopia",
    "Rwanda",
    "Senegal",
    "India",
    "Pakistan",
    "Bangladesh",
    "Nepal",
    "Thailand",
    "Vietnam",
    "Indonesia",
    "Philippines",
    "Malaysia",
    "China",
    "Japan",
    "Korea",
    "Taiwan",
    "Australia",
    "Canada",
    "Mexico",
    "Brazil",
    "Argentina",
    "Chile",
    "Peru",
    "Colombia",
    "Venezuela",
    "Ecuador",
    "Uruguay",
    "Cuba",
    "Israel",
    "Lebanon",
    "Jordan",
    "Iran",
    "Iraq",
    "Europe",
    "Asia",
    "Africa",
    "Scandinavia",
    "Bavaria",
    "Catalonia",
    "Andalusia",
    "Quebec",
    "Ontario",
    "California",
    "Texas",
    "Florida",
    "Provence",
    "Brittany",
    "Normandy",
    "Tuscany",
    "Sicily",
    "Siberia",
    "Patagonia",
    "Kashmir",
]
COUNTRY_PHRASES = ("the UK", "the US", "the USA", "the Netherlands", "the Philippines",
                   "South Africa", "New Zealand", "Saudi Arabia", "Sri Lanka", "the EU",
                   "Latin America", "the Middle East", "South Korea", "Costa Rica")  # fmt: skip
BRANDS = [
    "Google",
    "Microsoft",
    "Apple",
    "Amazon",
    "Netflix",
    "Spotify",
    "Uber",
    "Airbnb",
    "Tesla",
    "Nike",
    "Adidas",
    "Siemens",
    "Bosch",
    "Samsung",
    "Sony",
    "Toyota",
    "Honda",
    "Volkswagen",
    "Renault",
    "Peugeot",
    "Ikea",
    "Zara",
    "Nestlé",
    "Unilever",
    "Shopify",
    "Stripe",
    "Slack",
    "Zoom",
    "Dropbox",
    "Salesforce",
    "Oracle",
    "Nvidia",
    "Intel",
    "Cisco",
    "Huawei",
    "Xiaomi",
    "Alibaba",
    "Tencent",
    "Baidu",
    "Philips",
    "Heineken",
    "Carrefour",
    "Lidl",
    "Aldi",
    "Decathlon",
    "Michelin",
    "Ferrari",
    "Lamborghini",
    "Mercedes",
    "Audi",
    "Porsche",
    "Volvo",
    "Ericsson",
    "Nokia",
    "Spotify",
    "Revolut",
    "Monzo",
    "Klarna",
    "Deliveroo",
    "Glovo",
    "Rakuten",
    "Nintendo",
    "Canon",
    "Nikon",
    "Dyson",
    "Lego",
    "Pepsi",
    "Starbucks",
    "McDonald's",
    "Disney",
    "Pixar",
    "Marvel",
]
PRODUCTS = [
    "iPhone",
    "iPad",
    "MacBook",
    "Android",
    "Windows",
    "Linux",
    "Ubuntu",
    "Excel",
    "Word",
    "PowerPoint",
    "Outlook",
    "Teams",
    "Photoshop",
    "Figma",
    "Notion",
    "Jira",
    "Confluence",
    "GitHub",
    "GitLab",
    "Docker",
    "Kubernetes",
    "Terraform",
    "Ansible",
    "Kafka",
    "ClickHouse",
    "Postgres",
    "PostgreSQL",
    "MySQL",
    "Redis",
    "MongoDB",
    "Elasticsearch",
    "Grafana",
    "Prometheus",
    "Jenkins",
    "Chrome",
    "Firefox",
    "Safari",
    "Edge",
    "Gmail",
    "WhatsApp",
    "Telegram",
    "Signal",
    "Instagram",
    "TikTok",
    "YouTube",
    "Twitch",
    "Discord",
    "Alexa",
    "Siri",
    "Cortana",
    "ChatGPT",
    "Claude",
    "Gemini",
    "Copilot",
    "Llama",
    "Mistral",
    "Kindle",
    "PlayStation",
    "Xbox",
    "Switch",
    "Galaxy",
    "Pixel",
    "Tableau",
    "Looker",
    "Airflow",
    "Spark",
    "Hadoop",
    "Flink",
    "React",
    "Angular",
    "Vue",
    "Django",
    "Flask",
    "FastAPI",
    "Rails",
    "Laravel",
    "Spring",
    "Hibernate",
    "TensorFlow",
    "PyTorch",
]
LANGUAGES = [
    "Python",
    "Java",
    "JavaScript",
    "TypeScript",
    "Rust",
    "Go",
    "Ruby",
    "Julia",
    "Kotlin",
    "Swift",
    "Scala",
    "Haskell",
    "Perl",
    "Elixir",
    "Erlang",
    "Clojure",
    "Dart",
    "Lua",
    "Fortran",
    "COBOL",
    "Pascal",
    "Ada",
    "Crystal",
    "Nim",
    "Zig",
    "OCaml",
    "Prolog",
]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Sept",
    "Oct",
    "Nov",
    "Dec",
]
WEEKDAYS = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Mon",
    "Tue",
    "Wed",
    "Thu",
    "Fri",
]
CAP_NOUNS = [
    "Board",
    "Budget",
    "Committee",
    "Department",
    "Finance",
    "Engineering",
    "Marketing",
    "Sales",
    "Support",
    "Team",
    "Project",
    "Policy",
    "Agreement",
    "Contract",
    "Invoice",
    "Report",
    "Summary",
    "Meeting",
    "Schedule",
    "Chapter",
    "Section",
    "Figure",
    "Table",
    "Appendix",
    "Terms",
    "Conditions",
    "Privacy",
    "Customer",
    "Service",
    "Manager",
    "Director",
    "President",
    "CEO",
    "Professor",
    "Doctor",
    "Patient",
    "Student",
    "Teacher",
    "Parliament",
    "Senate",
    "Court",
    "Ministry",
    "University",
    "Hospital",
    "Bank",
    "Council",
    "Church",
    "Museum",
    "Library",
    "Station",
    "Airport",
    "Street",
    "Avenue",
    "Road",
    "North",
    "South",
    "East",
    "West",
    "Christmas",
    "Easter",
    "Ramadan",
    "Diwali",
    "Thanksgiving",
    "Halloween",
    "Olympics",
    "Internet",
]
NATIONALITIES = [
    "English",
    "Swedish",
    "German",
    "French",
    "Spanish",
    "Italian",
    "Japanese",
    "Chinese",
    "Korean",
    "Russian",
    "Polish",
    "Dutch",
    "Turkish",
    "Arabic",
    "Hindi",
    "Portuguese",
    "Greek",
    "Danish",
    "Finnish",
    "Norwegian",
    "Czech",
    "Hungarian",
    "Romanian",
    "Ukrainian",
    "Vietnamese",
    "Thai",
    "Indonesian",
    "Swahili",
    "Hebrew",
    "Persian",
    "Irish",
    "Scottish",
    "Welsh",
    "British",
    "American",
    "Canadian",
    "Mexican",
    "Brazilian",
    "Argentinian",
    "Indian",
    "Nigerian",
    "Kenyan",
    "Egyptian",
    "Moroccan",
]
SUBJECTS = [
    "Physics",
    "Chemistry",
    "Biology",
    "Mathematics",
    "History",
    "Economics",
    "Law",
    "Medicine",
    "Philosophy",
    "Sociology",
    "Psychology",
    "Linguistics",
    "Engineering",
    "Architecture",
    "Statistics",
    "Finance",
    "Accounting",
    "Nursing",
]
ORGS = [
    "CERN",
    "NASA",
    "UNESCO",
    "WHO",
    "IBM",
    "BBC",
    "NATO",
    "UNICEF",
    "OECD",
    "IMF",
    "FIFA",
    "UEFA",
    "MIT",
    "ETH",
    "INSEAD",
    "IKEA",
    "SAP",
]
ROLES = [
    "colleague",
    "manager",
    "technician",
    "agent",
    "nurse",
    "doctor",
    "courier",
    "driver",
    "teacher",
    "neighbour",
    "neighbor",
    "landlord",
    "tenant",
    "intern",
    "assistant",
    "coach",
    "nanny",
    "tutor",
    "friend",
    "boss",
    "client",
    "customer",
    "engineer",
    "recruiter",
    "supervisor",
    "lawyer",
    "accountant",
    "caller",
    "reviewer",
    "trainer",
    "mentor",
]
KIN = [
    "sister",
    "brother",
    "mother",
    "mom",
    "mum",
    "dad",
    "father",
    "son",
    "daughter",
    "wife",
    "husband",
    "uncle",
    "aunt",
    "cousin",
    "grandma",
    "grandpa",
    "grandmother",
    "grandfather",
    "partner",
    "boyfriend",
    "girlfriend",
    "niece",
    "nephew",
]
SIGNOFFS = (
    "Mit freundlichen Grüßen", "Viele Grüße", "Liebe Grüße", "Saludos", "Un saludo", "Atentamente",
    "Cordialement", "Bien à vous", "Groeten", "Met vriendelijke groet", "Pozdrawiam", "Un saluto",
    "Cordiali saluti", "Atenciosamente", "Abraços", "Med vänlig hälsning", "Hälsningar",
    "Venlig hilsen", "Ystävällisin terveisin", "Saygılarımla", "S pozdravem", "Üdvözlettel",
    "Cu stimă", "С уважением", "Best", "Cheers", "Thanks", "Many thanks", "Warm regards",
    "Yours truly", "Yours sincerely", "All the best", "Take care", "Talk soon", "Respectfully",
)  # fmt: skip
GREETINGS = (
    "Hi", "Hello", "Hey", "Dear", "Good morning", "Good afternoon", "Bonjour", "Salut", "Hallo",
    "Guten Tag", "Hola", "Buenos días", "Ciao", "Buongiorno", "Olá", "Oi", "Hoi", "Hej", "Hei",
    "Cześć", "Dzień dobry", "Merhaba", "Szia", "Dobrý den", "Bună ziua", "Привет", "Yo",
)  # fmt: skip
FOREIGN_PCITY = (
    "j'habite à {PCITY}", "je vis à {PCITY}", "c'est {F} de {PCITY}", "je viens de {PCITY}",
    "ich wohne in {PCITY}", "ich komme aus {PCITY}", "wir leben in {PCITY}", "vivo en {PCITY}",
    "soy de {PCITY}", "nací en {PCITY}", "abito a {PCITY}", "sono di {PCITY}", "moro em {PCITY}",
    "sou de {PCITY}", "ik woon in {PCITY}", "ik kom uit {PCITY}", "mieszkam w {PCITY}",
    "jestem z {PCITY}", "jag bor i {PCITY}", "bor i {PCITY}", "{PCITY}'da yaşıyorum",
    "{PCITY}'de oturuyorum", "locuiesc în {PCITY}", "sunt din {PCITY}", "bydlím v {PCITY}",
    "asun kaupungissa {PCITY}", "я живу в {PCITY}", "Ich bin {P} aus {PCITY}.",
)  # fmt: skip
FOREIGN_FILLER = (
    "Ich hoffe, es geht Ihnen gut.", "Vielen Dank im Voraus.", "Anbei finden Sie die Rechnung.",
    "Je vous remercie de votre réponse.", "Merci d'avance pour votre aide.", "Pouvez-vous m'aider ?",
    "Quedo a la espera de su respuesta.", "Muchas gracias por su ayuda.", "Adjunto el documento.",
    "Resto in attesa di una sua risposta.", "Grazie mille per l'aiuto.", "Le invio il modulo.",
    "Fico no aguardo da sua resposta.", "Muito obrigado pela ajuda.", "Segue em anexo o contrato.",
    "Alvast bedankt voor je hulp.", "Hierbij stuur ik de factuur.", "Z góry dziękuję za pomoc.",
    "W załączniku przesyłam fakturę.", "Tack för hjälpen.", "Kiitos paljon avusta.",
    "Yardımınız için teşekkürler.", "Děkuji za odpověď.", "Vă mulțumesc pentru ajutor.",
    "Köszönöm a segítséget.", "Спасибо за помощь.", "Bis morgen!", "À demain !", "Hasta luego.",
    "A presto!", "Até logo!", "Tot ziens!", "Do zobaczenia!", "Mit besten Grüßen aus dem Büro.",
)  # fmt: skip
PCITY_CONTEXTS = (
    "I live in", "we live in", "she lives in", "he lives in", "they live in", "I'm based in",
    "I work in", "I just moved to", "we're moving to", "I'm relocating to", "I'm staying in",
    "I was raised in", "my hometown is", "born and raised in", "now living in", "I reside in",
    "I commute from", "my family is from", "I come from", "she grew up in", "he was born in",
    "I work at a bank in", "I'm a student in", "I moved from", "we left", "back home in",
    "visiting my parents in", "I'm currently in", "my address is in", "we bought a flat in",
    "I'm originally from", "my flat in", "our house in", "I rent a room in", "we settled in",
    "she moved back to", "I spent my childhood in", "my parents live in", "my sister lives in",
)  # fmt: skip
NAME_WORDS_AS_WORDS = (  # first names that are also common words, used as words
    ("I will call you tomorrow.", "We will see."), ("The grace period ends today.",),
    ("The rose bushes need water.",), ("You may leave early.", "It may rain."),
    ("Mark the box as done.", "Please mark it as read."), ("Bill me later.", "The bill is due."),
    ("The sun will rise at six.",), ("She felt a deep joy.",), ("Hope you are well.",),
    ("Press the Pat button twice.",), ("Don't rob the bank.",), ("We need to sue them.",),
    ("Sterling silver is expensive.",), ("The price of amber rose.",),
)  # fmt: skip


@dataclass
class Pools:
    """Name, street and city pools per locale, drawn once from Faker."""

    first: dict[str, list[str]] = field(default_factory=dict)
    last: dict[str, list[str]] = field(default_factory=dict)
    middle: dict[str, list[str]] = field(default_factory=dict)
    streets: dict[str, list[str]] = field(default_factory=dict)
    street_names: dict[str, list[str]] = field(default_factory=dict)
    cities: dict[str, list[str]] = field(default_factory=dict)
    postcodes: dict[str, list[str]] = field(default_factory=dict)
    phones: dict[str, list[str]] = field(default_factory=dict)
    emails: list[str] = field(default_factory=list)
    locales: list[str] = field(default_factory=list)
    latin: list[str] = field(default_factory=list)
    lorem: list[str] = field(default_factory=list)
    # Faker's lorem words of non-Latin locales: sentences with no name in other scripts.
    foreign_lorem: dict[str, list[str]] = field(default_factory=dict)


def _latin(s: str) -> bool:
    return all(ord(c) < 0x250 or not c.isalpha() for c in s)


def build_pools(seed: int, per_locale: int = 120) -> Pools:
    """Draw the pools from Faker (seeded); locales Faker lacks are skipped."""
    from faker import Faker
    from faker.config import AVAILABLE_LOCALES

    pools = Pools()
    for loc in FAKER_LOCALES:
        if loc not in AVAILABLE_LOCALES:
            continue
        fk = Faker(loc)
        fk.seed_instance(seed + len(pools.locales))

        def draw(method: str, n: int = per_locale, fk=fk) -> list[str]:
            try:
                return [str(getattr(fk, method)()) for _ in range(n)]
            except (AttributeError, NotImplementedError, KeyError, IndexError, ValueError):
                return []

        roman = loc in ROMANISED and hasattr(fk, "first_romanized_name")
        first = draw("first_name")
        last = draw("last_name")
        if roman:  # mostly transliterated, as most prompts are written
            first = draw("first_romanized_name", per_locale * 4 // 5) + first[: per_locale // 5]
            last = draw("last_romanized_name", per_locale * 4 // 5) + last[: per_locale // 5]
        middle = draw("middle_name")
        streets, cities, posts = draw("street_address"), draw("city"), draw("postcode")
        phones = draw("phone_number")
        if not (first and last and streets and cities and posts and phones):
            continue
        pools.locales.append(loc)
        pools.first[loc] = [x for x in first if x.strip()]
        pools.last[loc] = [x for x in last if x.strip()]
        pools.middle[loc] = [x for x in middle if x.strip()]
        pools.streets[loc] = [s.replace("\n", ", ") for s in streets]
        pools.street_names[loc] = draw("street_name") or [s.split(",")[0] for s in streets]
        pools.cities[loc] = [c for c in cities if c.strip()]
        pools.postcodes[loc] = posts
        pools.phones[loc] = phones
    fk = Faker("en_US")
    fk.seed_instance(seed)
    pools.emails = [fk.free_email() for _ in range(300)]
    from faker.providers.lorem.en_US import Provider as LoremEn

    pools.lorem = list(LoremEn.word_list)
    import importlib

    for loc in FOREIGN_LOREM_LOCALES:
        try:
            mod = importlib.import_module(f"faker.providers.lorem.{loc}")
        except ImportError:
            continue
        words = [w for w in getattr(mod.Provider, "word_list", ()) if w.strip()]
        if words:
            pools.foreign_lorem[loc] = words
    pools.foreign_lorem.setdefault("hi_IN", list(HINDI_WORDS))  # Faker has no Hindi lorem
    pools.latin = [
        loc
        for loc in pools.locales
        if sum(map(_latin, pools.first[loc])) > 0.8 * len(pools.first[loc])
    ]
    return pools


class Text:
    """A text under construction with its labelled spans."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[tuple[int, int, str]] = []
        self.n = 0

    def add(self, s: str, label: str | None = None) -> None:
        if label and s:
            self.spans.append((self.n, self.n + len(s), label))
        self.parts.append(s)
        self.n += len(s)

    def text(self) -> str:
        return "".join(self.parts)


class Generator:
    """Fills templates; ``sample()`` returns ``(text, [(start, end, label), ...])``."""

    def __init__(self, pools: Pools, seed: int) -> None:
        self.p = pools
        self.r = random.Random(seed)
        self.cities = WORLD_CITIES.split() + list(MULTIWORD_CITIES)
        self.fillers: dict[str, Callable[[], tuple[str, str | None]]] = {
            "P": lambda: (self.person(), "PERSON"),
            "F": lambda: (self.first(), "PERSON"),
            "F2": lambda: (self.first(), "PERSON"),
            "L": lambda: (self.last(), "PERSON"),
            "TP": lambda: ("", None),  # title + person, handled in fill
            "PCITY": lambda: (self.city(), "LOCATION"),
            "ADDR": lambda: (self.address(), "LOCATION"),
            "STREET": lambda: (self.r.choice(self.p.street_names[self._loc()]), "LOCATION"),
            "CITY": lambda: (self.city(), None),
            "COUNTRY": lambda: (self.country(), None),
            "BRAND": lambda: (self.r.choice(BRANDS), None),
            "PRODUCT": lambda: (self.r.choice(PRODUCTS), None),
            "LANG": lambda: (self.r.choice(LANGUAGES), None),
            "MONTH": lambda: (self.r.choice(MONTHS), None),
            "DAY": lambda: (self.r.choice(WEEKDAYS), None),
            "NOUN": lambda: (self.r.choice(CAP_NOUNS), None),
            "EMAIL": lambda: (self.r.choice(self.p.emails), None),
            "PHONE": lambda: (self.phone(), None),
            "NUM": lambda: (str(self.r.randint(2, 99999)), None),
            "ORDER": lambda: (
                f"{self.r.choice(['#', 'ORD-', 'A', ''])}{self.r.randint(10000, 9999999)}",
                None,
            ),
            "DATE": lambda: (self.date(), None),
            "PRICE": lambda: (
                self.r.choice(["$", "€", "£", ""])
                + f"{self.r.randint(1, 5000)}.{self.r.randint(0, 99):02d}",
                None,
            ),
        }

    # --- slot values ---------------------------------------------------------------
    def _loc(self) -> str:
        # Mostly Latin-script locales (as most prompts are), other scripts now and then.
        return self.r.choice(self.p.latin if self.r.random() < 0.88 else self.p.locales)

    def _synthetic(self, parts: int) -> str:
        return "".join(self.r.choice(SYLLABLES) for _ in range(parts)).capitalize()

    def first(self, loc: str | None = None) -> str:
        x = self.r.random()
        if x < 0.12:
            return self._synthetic(self.r.randint(2, 3))
        if x < 0.25:
            return self.r.choice(EXTRA_FIRST)
        return self.r.choice(self.p.first[loc or self._loc()])

    def last(self, loc: str | None = None) -> str:
        x = self.r.random()
        if x < 0.12:
            return self._synthetic(self.r.randint(2, 4))
        if x < 0.25:
            return self.r.choice(EXTRA_LAST)
        return self.r.choice(self.p.last[loc or self._loc()])

    def person(self) -> str:
        loc = self._loc()
        f, last = self.first(loc), self.last(loc)
        x = self.r.random()
        if loc in FAMILY_FIRST and x < 0.5:
            name = f"{last} {f}"
        elif loc in TWO_SURNAMES and x < 0.5:
            name = f"{f} {last} {self.last(loc)}"
        elif x < 0.08:
            name = f"{f} {self.r.choice(PARTICLES)} {last}"
        elif x < 0.14 and self.p.middle.get(loc):
            name = f"{f} {self.r.choice(self.p.middle[loc])} {last}"
        elif x < 0.2:
            name = f"{f} {self.first(loc)} {last}"
        elif x < 0.24:
            name = f"{f[0]}. {last}"
        elif x < 0.27:
            name = f"{last}, {f}"
        elif x < 0.3:
            name = f"{f} {last[0]}."
        else:
            name = f"{f} {last}"
        return name

    def city(self) -> str:
        if self.r.random() < 0.65:
            return self.r.choice(self.cities)
        c = self.r.choice(self.p.cities[self._loc()])
        return c

    def country(self) -> str:
        return self.r.choice(COUNTRY_PHRASES) if self.r.random() < 0.2 else self.r.choice(COUNTRIES)

    def address(self) -> str:
        loc = self._loc()
        street = self.r.choice(self.p.streets[loc])
        x = self.r.random()
        if x < 0.35:
            return street
        post = self.r.choice(self.p.postcodes[loc])
        city = (
            self.r.choice(self.p.cities[loc])
            if self.r.random() < 0.6
            else self.r.choice(self.cities)
        )
        if x < 0.7:
            return f"{street}, {post} {city}"
        if x < 0.85:
            return f"{street}, {city} {post}"
        return f"{street}, {city}"

    def lorem(self) -> str:
        words = self.r.sample(self.p.lorem, self.r.randint(4, 14))
        return " ".join(words).capitalize() + self.r.choice((".", ".", "?", "!"))

    def phone(self) -> str:
        return self.r.choice(self.p.phones[self._loc()])

    def foreign_sentence(self) -> str:
        """A sentence of lorem words in a non-Latin script: no name in it."""
        if not self.p.foreign_lorem:
            return self.lorem()
        loc = self.r.choice(sorted(self.p.foreign_lorem))
        words = self.r.choices(self.p.foreign_lorem[loc], k=self.r.randint(3, 12))
        if loc in NO_SPACE_LOCALES:
            return "".join(words) + self.r.choice(("。", "。", "？", "", "."))
        return " ".join(words) + self.r.choice((".", ".", "?", "", " ।"))

    def _hex(self, n: int) -> str:
        return "".join(self.r.choice("0123456789abcdef") for _ in range(n))

    def _b64(self, n: int) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def machine_text(self) -> str:
        """Logs, headers, JSON, code, SQL, stack traces, PEM blocks: what gets pasted into
        prompts and answers around the PII. Capitalised words there (INFO, Bearer,
        Traceback, BEGIN CERTIFICATE, class names) are not people or places; a name in a
        name field or a log message still is (the ``{P}`` slots)."""
        r = self.r
        uuid = f"{self._hex(8)}-{self._hex(4)}-{self._hex(4)}-{self._hex(4)}-{self._hex(12)}"
        ts = f"2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z"
        level = r.choice(LOG_LEVELS)
        comp = r.choice(COMPONENTS)
        word = r.choice(CODE_WORDS)
        ident = r.choice(IDENTIFIERS)
        kind = r.randrange(12)
        if kind == 0:
            return f"{ts} {level} [{comp}] {r.choice(LOG_MESSAGES).format(n=r.randint(1, 9), id=uuid, w=word)}"
        if kind == 1:
            return f"[{level}] {comp}: {r.choice(LOG_MESSAGES).format(n=r.randint(1, 9), id=uuid, w=word)}"
        if kind == 2:
            return r.choice(HTTP_LINES).format(tok=self._b64(r.randint(20, 40)), id=uuid, w=word)
        if kind == 3:
            keys = r.sample(JSON_KEYS, r.randint(2, 5))
            vals = [
                r.choice(
                    (
                        f'"{uuid}"',
                        str(r.randint(0, 999)),
                        "true",
                        "null",
                        f'"{word}"',
                        f'"{r.choice(LOG_LEVELS)}"',
                    )
                )
                for _ in keys
            ]
            return "{" + ", ".join(f'"{k}": {v}' for k, v in zip(keys, vals, strict=True)) + "}"
        if kind == 4:
            return r.choice(CODE_LINES).format(w=word, i=ident, n=r.randint(1, 99))
        if kind == 5:
            return r.choice(SQL_LINES).format(w=word, i=ident, n=r.randint(1, 99))
        if kind == 6:
            return r.choice(TRACE_LINES).format(w=word, i=ident, n=r.randint(1, 999))
        if kind == 7:
            what = r.choice(
                (
                    "CERTIFICATE",
                    "RSA PRIVATE KEY",
                    "PUBLIC KEY",
                    "OPENSSH PRIVATE KEY",
                    "PGP MESSAGE",
                )
            )
            return f"-----BEGIN {what}-----\n{self._b64(64)}\n{self._b64(r.randint(8, 64))}=\n-----END {what}-----"
        if kind == 8:  # a name where logs and records put one: still PERSON
            return r.choice(MACHINE_POSITIVE)
        if kind == 9:
            return f"{r.choice(('GET', 'POST', 'PUT', 'DELETE'))} /v1/{word}/{uuid} {r.choice(('200', '201', '404', '429', '500', '503'))} {r.randint(1, 900)}ms"
        if kind == 10:
            return f"{comp} {level} retry={r.randint(1, 5)} backoff={r.randint(1, 30)}s error={r.choice(ERRORS)}"
        return f"{ident}.{word}({r.choice(('True', 'False', 'None', str(r.randint(0, 9))))}) -> {r.choice(ERRORS)}"

    def date(self) -> str:
        d, m, y = self.r.randint(1, 28), self.r.randint(1, 12), self.r.randint(1950, 2030)
        return self.r.choice(
            [
                f"{d:02d}/{m:02d}/{y}",
                f"{y}-{m:02d}-{d:02d}",
                f"{d}.{m}.{y}",
                f"{self.r.choice(MONTHS)} {d}, {y}",
                f"{d} {self.r.choice(MONTHS)} {y}",
            ]
        )

    # --- templates -----------------------------------------------------------------
    _SLOT = re.compile(r"\{([A-Z0-9]+)\}")

    def fill(self, template: str, out: Text, name_case: str) -> None:
        pos = 0
        for m in self._SLOT.finditer(template):
            out.add(template[pos : m.start()])
            slot = m.group(1)
            if slot == "TP":
                out.add(self.r.choice(TITLES) + " ")
                value, label = self.person() if self.r.random() < 0.6 else self.last(), "PERSON"
            else:
                value, label = self.fillers[slot]()
            if label == "PERSON" and name_case == "lower":
                value = value.lower()
            elif label == "PERSON" and name_case == "upper":
                value = value.upper()
            out.add(value, label)
            pos = m.end()
        out.add(template[pos:])

    def extra_positive(self) -> str:
        """Compositional templates: context phrase + slot, in many combinations."""
        r = self.r
        k = r.randrange(8)
        if k == 0 and r.random() < 0.3:
            return r.choice(FOREIGN_PCITY) + r.choice((".", "", " !", ", merci."))
        if k == 0 and r.random() < 0.2:
            return r.choice(
                (
                    "I'm {P} from {PCITY}.",
                    "{P} from {PCITY} here.",
                    "I moved from {PCITY} to {PCITY}.",
                    "Hi, {F} from {PCITY} again!",
                    "We bought a house on {STREET} in {PCITY}.",
                    "I live on {STREET}.",
                    "my flat on {STREET} in {PCITY} is cold",
                )
            )
        if k == 0:
            pre = r.choice(PCITY_CONTEXTS)
            job = r.choice(ROLES)
            return r.choice(
                (
                    f"{pre} {{PCITY}}.",
                    f"I'm a {job} in {{PCITY}}.",
                    f"{pre} {{PCITY}} now.",
                    f"{pre} {{PCITY}} with my {r.choice(KIN)} {{F}}.",
                    f"{pre} {{PCITY}}, {r.choice(FILLER).lower()}",
                )
            )
        if k == 1:
            role = r.choice(ROLES + KIN)
            return r.choice(
                (
                    f"My {role} {{F}} said it's fine.",
                    f"Our {role} {{F}} will come on {{DAY}}.",
                    f"Your {role} {{F}} promised a refund.",
                    f"{role.capitalize()} {{F}} resolved it.",
                    f"I spoke to your {role} {{F}} yesterday.",
                    "{F} from {NOUN} will call you.",
                    f"Ask my {role} {{P}} for the keys.",
                    f"{{F}}, my {role}, is visiting.",
                )
            )
        if k == 2:
            return f"{r.choice(SIGNOFFS)},\n{{{r.choice(('P', 'F'))}}}"
        if k == 3:
            g = r.choice(GREETINGS)
            return r.choice(
                (
                    f"{g} {{F}},",
                    f"{g} {{F}}!",
                    f"{g} {{TP}},",
                    f"{g}, I'm {{P}}.",
                    f"{g} {{F}} and {{F2}},",
                )
            )
        if k == 4:
            return r.choice(
                (
                    "Present: {F}, {F2} and {F}.",
                    "Guests: {P}, {P} and {F}.",
                    "{F}, {F2}, {F} and {F2} joined.",
                    "Team: {P} (lead), {P}, {F}.",
                    "Thanks to {F} and {F2}!",
                )
            )
        if k == 5:
            return r.choice(
                (
                    "Address: P.O. Box {NUM}, {PCITY}",
                    "{P}\n{ADDR}",
                    "Return it to {ADDR} please.",
                    "She lives at {ADDR} now.",
                    "Our new flat: {ADDR}.",
                    "Forward my mail to {ADDR}.",
                    "My billing address is {ADDR}.",
                    "The parcel went to {ADDR}.",
                )
            )
        if k == 6:
            return r.choice(
                (
                    "{TP} will see you now.",
                    "Passenger {P} to gate {NUM}.",
                    "Name on card: {P}",
                    "Account holder: {P}",
                    "Visitor: {P}; host: {P}",
                    "Driver: {P}, licence {NUM}.",
                )
            )
        return r.choice(
            (
                "{P} and {P} own the shop.",
                "{P} retired last month.",
                "Thanks to {P} for the photos.",
                "{P} wrote the preface.",
                "The grant went to {P}.",
                "{P} is not available.",
                "{P} sent the invoice.",
                "Email {P} about the edits.",
                "{P} booked the room.",
            )
        )

    def extra_negative(self) -> str:
        r = self.r
        nat, subj, org = r.choice(NATIONALITIES), r.choice(SUBJECTS), r.choice(ORGS)
        return r.choice(
            (
                f"Languages: {nat}, {r.choice(NATIONALITIES)}",
                f"I speak {nat} and {r.choice(NATIONALITIES)}.",
                f"Nationality: {nat}",
                f"MSc {subj}, worked at {org}.",
                f"Department of {subj}",
                f"Can you proofread my {nat}?",
                f"Translate this into {nat}.",
                f"Worked at {org} for {{NUM}} years.",
                f"{r.choice(SIGNOFFS)}!",
                f"{r.choice(GREETINGS)} everyone,",
                f"{r.choice(GREETINGS)}, team!",
                f"{r.choice(GREETINGS)}, how are you?",
                f"{r.choice(SIGNOFFS)},\nThe {{NOUN}} team",
                f"My {r.choice(KIN)} says hi.",
                f"My {r.choice(ROLES)} is on holiday.",
                f"Ask your {r.choice(ROLES)}.",
                f"{subj} exam on {{DAY}}.",
                f"The {nat} team won.",
                f"{org} published a report on {{COUNTRY}}.",
                "We use {PRODUCT} with {PRODUCT} on {PRODUCT}.",
                "{CITY} office hours: 9-5.",
                "Flights to {CITY} are full.",
            )
        )

    def sample(self) -> tuple[str, list[tuple[int, int, str]]]:
        out = Text()
        n_sent = self.r.choice((1, 1, 2, 2, 3, 4))
        x = self.r.random()
        name_case = "lower" if x < 0.1 else ("upper" if x < 0.12 else "as-is")
        for i in range(n_sent):
            y = self.r.random()
            if y < 0.23:
                t = self.r.choice(POSITIVE)
            elif y < 0.38:
                t = self.extra_positive()
            elif y < 0.54:
                t = self.r.choice(NEGATIVE)
            elif y < 0.65:
                t = self.extra_negative()
            elif y < 0.72:
                t = self.r.choice(self.r.choice(NAME_WORDS_AS_WORDS))
            elif y < 0.79:
                t = self.r.choice(FILLER)
            elif y < 0.83:  # common English words in random order: vocabulary beyond the templates
                t = self.lorem()
            elif y < 0.86:
                t = self.r.choice(FOREIGN_FILLER)
            elif y < 0.95:  # logs, JSON, code, headers, keys: machine text around the PII
                t = self.machine_text()
            else:  # other scripts without names
                t = self.foreign_sentence()
            if i:
                out.add(self.r.choice((" ", " ", "\n", "\n\n", "  ")))
            self.fill(t, out, name_case)
        text = out.text()
        if self.r.random() < 0.06 and len(text.lower()) == len(text):
            text = text.lower()  # whole text typed in lower case (chat style)
        return text, out.spans


FOREIGN_LOREM_LOCALES = (
    "ja_JP", "zh_CN", "zh_TW", "ru_RU", "uk_UA", "el_GR", "ar_AA", "he_IL", "hy_AM", "th_TH",
    "fa_IR", "bn_BD", "hi_IN", "ko_KR", "az_AZ", "bg_BG",
)  # fmt: skip
HINDI_WORDS = (
    "नमस्ते", "कृपया", "मेरा", "नंबर", "है", "धन्यवाद", "आप", "कैसे", "हैं", "मुझे", "मदद",
    "चाहिए", "यह", "बहुत", "अच्छा", "काम", "समय", "आज", "कल", "फ़ोन", "ईमेल", "पता", "भेजें",
    "करें", "के", "लिए", "और", "में", "से", "को", "नहीं", "क्या", "हम", "वह", "जवाब", "संदेश",
)  # fmt: skip
NO_SPACE_LOCALES = {"ja_JP", "zh_CN", "zh_TW", "th_TH"}
LOG_LEVELS = ("INFO", "WARN", "WARNING", "ERROR", "DEBUG", "TRACE", "FATAL", "NOTICE", "CRITICAL")
COMPONENTS = (
    "worker-3", "http.server", "AuthService", "PaymentGateway", "kube-proxy", "nginx", "Kafka",
    "ClickHouse", "RedisCache", "api-gateway", "OrderController", "SessionManager", "uvicorn",
    "gunicorn", "celery.worker", "Scheduler", "LoadBalancer", "Ingress", "grpc.Server",
)  # fmt: skip
LOG_MESSAGES = (
    "retry attempt {n} for request {id}", "connection reset by peer", "request {id} completed",
    "Started {w} in {n} ms", "Shutting down {w}", "Health check OK", "Cache MISS for {w}",
    "Timeout after {n}s waiting for {w}", "Deprecated: {w} will be removed", "Token refreshed",
    "User session expired", "Rate limit exceeded, Retry-After {n}", "Loaded {n} Plugins",
    "Received SIGTERM, draining", "Backoff {n}s before Reconnect", "Job {id} Failed: {w}",
    "Listening on 0.0.0.0:{n}", "Bad Request: missing field {w}", "Unauthorized: Bearer token rejected",
)  # fmt: skip
HTTP_LINES = (
    "Authorization: Bearer {tok}", "curl -H 'Authorization: Bearer {tok}' https://api.example.com/v1/{w}",
    "Content-Type: application/json", "Set-Cookie: session={tok}; Path=/; HttpOnly; Secure",
    "X-Request-Id: {id}", "Accept-Encoding: gzip, deflate", "HTTP/1.1 429 Too Many Requests",
    "Retry-After: 30", "User-Agent: Mozilla/5.0 (X11; Linux x86_64)", "Host: api.example.com",
    "WWW-Authenticate: Basic realm=\"Admin\"", "Cache-Control: no-cache", "Bearer {tok}",
)  # fmt: skip
JSON_KEYS = (
    "id", "status", "retry", "region", "created", "updated", "level", "msg", "Error", "Type",
    "request_id", "model", "latency_ms", "Version", "enabled", "tags", "Code", "Reason",
)  # fmt: skip
CODE_WORDS = (
    "retry", "handler", "config", "Builder", "Factory", "Manager", "Session", "Parser", "Client",
    "Response", "Request", "Thread", "Queue", "Buffer", "Stream", "Cursor", "Context", "Options",
)  # fmt: skip
IDENTIFIERS = (
    "UserService", "OrderRepository", "HttpClient", "DataFrame", "ThreadPoolExecutor", "np",
    "requests", "os.path", "JSONDecoder", "KafkaConsumer", "React", "Vue", "Django", "Flask",
    "TensorFlow", "PyTorch", "numpy", "pandas", "Spring", "Express",
)  # fmt: skip
CODE_LINES = (
    "def {w}(fn, attempts={n}):", "class {i}({w}):", "import {i} as {w}", "from {i} import {w}",
    "return {i}.{w}(timeout={n})", "const {w} = new {i}();", "public static void Main(String[] args)",
    "if err != nil {{ return err }}", "for i in range({n}):", "@app.route('/{w}')",
    "self.{w} = {i}()", "throw new IllegalStateException(\"{w}\");", "SELECT * FROM {w};",
    "git commit -m \"Fix {w} in {i}\"", "pip install {w}=={n}.0", "docker run -p {n}:80 nginx",
)  # fmt: skip
SQL_LINES = (
    "SELECT id, created FROM Orders WHERE status = 'Pending' LIMIT {n}",
    "INSERT INTO {w} (id, Name) VALUES ({n}, 'test')", "UPDATE Users SET Active = TRUE WHERE id = {n}",
    "CREATE TABLE {w} (id UInt64, ts DateTime) ENGINE = MergeTree ORDER BY id",
    "DELETE FROM Sessions WHERE Expires < now()", "ALTER TABLE {w} ADD COLUMN Region String",
)  # fmt: skip
TRACE_LINES = (
    "Traceback (most recent call last):", 'File "/app/{w}.py", line {n}, in handler',
    "ValueError: invalid literal for int() with base 10", "KeyError: '{w}'",
    "at {i}.{w}({i}.java:{n})", "NullPointerException in {i}", "TypeError: Cannot read properties of undefined",
    "panic: runtime error: index out of range [{n}]", "Caused by: java.net.ConnectException: Connection refused",
    "RuntimeError: CUDA out of memory", "AssertionError: expected {n}",
)  # fmt: skip
ERRORS = (
    "ECONNRESET", "ETIMEDOUT", "Timeout", "Connection refused", "Bad Gateway", "Service Unavailable",
    "Forbidden", "Not Found", "Internal Server Error", "InvalidToken", "QuotaExceeded",
)  # fmt: skip
MACHINE_POSITIVE = (
    '{"name": "{P}", "city": "{PCITY}"}', "user={P} action=login status=ok",
    "INFO order placed by {P}, ship to {ADDR}", '"customer": "{P}"', "Author: {P} <{EMAIL}>",
    "Signed-off-by: {P} <{EMAIL}>", "name,city\n{P},{PCITY}",
)  # fmt: skip
POSITIVE = (
    "Hi, I'm {P}.", "Hi, I am {P} and I need help with my account.", "My name is {P}.",
    "my name is {P} and i live in {PCITY}", "Hello, this is {P} from the {NOUN} team.",
    "Dear {P},", "Dear {TP},", "Hi {F},", "Hello {F}!", "Hey {F}, quick question:",
    "Thanks, {F}", "Thanks!\n{F}", "Best regards,\n{P}", "Kind regards,\n{P}\n{ADDR}",
    "Cheers,\n{F}", "Regards, {P} | {PHONE}", "Sincerely,\n{TP}", "--\n{P}\n{EMAIL}\n{PHONE}",
    "{P}\n{ADDR}\nTel: {PHONE}", "Please forward this to {P}.", "I talked to {F} yesterday about the {NOUN}.",
    "My manager {P} said the deadline moved.", "Write a birthday message for my sister {F}.",
    "Can you draft an apology to {P} for the late delivery?", "Patient: {P}, DOB {DATE}",
    "Name: {P}\nAddress: {ADDR}", "Candidate: {P}", "CV of {P}", "Applicant name: {P}",
    "{P} has applied for the {NOUN} position.", "Write a reference letter for {P}, who worked with us for {NUM} months.",
    "Ask {F} about the invoice.", "{F} and {F2} are coming to dinner on {DAY}.", "{TP} called this morning.",
    "Appointment with {TP} on {DAY} at 10.", "Attn: {P}", "cc: {P}", "Signed, {P}",
    "{P} <{EMAIL}>", "From: {P} <{EMAIL}>", "To: {P}", "Emergency contact: {P}, {PHONE}",
    "I'm {F}, {NUM} years old, from {PCITY}.", "I live in {PCITY} with my wife {F}.",
    "I live at {ADDR}.", "My address is {ADDR}.", "Please ship it to {ADDR}.", "Address: {ADDR}",
    "I was born in {PCITY}.", "She was born in {PCITY} in {NUM}.", "We moved to {PCITY} last year.",
    "I'm from {PCITY}, but I work remotely.", "My parents still live in {PCITY}.", "Deliver to: {ADDR}",
    "Home address: {ADDR}", "{P} lives at {ADDR}.", "I grew up in {PCITY}.", "{P}, {ADDR}",
    "The tenant, {P}, moved out of {ADDR} on {DATE}.", "Send the contract to {TP}, {ADDR}.",
    "Can you translate this letter for my grandmother {P}?", "my friend {F} lives in {PCITY}",
    "i'm {F} btw", "this is {F} again, any update?", "Our son {F} starts school in {MONTH}.",
    "Please call {F} back at {PHONE}.", "Contact person: {P} ({EMAIL})", "Booking under the name {P}.",
    "The reservation is for {P}, {NUM} guests.", "Tell {F} I said hello.", "Thank you {F}!",
    "{F} wrote: the build is broken again.", "Reviewer: {P}", "Author: {P}", "Assigned to {P}.",
    "{P} was promoted to {NOUN} lead.", "Invoice recipient: {P}, {ADDR}", "Wedding of {F} and {F2} in {PCITY}.",
    "I am writing on behalf of my father, {P}.", "According to {TP}, the results are normal.",
    "Mein Name ist {P} und ich wohne in {PCITY}.", "Je m'appelle {P}, j'habite {ADDR}.",
    "Me llamo {P} y vivo en {PCITY}.", "Mi chiamo {P}.", "Olá, sou {P}.", "Ik ben {P}.",
    "Hola {F}, ¿cómo estás?", "Bonjour {F},", "Hallo {F},", "Ciao {F}!",
    "I'm moving from {PCITY} to {PCITY} next month.", "{P}, {NUM}, lives in {PCITY}.",
)  # fmt: skip
NEGATIVE = (
    "I live in {COUNTRY}.", "We are based in {COUNTRY}.", "What's the weather like in {CITY} tomorrow?",
    "Flights from {CITY} to {CITY} are cheaper in {MONTH}.", "The capital of {COUNTRY} is {CITY}.",
    "Our office in {CITY} is closed on {DAY}.", "The conference takes place in {CITY} this year.",
    "Sales in {COUNTRY} grew {NUM}% in {MONTH}.", "My {PRODUCT} keeps crashing after the update.",
    "Compare {PRODUCT} and {PRODUCT} for a small team.", "{BRAND} reported record earnings.",
    "I use {LANG} and {LANG} at work.", "Rewrite this {LANG} function in {LANG}.",
    "Is {LANG} faster than {LANG}?", "Meeting on {DAY}, {MONTH} {NUM}.", "In {MONTH} we shipped version {NUM}.",
    "Thanks for the help!", "Please summarize this article.", "Great question.", "Order {ORDER} shipped on {DATE}.",
    "Version 2.{NUM}.1 of {PRODUCT} fixes the bug.", "Price: {PRICE}", "Total due: {PRICE} by {DATE}.",
    "The {NOUN} approved the {NOUN}.", "{NOUN} meeting moved to {DAY}.", "See {NOUN} {NUM} for details.",
    "{BRAND} and {BRAND} are partners now.", "Does {BRAND} ship to {COUNTRY}?", "{PRODUCT} or {PRODUCT}?",
    "Deploy it with {PRODUCT} on {PRODUCT}.", "We migrated from {PRODUCT} to {PRODUCT} in {MONTH}.",
    "Happy {NOUN}!", "Translate into {COUNTRY} style.", "Best restaurants in {CITY}?",
    "How far is {CITY} from {CITY}?", "Tickets for {CITY} sold out.", "{CITY} is lovely in {MONTH}.",
    "The train to {CITY} leaves at 9.", "History of {COUNTRY} in the 19th century.",
    "Call us at {PHONE} for support.", "Write to {EMAIL} for a refund.", "Ticket {ORDER}: login fails on {PRODUCT}.",
    "Error code {NUM} in {PRODUCT}.", "Use {BRAND} Pay at checkout.", "{DAY} works for me.",
    "The {NOUN} of {COUNTRY} said so.", "Explain {LANG} generics like I'm five.",
    "Summarize the {NOUN} from {DATE}.", "Is {BRAND} stock a good buy?", "Buy a {BRAND} {PRODUCT}.",
    "Our {NOUN} team uses {PRODUCT} daily.", "Black Friday deals on {PRODUCT}.",
    "The {MONTH} report is attached.", "Next {DAY} is a holiday in {COUNTRY}.",
    "Install {PRODUCT} {NUM}.0 on {PRODUCT}.", "{PRODUCT} says: permission denied.",
    "Dear customer,", "Dear Sir or Madam,", "Hello team,", "Hi all,", "Hi everyone!", "Dear colleagues,",
    "Hello there!", "Good morning, {NOUN} team.", "Dear {NOUN},", "Hi {NOUN} team,", "Thanks, team!",
    "Sent from my {PRODUCT}", "Happy {MONTH}!", "Cheers!", "Best regards,\nThe {BRAND} team",
    "Kind regards,\n{NOUN} Department", "Regards,\n{BRAND} Support", "From: {BRAND} <{EMAIL}>",
    "{MONTH} {NUM}, {NUM}", "{DAY}: {NOUN} review", "The {CITY} {NOUN} opens in {MONTH}.",
    "{CITY} {NOUN} Hospital", "{BRAND} {CITY} office", "{COUNTRY} vs {COUNTRY} tonight!",
    "The {NOUN} in {CITY} was cancelled.", "Our {CITY} team ships on {DAY}.", "Moving the {CITY} servers to {CITY}.",
)  # fmt: skip
FILLER = (
    "Can you help me rewrite this paragraph?", "The quarterly report is attached.",
    "Summarize the following text in three bullet points.", "Thanks in advance.",
    "Please answer in a friendly tone.", "I need this by the end of the day.",
    "The package arrived damaged.", "Could you explain the difference?", "Let me know what you think.",
    "This is urgent.", "See the attached file.", "What are the side effects of ibuprofen?",
    "Write a short poem about autumn.", "Fix the grammar below.", "Give me five ideas.",
    "The server returned a timeout.", "Keep it under 100 words.", "Sorry for the delay.",
    "Looking forward to hearing from you.", "Is this legal?", "How do I reset my password?",
)  # fmt: skip


def generate(
    n: int, seed: int, pools: Pools | None = None
) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """``n`` labelled texts (seeded)."""
    pools = pools or build_pools(seed)
    g = Generator(pools, seed)
    return [g.sample() for _ in range(n)]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    for text, spans in generate(a.n, a.seed):
        print(repr(text), [(text[s:e], lab) for s, e, lab in spans])
